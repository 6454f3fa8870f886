// RWKV-6 "Finch" (x060) on the CPU backend, as BlinkDL's `rwkv` package
// (RWKV_RNN, version 6.0, att_one_v6_0 / att_seq_v6_0, its fp32 path)
// computes it; the shared RWKV structure, the channel mix with its
// receptance gate and the state layout are described in rwkv_common.h.
//
// Time mix per token (C = H·N channels, per head h; x = ln1 output):
//   dx  = x_prev - x
//   xxx = tanh((x + dx·maa_x)·maa_w1)                 (Dm·5 wide, 5 slices)
//   m_j = xxx_j·maa_w2[j]                            (j = w, k, v, r, g)
//   xw..xg = x + dx·(maa_j + m_j)
//   r, k, v = receptance, key, value (xr, xk, xv);  g = silu(gate(xg))
//   w = exp(-exp(time_decay + tanh(xw·decay_w1)·decay_w2))        (fp32)
//   y[j] = Σ_i r[i]·(u[i]·k[i]·v[j] + S[i][j]);  S[i][j] = k[i]·v[j] + w[i]·S[i][j]
//          (u = time_faaaa; S key-major, the package's own order)
//   out = output(GroupNorm_per_head(y; ln_x, eps 64e-5) · g)
#pragma once

#include <memory>
#include <optional>
#include <vector>

#include "engine/io/tensor_store.h"
#include "engine/model.h"
#include "engine/models/rwkv_common.h"

namespace rs::engine {

// The package's x060 ln_x: group_norm(..., eps=64e-5) (rwkv/model.py).
inline constexpr float kRwkv6GroupNormEps = 64e-5f;

// Order of the data-dependent mixes: the slices of time_maa_w1/w2, and the
// column blocks of the (M, 5C) mix buffer.
enum Rwkv6Mix { kMaaW = 0, kMaaK, kMaaV, kMaaR, kMaaG, kNumMaa };

// One layer's time-mix weights as the CPU model holds them (r/k/v/output
// and ln_x are in RwkvModel::Block).
struct Rwkv6TimeMix {
  std::vector<float> maa_x, maa[kNumMaa], time_decay, time_faaaa;
  kernels::WeightMatrix gate;  // (C, C)
  // LoRA down-projections transposed to (out, in) for Gemm: maa_w1 (5·Dm,
  // C), decay_w1 (Dd, C). Up-projections kept (in, out) for GemmKMajor:
  // maa_w2 (5, Dm, C) as five (Dm, C) slices, decay_w2 (Dd, C).
  kernels::WeightMatrix maa_w1, decay_w1;
  std::vector<float> maa_w2;
  KMajorMatrix decay_w2;
};

// A loaded RWKV-6 model's weights, for other backends (pointers into the
// model: valid while it lives).
struct Rwkv6Weights {
  const RwkvModel* model;                // blocks, embedding, head, norms
  const std::vector<Rwkv6TimeMix>* att;  // per layer
  int64_t Dm, Dd;                        // token-shift and decay LoRA ranks
};
// nullopt for a model that LoadRwkv6 did not build.
std::optional<Rwkv6Weights> Rwkv6WeightsOf(const Model& model);

// Builds an RWKV-6 model from BlinkDL-named tensors (`blocks.N.att.time_maa_x`,
// ...; a .pth or .safetensors file). Every dimension comes from the shapes:
// n_embd and vocab from emb.weight, heads and head size from att.time_faaaa
// (H, N), the token-shift LoRA rank from att.time_maa_w1 (C, 5·Dm) and
// att.time_maa_w2 (5, Dm, C), the decay LoRA rank from att.time_decay_w1,
// the FFN size from ffn.key.weight. Errors: INVALID_ARGUMENT naming a missing
// or mis-shaped tensor; UNIMPLEMENTED for a head size that is not a multiple
// of 16 up to 256 or an unsupported dtype.
StatusOr<std::unique_ptr<Model>> LoadRwkv6(std::unique_ptr<io::TensorStore> store,
                                           const LoadOptions& options);

}  // namespace rs::engine
