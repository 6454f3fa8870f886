// RWKV-7 "Goose" (x070) on the CPU backend, as BlinkDL's `rwkv` package
// (RWKV_x070, its fp32 path) computes it; the shared RWKV structure and the
// state layout are described in rwkv_common.h.
//
// Time mix per token (C = H·N channels, per head h):
//   xr..xg = x + (x_prev - x) * x_{r,w,k,v,a,g}
//   r, k, v = receptance, key, value (xr, xk, xv)
//   w = exp(-0.606531 · sigmoid(w0 + tanh(xw·w1)·w2))     (fp32)
//   a = sigmoid(a0 + (xa·a1)·a2);  g = sigmoid(xg·g1)·g2
//   kk = L2-normalize_per_head(k · k_k);  k = k · (1 + (a - 1) · k_a)
//   v = layer 0: v (kept as v_first)  else v + (v_first - v) · sigmoid(v0 + (xv·v1)·v2)
//   S = S·diag(w) + (S·(-kk))·(kk·a)ᵀ + v·kᵀ;  y = S·r          (WKV, per head)
//   out = output((GroupNorm_per_head(y; ln_x, eps 64e-5) + Σ_h(r·k·r_k)·v) · g)
#pragma once

#include <memory>
#include <optional>
#include <vector>

#include "engine/io/tensor_store.h"
#include "engine/model.h"
#include "engine/models/rwkv_common.h"

namespace rs::engine {

inline constexpr float kRwkv7GroupNormEps = 64e-5f;

// Order of the token-shift mixes (x_r, x_w, x_k, x_v, x_a, x_g).
enum Rwkv7Mix { kR = 0, kW, kK, kV, kA, kG, kNumMix };
inline constexpr const char* kRwkv7MixNames[kNumMix] = {"x_r", "x_w", "x_k", "x_v", "x_a", "x_g"};

// One layer's time-mix weights as the CPU model holds them.
struct Rwkv7TimeMix {
  std::vector<float> mix[kNumMix];
  std::vector<float> w0, a0, v0, k_k, k_a, r_k;  // v0: empty in layer 0
  // LoRAs: down-projections transposed to (out, in) for Gemm (F32, owned);
  // up-projections kept (in, out) for GemmKMajor (small K: no horizontal sums).
  kernels::WeightMatrix w1, a1, v1, g1;  // v1.data == nullptr in layer 0
  KMajorMatrix w2, a2, v2, g2;
};

// A loaded RWKV-7 model's weights, for other backends (pointers into the
// model: valid while it lives).
struct Rwkv7Weights {
  const RwkvModel* model;                  // blocks, embedding, head, norms
  const std::vector<Rwkv7TimeMix>* att;    // per layer
  int64_t Dw, Da, Dv, Dg;                  // LoRA ranks
};
// nullopt for a model that LoadRwkv7 did not build.
std::optional<Rwkv7Weights> Rwkv7WeightsOf(const Model& model);

// Builds an RWKV-7 model from BlinkDL-named tensors (`blocks.N.att.k_k`,
// ...; a .pth or .safetensors file). Every dimension comes from the shapes:
// n_embd and vocab from emb.weight, head size from att.r_k (H, N), the LoRA
// ranks from att.w1/a1/v1/g1, the FFN size from ffn.key.weight.
StatusOr<std::unique_ptr<Model>> LoadRwkv7(std::unique_ptr<io::TensorStore> store,
                                           const LoadOptions& options);

}  // namespace rs::engine
