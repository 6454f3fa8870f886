// The recurrent parts of a Mamba-1 mixer for ONE sequence, on a channel range
// [e0, e1) so callers can split channels across threads. Token-major layout:
// row t of an activation holds the channels of token t.
//
// Both ops process T tokens as T successive single steps with identical
// per-element arithmetic, so any chunking of a sequence gives bitwise the
// same outputs and states. Channel tails use masked vectors (never a scalar
// path), so results do not depend on where a channel falls in a vector.
#pragma once

#include <cstdint>

namespace rs::kernels {

// Causal depthwise conv1d (kernel K) followed by SiLU.
//   x: (T, ldx) inputs; state: (K-1, E) the previous K-1 inputs, oldest row
//   first (updated in place); w: (K, E) taps, transposed from the
//   checkpoint's (E, 1, K); bias: (E) or null; out: (T, ldo).
//   out[t, e] = silu(bias[e] + sum_{j<K} w[j, e] * in(t - (K-1) + j, e))
// where in(i) reads x for i >= 0 and the state otherwise.
void CausalConv1dSilu(const float* x, int64_t T, int64_t ldx, int64_t E, int K,
                      const float* w, const float* bias, float* state, float* out,
                      int64_t ldo, int64_t e0, int64_t e1);

// Selective scan with the D skip and the SiLU(z) gate.
//   u: (T, ldu) conv outputs; dt: (T, ldd) dt_proj outputs WITHOUT bias;
//   dt_bias: (E); A: (N, E) = -exp(A_log)ᵀ; B, C: (T, ldbc) rows of N values
//   (B at B + t*ldbc, C at C + t*ldbc); D: (E); z: (T, ldz); h: (N, E) state.
//   delta = softplus(dt + dt_bias)   (torch threshold 20)
//   h[n, e] = exp(delta * A[n, e]) * h[n, e] + (delta * u[e]) * B[n]
//   y[t, e] = (sum_n h[n, e] * C[n] + D[e] * u[e]) * silu(z[e])
// A and h are channel-minor (the transpose of the checkpoint's A_log and of
// HF's ssm_state) so a vector of channels loads straight from memory: a
// decode step then needs no transposes.
// REQUIRES: N <= 64.
void SelectiveScan(const float* u, int64_t ldu, const float* dt, int64_t ldd,
                   const float* dt_bias, const float* A, const float* B, const float* C,
                   int64_t ldbc, const float* D, const float* z, int64_t ldz, int64_t T,
                   int64_t E, int64_t N, float* h, float* y, int64_t ldy, int64_t e0,
                   int64_t e1);

}  // namespace rs::kernels
