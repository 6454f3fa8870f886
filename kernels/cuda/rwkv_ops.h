// The non-matmul parts of RWKV-6/7 blocks on the GPU: the CUDA twins of
// kernels/cpu/rwkv_ops.h, computing the same functions on fp32 activations in
// token-major rows (row m holds the channels of token m; `ld*` are row
// strides in floats). All pointers are DEVICE pointers unless noted.
//
// A step's M token rows belong to n_seq sequences: sequence s owns rows
// [row_starts[s], row_starts[s+1]) (row_starts: n_seq + 1 int32 on the
// device, non-decreasing; the token-shift ops need row_starts[0] == 0 and
// row_starts[n_seq] == M; the WKV ops index rows absolutely). The state of
// sequence s lives at slots[s] + <offset> (slots: n_seq device pointers in
// device memory, each the base of that sequence's state-pool slot; the
// offsets are the model's StateLayout offsets, in floats), laid out exactly
// as on the CPU: token-shift vectors of C floats, WKV matrices H x N x N
// KEY-major (RWKV-7: S[h][j][i], j = key; RWKV-6: S[h][i][j], i = key).
//
// The recurrences process a sequence's T rows as T successive single steps
// with the same per-element arithmetic, so a chunk of T tokens equals T
// one-token calls (bitwise on the same GPU). Batched rows never interact.
//
// Every function enqueues its kernel(s) on `stream` and returns the launch
// error (cudaGetLastError after the launch), cudaSuccess otherwise; it does
// not synchronize. Sizes of 0 rows are no-ops.
// REQUIRES (per-head ops): N % 16 == 0 and 16 <= N <= 256, as on the CPU.
//
// Thread-safety: reentrant; ordering is the stream's.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace rs::kernels::cuda {

// y = (x - mean) / sqrt(var + eps) * w + b per row of C (biased variance).
// y may equal x.
cudaError_t RwkvLayerNorm(const float* x, int64_t M, int64_t C, int64_t ldx, const float* w,
                          const float* b, float eps, float* y, int64_t ldy, cudaStream_t stream);

// Residual add then LayerNorm, rows of C (stride C everywhere):
//   x += d (skipped when d == nullptr);  y = LayerNorm(x; w, b, eps)
// y must not alias x or d.
cudaError_t RwkvAddLayerNorm(float* x, const float* d, int64_t M, int64_t C, const float* w,
                             const float* b, float eps, float* y, cudaStream_t stream);

// x += d on M rows of C (stride C).
cudaError_t RwkvAdd(float* x, const float* d, int64_t M, int64_t C, cudaStream_t stream);

// Token shift with static mixing for every sequence of the step:
//   out_j[m] = x[m] + (x_prev[m] - x[m]) * mix[j*C ..]   for j < n_mix
// where x_prev[m] = x[m-1] inside a sequence and the saved state at
// slots[s] + prev_off for its first row; out_j[m] at out + j*out_step +
// m*ldo. Then the state is set to each sequence's last row. x: M rows of C
// (stride ldx). mix: n_mix*C floats (device).
cudaError_t RwkvTokenShiftMix(const float* x, int64_t M, int64_t C, int64_t ldx,
                              const int32_t* row_starts, int n_seq, float* const* slots,
                              int64_t prev_off, int n_mix, const float* mix, float* out,
                              int64_t out_step, int64_t ldo, cudaStream_t stream);

// Elementwise in place on M rows of n (stride ld).
enum class RwkvActivation { kSigmoid, kTanh, kReluSquare };
cudaError_t RwkvActivate(RwkvActivation act, float* x, int64_t M, int64_t n, int64_t ld,
                         cudaStream_t stream);

// out[m][c] *= sigmoid(g[m][c]) on M rows of n (out stride ldo, g stride ldg).
cudaError_t RwkvMulSigmoid(float* out, int64_t ldo, const float* g, int64_t ldg, int64_t M,
                           int64_t n, cudaStream_t stream);

// RWKV-7 per-token preparation of the WKV inputs (kernels::Rwkv7Prepare), in
// place on M rows of C = H*N, all arrays with row stride ld:
//   w <- exp(-0.606531 * sigmoid(w0 + w));  a' = sigmoid(a0 + a)
//   kk = normalize_per_head(k * k_k) (L2, eps 1e-12);  k <- k * (1 + (a' - 1) * k_a)
//   v <- first_layer ? v : v + (v_first - v) * sigmoid(v0 + vg);  v_first <- v if first_layer
//   a <- -kk;  vg <- kk * a'
// vg must be valid storage even when first_layer (it receives kk * a'); v0 is
// unused then.
cudaError_t Rwkv7Prepare(int64_t M, int64_t H, int64_t N, int64_t ld, float* w, const float* w0,
                         float* a, const float* a0, float* k, const float* k_k, const float* k_a,
                         float* v, float* vg, const float* v0, float* v_first, bool first_layer,
                         cudaStream_t stream);

// RWKV-7 WKV recurrence (kernels::Wkv7) for every sequence and head: one
// block per (sequence, head), sequential over the sequence's rows. State at
// slots[s] + wkv_off, H x N x N key-major. Per token, per head:
//   sa[i] = sum_j S[j][i] a[j];  S[j][i] = S[j][i] w[j] + sa[i] b[j] + v[i] k[j]
//   y[i]  = sum_j S[j][i] r[j]
// r, w, k, v, a, b: M rows (stride ld); y: M rows (stride ldy).
cudaError_t Wkv7(const int32_t* row_starts, int n_seq, int64_t H, int64_t N, const float* r,
                 const float* w, const float* k, const float* v, const float* a, const float* b,
                 int64_t ld, float* const* slots, int64_t wkv_off, float* y, int64_t ldy,
                 cudaStream_t stream);

// RWKV-7 block output before the output projection, in place on y (M rows):
//   y <- (group_norm_per_head(y; ln_w, ln_b, eps) + (sum_head r*k*r_k) * v) * g
cudaError_t Rwkv7Output(int64_t M, int64_t H, int64_t N, float* y, int64_t ldy, const float* r,
                        const float* k, const float* v, int64_t ld, const float* r_k,
                        const float* g, int64_t ldg, const float* ln_w, const float* ln_b,
                        float eps, cudaStream_t stream);

// RWKV-6 data-dependent token shift, first half (kernels::Rwkv6TokenShift),
// for every sequence: dx[m] = x_prev[m] - x[m]; xxx[m] = x[m] + dx[m]*maa_x;
// then the state (slots[s] + prev_off) = the sequence's last row.
// x: stride ldx; dx, xxx: stride ldo.
cudaError_t Rwkv6TokenShift(const float* x, int64_t M, int64_t C, int64_t ldx,
                            const int32_t* row_starts, int n_seq, float* const* slots,
                            int64_t prev_off, const float* maa_x, float* dx, float* xxx,
                            int64_t ldo, cudaStream_t stream);

// RWKV-6 mixes, second half (kernels::Rwkv6Mix), in place on M rows: for
// j < 5, m_j (at m + j*C, stride ldm) <- x + dx * (maa[j*C ..] + m_j).
// x and dx share stride ld; maa: 5*C floats (w, k, v, r, g).
cudaError_t Rwkv6Mix(int64_t M, int64_t C, const float* x, const float* dx, int64_t ld,
                     const float* maa, float* m, int64_t ldm, cudaStream_t stream);

// RWKV-6 decay in place: w <- exp(-exp(time_decay + w)) on M rows of C.
cudaError_t Rwkv6Decay(int64_t M, int64_t C, float* w, int64_t ld, const float* time_decay,
                       cudaStream_t stream);

// RWKV-6 WKV recurrence (kernels::Wkv6) for every sequence and head. State
// at slots[s] + wkv_off, S[h][i][j] (i = key). u: C floats (time_faaaa).
//   y[j] = sum_i r[i] (u[i] k[i] v[j] + S[i][j]);  S[i][j] = k[i] v[j] + w[i] S[i][j]
cudaError_t Wkv6(const int32_t* row_starts, int n_seq, int64_t H, int64_t N, const float* r,
                 const float* w, const float* k, const float* v, int64_t ld, const float* u,
                 float* const* slots, int64_t wkv_off, float* y, int64_t ldy, cudaStream_t stream);

// RWKV-6 block output before the output projection, in place on y:
//   y <- group_norm_per_head(y; ln_w, ln_b, eps) * silu(g)
cudaError_t Rwkv6Output(int64_t M, int64_t H, int64_t N, float* y, int64_t ldy, const float* g,
                        int64_t ldg, const float* ln_w, const float* ln_b, float eps,
                        cudaStream_t stream);

}  // namespace rs::kernels::cuda
