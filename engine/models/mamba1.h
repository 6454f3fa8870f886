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

#include "engine/io/tensor_store.h"
#include "engine/model.h"
#include "engine/util/json.h"

namespace rs::engine {

// Builds a Mamba-1 model from the tensors of `store` (HF names
// `backbone.embeddings.weight`, or original `backbone.embedding.weight`).
// `config` may be null (every dimension comes from the tensor shapes; the
// RMSNorm epsilon from `layer_norm_epsilon` when present, else 1e-5).
StatusOr<std::unique_ptr<Model>> LoadMamba1(std::unique_ptr<io::TensorStore> store,
                                            const json::Value* config,
                                            const LoadOptions& options);

}  // namespace rs::engine
