// Mamba-1 (Gu & Dao 2023) on the CPU backend, as HF MambaForCausalLM computes
// it (its pure-PyTorch path), with fp32 activations and residual stream and
// weights used in place (F32, F16 or BF16; memory-mapped).
//
// Per layer:  h += out_proj( SSM( silu(conv1d(in_proj_x(norm(h)))) ) * silu(z) )
// Per-sequence state per layer (fp32): the conv state, (K-1)×E (the previous
// K-1 inputs of the causal conv; HF keeps K, the newest of which is the
// current input), and the SSM state, N×E (HF's E×N transposed, so channel
// vectors load directly).
//
// Thread-safety: see Model. Forward() uses the model's own thread pool.
#pragma once

#include <memory>
#include <optional>
#include <vector>

#include "engine/io/tensor_store.h"
#include "engine/model.h"
#include "engine/util/json.h"
#include "kernels/cpu/gemm.h"

namespace rs::engine {

using kernels::WeightMatrix;

// One layer's weights as the CPU model holds them (matrices in place in the
// checkpoint's dtype; vectors converted to F32 and re-laid out).
struct Mamba1Layer {
  std::vector<float> norm;     // (D)
  WeightMatrix in_proj;        // (2E, D)
  std::vector<float> in_bias;  // (2E) or empty
  std::vector<float> conv_w;   // (K, E), transposed from (E, 1, K)
  std::vector<float> conv_b;   // (E) or empty
  WeightMatrix x_proj;         // (R + 2N, E)
  WeightMatrix dt_proj;        // (E, R)
  std::vector<float> dt_bias;  // (E)
  std::vector<float> A;        // (N, E) = -exp(A_log)ᵀ
  std::vector<float> D;        // (E)
  WeightMatrix out_proj;       // (D, E)
  std::vector<float> out_bias; // (D) or empty
  size_t conv_off = 0, ssm_off = 0;  // state offsets (floats)
};

// Everything a backend needs to run a loaded Mamba-1 model (the CUDA backend
// uploads it). Matrices point into the CPU model's mapped checkpoint: valid
// while that model lives.
struct Mamba1Weights {
  int64_t D, E, N, R, K, V;
  float eps;
  WeightMatrix embedding, lm_head;  // lm_head may equal embedding (tied)
  std::vector<float> norm_f;
  std::vector<Mamba1Layer> layers;
};

// The weights of a model LoadMamba1 built; nullopt for any other model.
std::optional<Mamba1Weights> Mamba1WeightsOf(const Model& model);

// Builds a Mamba-1 model from the tensors of `store` (HF names
// `backbone.embeddings.weight`, or original `backbone.embedding.weight`).
// `config` may be null (every dimension comes from the tensor shapes; the
// RMSNorm epsilon from `layer_norm_epsilon` when present, else 1e-5).
StatusOr<std::unique_ptr<Model>> LoadMamba1(std::unique_ptr<io::TensorStore> store,
                                            const json::Value* config,
                                            const LoadOptions& options);

}  // namespace rs::engine
