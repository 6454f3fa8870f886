// The state-space parts of Mamba-2 mixers on the GPU: the CUDA twins of
// kernels/cpu/mamba2_ops.h (SsdScan, SsdChunked, GatedRmsNorm), over every
// sequence of a step at once. The causal conv of xBC is Mamba-1's (Mamba1ConvSilu in
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

#include <cstddef>
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
// skip_from > 0: sequences of at least skip_from rows are skipped (their y
// rows and state left as they are), for Mamba2ScanChunked to take them
// (min_tokens = skip_from); 0: none is skipped.
// REQUIRES: H % G == 0; 1 <= N <= kMamba2MaxState; y does not overlap the
// inputs.
cudaError_t Mamba2Scan(const SsdParams& p, const float* x, int64_t ldx, const float* B,
                       const float* C, int64_t ldbc, const float* dt, int64_t ldd,
                       const int32_t* row_starts, int n_seq, float* const* slots, int64_t ssm_off,
                       float* y, int64_t ldy, cudaStream_t stream, int64_t skip_from = 0);

// Bytes of device scratch Mamba2ScanChunked needs for a step of M rows in
// n_seq sequences with chunks of `chunk` tokens: one H × P × N fp32 state per
// chunk (at most ceil(M / chunk) + n_seq of them), per row and head the
// clamped dt (fp32) and its chunk's cumulative log decay (fp64), and each
// sequence's first chunk (int32).
size_t Mamba2ChunkedScratchBytes(const SsdParams& p, int64_t M, int n_seq, int64_t chunk);

// The same function as Mamba2Scan in the chunked "state-space dual" form
// (kernels::SsdChunked; ssd_minimal.py of state-spaces/mamba): each sequence
// is cut into chunks of `chunk` tokens (the last one shorter); per chunk, with
// cum[l] = Σ_{i<=l} dt_i A[h] (from the chunk start, summed in fp64) and
// decay(l, s) = exp(cum[l] - cum[s]) (the difference in fp64, its exp in
// fp32; products and sums in fp32):
//   Y[l]  = Σ_{s<=l} (C_l · B_s) decay(l, s) dt_s x_s          (intra-chunk)
//         + exp(cum[l]) S_in · C_l + D ⊙ x_l                  (entering state)
//   S_out = exp(cum[last]) S_in + Σ_s decay(last, s) dt_s x_s ⊗ B_s
// The chunks' own states (S_in = 0) are computed in parallel, then one pass
// per (sequence, head) over its chunks turns them into each chunk's S_in
// (from the slot's state) and the final state (written back to the slot);
// then every chunk's Y in parallel. Equals Mamba2Scan / kernels::SsdScan
// within float rounding (not bitwise; the sums run in other orders), and is
// deterministic (no atomics). Sequences of fewer than min_tokens rows are
// skipped: their y rows and state are left as they are (Mamba2Scan with
// skip_from = min_tokens takes them); min_tokens <= 1 skips none. Inputs, outputs and state as
// Mamba2Scan's; M is the step's row count (row_starts[n_seq]); `scratch`
// holds at least Mamba2ChunkedScratchBytes(p, M, n_seq, chunk) bytes of
// device memory (256-byte aligned, as cudaMalloc's), used by this call only.
// Launch (5 kernels; the step's chunks are numbered in row order, the grids
// sized for the most there can be, ceil(M / chunk) + n_seq, blocks past the
// last exit at once):
//   index: one thread: each sequence's first chunk (a prefix sum over the
//     sequences of at least min_tokens rows; a block finds its sequence by
//     binary search);
//   decays: grid (chunks), 256 threads, one per (chunk, head), walking the
//     chunk's dt (the clamped dt and cum per row and head);
//   chunk states: grid (chunks × ceil(P/64) × ceil(N/64), H), 256 threads:
//     a 64 × 64 tile of Σ_s decay(last, s) dt_s x_s ⊗ B_s, 32 tokens at a
//     time staged in shared memory, 4 × 4 outputs per thread;
//   state pass: grid (ceil(P N / 256), H, n_seq), 256 threads: one per state
//     element, serial over the sequence's chunks;
//   outputs: grid (chunks × ceil(chunk/64) × ceil(P/64), H), 256 threads: a
//     64-row × 64-channel tile of Y: C · S_inᵀ scaled by exp(cum), then per
//     64-token tile s <= l of the chunk, W = (C Bᵀ) ∘ decay ∘ dt (64 × 64, in
//     shared memory) times x (FP32 FMAs, 4 × 4 outputs per thread; about
//     35 KB of static shared memory).
// REQUIRES: as Mamba2Scan; chunk >= 1.
cudaError_t Mamba2ScanChunked(const SsdParams& p, const float* x, int64_t ldx, const float* B,
                              const float* C, int64_t ldbc, const float* dt, int64_t ldd,
                              const int32_t* row_starts, int n_seq, int64_t M, int64_t chunk,
                              int64_t min_tokens, float* const* slots, int64_t ssm_off, float* y,
                              int64_t ldy, void* scratch, cudaStream_t stream);

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
