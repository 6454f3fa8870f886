// The recurrent parts of Mamba-1 mixers on the GPU: the CUDA twins of
// kernels/cpu/mamba1_ops.h, over every sequence of a step at once.
//
// A step's M token rows belong to n_seq sequences: sequence s owns rows
// [row_starts[s], row_starts[s+1]) (row_starts: n_seq + 1 int32, DEVICE).
// Sequence s's state lives at slots[s] + <offset> (slots: n_seq DEVICE
// pointers to state-pool slots), laid out exactly as on the CPU: the conv
// state (K-1, E) oldest row first, the SSM state (N, E) channel-minor.
// One thread per (sequence, channel) walks its T rows as T single steps, so a
// chunk equals T one-token calls bitwise on the same GPU.
// All pointers are DEVICE pointers. Each call enqueues on `stream` and
// returns the launch error; it does not synchronize.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace rs::kernels::cuda {

// out[t, e] = silu(bias[e] + sum_{j<K} w[j, e] * in(t - (K-1) + j, e)), per
// sequence with its conv state at slots[s] + conv_off (updated to the last
// K-1 inputs). x: (M, ldx); w: (K, E); bias: (E) or null; out: (M, ldo).
// REQUIRES: 1 <= K <= 8.
cudaError_t Mamba1ConvSilu(const float* x, int64_t M, int64_t ldx, int64_t E, int K,
                           const float* w, const float* bias, const int32_t* row_starts, int n_seq,
                           float* const* slots, int64_t conv_off, float* out, int64_t ldo,
                           cudaStream_t stream);

// Selective scan with the D skip and the SiLU(z) gate (kernels::SelectiveScan):
//   delta = softplus(dt + dt_bias); h[n, e] = exp(delta * A[n, e]) * h[n, e]
//   + (delta * u[e]) * B[n]; y = (sum_n h[n, e] C[n] + D[e] u[e]) * silu(z[e]).
// u (M, ldu), dt (M, ldd), B/C rows at B + m*ldbc / C + m*ldbc, z (M, ldz),
// y (M, ldy); A (N, E); state at slots[s] + ssm_off. REQUIRES: N <= 64.
cudaError_t Mamba1Scan(const float* u, int64_t ldu, const float* dt, int64_t ldd,
                       const float* dt_bias, const float* A, const float* B, const float* C,
                       int64_t ldbc, const float* D, const float* z, int64_t ldz, int64_t E,
                       int64_t N, const int32_t* row_starts, int n_seq, float* const* slots,
                       int64_t ssm_off, float* y, int64_t ldy, cudaStream_t stream);

}  // namespace rs::kernels::cuda
