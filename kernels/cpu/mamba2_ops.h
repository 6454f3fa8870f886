// The state-space parts of a Mamba-2 mixer (Dao & Gu 2024, "SSD") for ONE
// sequence, on a head range [h0, h1) so callers can split heads across
// threads, and Mamba-2's gated RMSNorm. Token-major layout: row t of an
// activation holds the channels of token t; head h owns channels
// [h*P, (h+1)*P) of x and y, and reads group g = h / (H/G) of B and C
// (channels [g*N, (g+1)*N) of their rows), as mamba_ssm's
// repeat(B, "b l g n -> b l (g h) n") does.
//
// Per head h and token t (both ops compute this function):
//   dt   = clamp(softplus(dt_raw[t, h] + dt_bias[h]), dt_min, dt_max)
//   S[h] = exp(dt * A[h]) * S[h] + (dt * x[t, h, :]) ⊗ B[t, g, :]     (P×N)
//   y[t, h, p] = S[h][p, :] · C[t, g, :] + D[h*P + p] * x[t, h, p]
// softplus follows torch (threshold 20).
//
// SsdScan runs that recurrence token by token: any split of a sequence into
// chunks gives bitwise the same outputs and state. SsdChunked computes the
// same function in the chunked "state-space dual" matrix form (per chunk of
// `chunk` tokens: the intra-chunk C·Bᵀ kernel masked by the cumulative
// decays, plus the contribution of the state entering the chunk, then the
// state leaving it); it equals SsdScan within float rounding (a few 1e-6
// relative for chunk 256), not bitwise. Both are deterministic: results
// depend only on the inputs, [h0, h1) aside, and the CPU dispatch level.
//
// Thread-safety: reentrant (SsdChunked uses thread-local scratch).
#pragma once

#include <cstdint>

namespace rs::kernels {

// Per-layer constants of the SSM.
struct SsdParams {
  int64_t H = 0, P = 0, G = 0, N = 0;  // heads, head dim, groups, state size
  const float* dt_bias = nullptr;      // (H)
  const float* A = nullptr;            // (H) = -exp(A_log)
  const float* D = nullptr;            // (H*P) skip, per channel
  float dt_min = 0.0f, dt_max = 0.0f;  // time_step_limit; dt_max may be +inf
};

// One sequence's T tokens.
struct SsdInputs {
  int64_t T = 0;
  const float* x = nullptr;  // (T, ldx): H*P channels (conv output)
  int64_t ldx = 0;
  const float* B = nullptr;  // (T, ldbc): G*N values
  const float* C = nullptr;  // (T, ldbc): G*N values
  int64_t ldbc = 0;
  const float* dt = nullptr;  // (T, ldd): H raw values (in_proj output, no bias)
  int64_t ldd = 0;
};

// S: (H, P, N) state of the sequence (HF's ssm_state layout), updated in
// place for heads [h0, h1); y: (T, ldy), channels of those heads written.
void SsdScan(const SsdParams& p, const SsdInputs& in, float* S, float* y, int64_t ldy, int64_t h0,
             int64_t h1);

// The same in the chunked matrix form. REQUIRES: chunk >= 1.
void SsdChunked(const SsdParams& p, const SsdInputs& in, int64_t chunk, float* S, float* y,
                int64_t ldy, int64_t h0, int64_t h1);

// Mamba-2's gated RMSNorm (mamba_ssm RMSNormGated, norm_before_gate=False,
// group_size = E / G), per row m and group g of E/G channels:
//   v = y ⊙ silu(z);  out = v / sqrt(mean_group(v²) + eps) ⊙ w
// y, z: (M, ldy / ldz); w: (E); out: (M, ldo), may alias y.
// REQUIRES: E % G == 0.
void GatedRmsNorm(const float* y, int64_t ldy, const float* z, int64_t ldz, int64_t M, int64_t E,
                  int64_t G, const float* w, float eps, float* out, int64_t ldo);

}  // namespace rs::kernels
