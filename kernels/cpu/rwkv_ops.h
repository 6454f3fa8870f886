// The non-matmul parts of RWKV-6/7 blocks (everything between the linear
// layers), on fp32 activations in token-major rows (row t holds the channels
// of token t; `ld*` are row strides in floats).
//
// Every op is either per row (rows independent: any split of the rows gives
// bitwise the same results) or, for the recurrences, processes T tokens as T
// successive single steps with the same per-element arithmetic, so a chunk of
// T tokens equals T one-token calls bitwise. Results depend only on inputs
// and the CPU dispatch level (AVX-512 / AVX2 / scalar; see cpu_level.h).
//
// The WKV recurrences use fused multiply-adds where the level has FMA; the
// other ops plain IEEE multiply and add.
//
// Thread-safety: reentrant; single-threaded (callers split rows or heads).
#pragma once

#include <cstdint>

namespace rs::kernels {

// y = (x - mean) / sqrt(var + eps) * w + b per row of C (biased variance);
// torch.nn.functional.layer_norm. y may equal x.
void LayerNorm(const float* x, int64_t M, int64_t C, int64_t ldx, const float* w, const float* b,
               float eps, float* y, int64_t ldy);

// Token shift with static mixing for one sequence's T rows:
//   out_j[t] = x[t] + (x[t-1] - x[t]) * mix_j   (x[-1] = prev)
// for j < n_mix, out_j at out + j * out_step (row stride ldo); then prev =
// x[T-1]. mix: n_mix pointers to C coefficients.
void TokenShiftMix(const float* x, int64_t T, int64_t C, int64_t ldx, float* prev, int n_mix,
                   const float* const* mix, float* out, int64_t out_step, int64_t ldo);

// Elementwise in place on M rows of n (stride ld).
enum class Activation { kSigmoid, kTanh, kReluSquare };
void Activate(Activation act, float* x, int64_t M, int64_t n, int64_t ld);

// RWKV-7 per-token preparation of the WKV inputs, in place on M rows of C = H*N:
//   w  <- exp(-0.606531 * sigmoid(w0 + w))                  (decay)
//   a  <- sigmoid(a0 + a)
//   kk  = normalize_per_head(k * k_k)   (L2, eps 1e-12)
//   k  <- k * (1 + (a - 1) * k_a)
//   v  <- v_first_layer ? v : v + (v_first - v) * sigmoid(v0 + vg)
//   v_first <- v when v_first_layer
//   a  <- -kk (the "a" operand of the WKV), vg <- kk * a (its "b" operand)
// All arrays share the row stride ld. vg and v0 are unused when v_first_layer.
void Rwkv7Prepare(int64_t M, int64_t H, int64_t N, int64_t ld, float* w, const float* w0, float* a,
                  const float* a0, float* k, const float* k_k, const float* k_a, float* v,
                  float* vg, const float* v0, float* v_first, bool v_first_layer);

// RWKV-7 WKV recurrence for one sequence, heads [h0, h1). state: H heads of
// N x N, KEY-major: S[h][j][i] (j = key index, i = value index; the transpose
// of the rwkv package's state[h][i][j]). Per token, per head:
//   sa[i]   = sum_j S[j][i] * a[j]
//   S[j][i] = S[j][i] * w[j] + sa[i] * b[j] + v[i] * k[j]
//   y[i]    = sum_j S[j][i] * r[j]
// r, w, k, v, a, b: T rows (stride ld); y: T rows (stride ldy).
// REQUIRES: N % 16 == 0 and N <= 256 (also for Rwkv7Prepare/Rwkv7Output).
void Wkv7(int64_t T, int64_t N, const float* r, const float* w, const float* k, const float* v,
          const float* a, const float* b, int64_t ld, float* state, float* y, int64_t ldy,
          int64_t h0, int64_t h1);

// RWKV-7 block output before the output projection, in place on y (M rows):
//   y <- (group_norm_per_head(y; ln_w, ln_b, eps) + (sum_head r*k*r_k) * v) * g
void Rwkv7Output(int64_t M, int64_t H, int64_t N, float* y, int64_t ldy, const float* r,
                 const float* k, const float* v, int64_t ld, const float* r_k, const float* g,
                 int64_t ldg, const float* ln_w, const float* ln_b, float eps);

// RWKV-6 data-dependent token shift, first half, for one sequence's T rows:
//   dx[t]  = x[t-1] - x[t]             (x[-1] = prev)
//   xxx[t] = x[t] + dx[t] * maa_x
// then prev = x[T-1]. dx and xxx: T rows of C (stride ldo).
void Rwkv6TokenShift(const float* x, int64_t T, int64_t C, int64_t ldx, float* prev,
                     const float* maa_x, float* dx, float* xxx, int64_t ldo);

// RWKV-6 data-dependent token shift, second half, in place on M rows: for
// each of the 5 mixes j (w, k, v, r, g) at m + j * C (row stride ldm):
//   m_j <- x + dx * (maa_j + m_j)
// where m_j holds the LoRA offset tanh(xxx·maa_w1)_j·maa_w2[j] on entry.
// x and dx share the row stride ld. REQUIRES: C % 16 == 0.
void Rwkv6Mix(int64_t M, int64_t C, const float* x, const float* dx, int64_t ld,
              const float* const* maa, float* m, int64_t ldm);

// RWKV-6 decay in place on M rows of C: w <- exp(-exp(time_decay + w)).
// REQUIRES: C % 16 == 0.
void Rwkv6Decay(int64_t M, int64_t C, float* w, int64_t ld, const float* time_decay);

// RWKV-6 WKV recurrence for one sequence, heads [h0, h1). state: H heads of
// N x N, KEY-major: S[h][i][j] (i = key index, j = value index; the rwkv
// package's own order). u: the bonus (time_faaaa), C = H*N floats. Per
// token, per head:
//   y[j]    = sum_i r[i] * (u[i] * k[i] * v[j] + S[i][j])
//   S[i][j] = k[i] * v[j] + w[i] * S[i][j]
// r, w, k, v: T rows (stride ld); y: T rows (stride ldy).
// REQUIRES: N % 16 == 0 and N <= 256 (also for Rwkv6Output).
void Wkv6(int64_t T, int64_t N, const float* r, const float* w, const float* k, const float* v,
          int64_t ld, const float* u, float* state, float* y, int64_t ldy, int64_t h0, int64_t h1);

// RWKV-6 block output before the output projection, in place on y (M rows):
//   y <- group_norm_per_head(y; ln_w, ln_b, eps) * silu(g)
// with silu(g) = g / (1 + exp(-g)).
void Rwkv6Output(int64_t M, int64_t H, int64_t N, float* y, int64_t ldy, const float* g,
                 int64_t ldg, const float* ln_w, const float* ln_b, float eps);

}  // namespace rs::kernels
