// The state-space parts of Mamba-2 mixers on the GPU: the CUDA twins of
// kernels/cpu/mamba2_ops.h (SsdScan, GatedRmsNorm), over every sequence of a
// step at once. The causal conv of xBC is Mamba-1's (Mamba1ConvSilu in
// mamba1_ops.h, over E + 2GN channels).
//
// A step's M token rows belong to n_seq sequences: sequence s owns rows
// [row_starts[s], row_starts[s+1]) (row_starts: n_seq + 1 int32, DEVICE).
// Sequence s's SSM state lives at slots[s] + ssm_off (slots: n_seq DEVICE
// pointers to state-pool slots), laid out exactly as on the CPU: H × P × N
// fp32 (HF's ssm_states layout), so states move between backends unchanged.
// All pointers, including those inside SsdParams, are DEVICE pointers. Each
// call enqueues on `stream` and returns the launch error; it does not
// synchronize.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "kernels/cpu/mamba2_ops.h"  // SsdParams (here with device pointers)

namespace rs::kernels::cuda {

// The largest d_state Mamba2Scan takes.
inline constexpr int64_t kMamba2MaxState = 256;

// The SSD recurrence (kernels::SsdScan) for every sequence and head: per
// token t of sequence s and head h (group g = h / (H/G)):
//   dt   = clamp(softplus(dt[t, h] + dt_bias[h]), dt_min, dt_max)  (torch threshold 20)
//   S[h] = exp(dt * A[h]) * S[h] + (dt * x[t, h, :]) ⊗ B[t, g, :]          (P × N)
//   y[t, h, p] = S[h][p, :] · C[t, g, :] + D[h*P + p] * x[t, h, p]
// x: (M, ldx), H*P channels, head h at h*P; B, C: rows at B + t*ldbc /
// C + t*ldbc, G*N values, group g at g*N; dt: (M, ldd), H raw values (no
// bias); y: (M, ldy), H*P channels written. The tokens of a sequence run one
// after another with the same arithmetic each, so a chunk equals its tokens
// fed one call at a time, bitwise, on the same GPU.
// Launch: one block of 128 threads (4 warps) per (16 state rows p, head,
// sequence); each warp owns 4 rows p, its lanes the state columns
// n = lane + 32 k, held in registers across the tokens; y[p] is a warp sum.
// REQUIRES: H % G == 0; 1 <= N <= kMamba2MaxState; y does not overlap the
// inputs.
cudaError_t Mamba2Scan(const SsdParams& p, const float* x, int64_t ldx, const float* B,
                       const float* C, int64_t ldbc, const float* dt, int64_t ldd,
                       const int32_t* row_starts, int n_seq, float* const* slots, int64_t ssm_off,
                       float* y, int64_t ldy, cudaStream_t stream);

// Mamba-2's gated RMSNorm (kernels::GatedRmsNorm: mamba_ssm RMSNormGated,
// norm_before_gate=False, group_size = E / G), per row m and group g of E/G
// channels:  v = y ⊙ silu(z);  out = v / sqrt(mean_group(v²) + eps) ⊙ w
// y, z: (M, ldy / ldz); w: (E); out: (M, ldo), may alias y (exactly: same
// pointer and stride). Launch: one block of 256 threads per (group, row).
// REQUIRES: E % G == 0.
cudaError_t Mamba2GatedRmsNorm(const float* y, int64_t ldy, const float* z, int64_t ldz, int64_t M,
                               int64_t E, int64_t G, const float* w, float eps, float* out,
                               int64_t ldo, cudaStream_t stream);

}  // namespace rs::kernels::cuda
