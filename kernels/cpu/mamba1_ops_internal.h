// Internal to kernels/cpu: per-level implementations of mamba1_ops.h. Each
// has the public contract; mamba1_ops.cc dispatches.
//
// Vector layout (AVX-512: L = 16, AVX2: L = 8): channels are the vector
// lanes, processed in blocks of L with masked loads/stores for a block that
// is not full (never a scalar tail). For a block the state h[e, :] and A[e, :]
// are transposed to N vectors over channels (16x16 register transposes for
// N = 16 on AVX-512), tokens are processed in chunks of 16 (rows stay in L2),
// and the state is stored back exactly. Per lane (channel) and token:
//   delta = softplus(dt + dt_bias); du = delta * u
//   for n in 0..N-1 (in order):
//     h[n] = fma(exp(delta * A[n]), h[n], du * B[n]);  acc = fma(h[n], C[n], acc)
//   y = (acc + D * u) * silu(z)
// which does not depend on T, on chunking, on the block a channel falls in,
// or on [e0, e1). The conv is the same per lane: acc = bias, then
// acc = fma(w[j], in(j), acc) for j = 0..K-1, out = silu(acc).
#pragma once

#include <cstdint>

namespace rs::kernels::internal {

void CausalConv1dSiluAvx512(const float* x, int64_t T, int64_t ldx, int64_t E, int K,
                            const float* w, const float* bias, float* state, float* out,
                            int64_t ldo, int64_t e0, int64_t e1);
void CausalConv1dSiluAvx2(const float* x, int64_t T, int64_t ldx, int64_t E, int K, const float* w,
                          const float* bias, float* state, float* out, int64_t ldo, int64_t e0,
                          int64_t e1);

void SelectiveScanAvx512(const float* u, int64_t ldu, const float* dt, int64_t ldd,
                         const float* dt_bias, const float* A, const float* B, const float* C,
                         int64_t ldbc, const float* D, const float* z, int64_t ldz, int64_t T,
                         int64_t E, int64_t N, float* h, float* y, int64_t ldy, int64_t e0,
                         int64_t e1);
void SelectiveScanAvx2(const float* u, int64_t ldu, const float* dt, int64_t ldd,
                       const float* dt_bias, const float* A, const float* B, const float* C,
                       int64_t ldbc, const float* D, const float* z, int64_t ldz, int64_t T,
                       int64_t E, int64_t N, float* h, float* y, int64_t ldy, int64_t e0,
                       int64_t e1);

// Test hooks: the level's vector math applied elementwise to n floats
// (op: 0 = exp, 1 = softplus, 2 = silu), so tests can measure its accuracy.
void VectorMathAvx512(int op, const float* x, int64_t n, float* y);
void VectorMathAvx2(int op, const float* x, int64_t n, float* y);

}  // namespace rs::kernels::internal
