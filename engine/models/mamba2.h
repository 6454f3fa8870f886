// Mamba-2 (Dao & Gu 2024, "Transformers are SSMs") on the CPU backend, as
// the original state-spaces/mamba_ssm `Mamba2` module computes it (HF
// transformers' Mamba2ForCausalLM computes the same for n_groups = 1), with
// fp32 activations, residual stream and state, and weights used in place
// (F32, F16 or BF16; memory-mapped).
//
// Per layer, with z (E), xBC (E + 2GN) and dt (H) the three parts of
// in_proj(norm(h)) (no d_mlp part: such checkpoints are UNIMPLEMENTED):
//   xBC = silu(causal depthwise conv1d(xBC)); x, B, C = split(xBC)
//   per head h (group g = h / (H/G)):
//     dt   = clamp(softplus(dt + dt_bias[h]), time_step_limit)
//     S[h] = exp(dt * A[h]) * S[h] + dt * x[h] ⊗ B[g]       A = -exp(A_log)
//     y[h] = S[h] · C[g] + D ⊙ x[h]
//   y = GroupRMSNorm(y ⊙ silu(z)) ⊙ norm.weight, one RMS per group of E/G
//       channels (mamba_ssm RMSNormGated, group_size = E/G,
//       norm_before_gate = False)
//   h += out_proj(y)
// then norm_f and lm_head (tied to the embedding when lm_head.weight is
// absent). For n_groups > 1 this follows the original, not HF transformers
// 4.48, whose MambaRMSNormGated normalizes over all E channels at once (and
// whose chunked prefill maps heads to groups as h % G); see
// tests/data/mamba2/make_goldens.py.
//
// Per-sequence state per layer (fp32): the conv state, (K-1) × (E + 2GN)
// (the previous K-1 inputs of the causal conv, oldest first; HF keeps K
// columns, the newest of which is the current input), and the SSM state,
// H × P × N (HF's ssm_states layout).
//
// Prefill: by default every chunk runs the recurrence (kernels::SsdScan,
// register-blocked over tokens for long chunks), so any split of a sequence
// into chunks gives bitwise the single steps' logits and state, as for the
// other CPU models: the scheduler's step sizes, prefix-cache hits and
// session continuations never change a result. On the CPU that costs
// nothing: the recurrence runs as fast as the chunked SSD form (see
// docs/perf.md). With Mamba2Options::ssd_min_tokens > 0 (LoadOptions::
// mamba2_ssd_min_tokens), a sequence's chunk of at least that many tokens
// runs the chunked SSD matrix form instead (kernels::SsdChunked, in chunks of
// min(chunk_size from config (default 256), Mamba2Options::ssd_max_chunk)
// tokens); the two agree within float rounding, NOT bitwise. Every other
// contract of Model holds bitwise either way (batched == unbatched, thread
// count, chunks shorter than ssd_min_tokens == single steps), because the
// path of a sequence depends only on its own chunk length.
//
// The CUDA backend (engine/models/cuda/mamba2_cuda.cc, built from
// Mamba2WeightsOf) keeps the same state layout and the same policy: by
// default the recurrence, token by token (kernels::cuda::Mamba2Scan); with
// ssd_min_tokens > 0, a sequence's chunk of at least max(ssd_min_tokens, 2)
// tokens runs the chunked SSD form (kernels::cuda::Mamba2ScanChunked) in
// chunks of the config's chunk_size (ssd_max_chunk does not apply there: it
// is a CPU cost trade-off), the other sequences of the step the recurrence.
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
struct Mamba2Layer {
  std::vector<float> norm;           // (D)
  WeightMatrix in_proj;              // (2E + 2GN + H, D): z | xBC | dt
  std::vector<float> in_bias;        // (2E + 2GN + H) or empty
  std::vector<float> conv_w;         // (K, Cx), transposed from (Cx, 1, K); Cx = E + 2GN
  std::vector<float> conv_b;         // (Cx) or empty
  std::vector<float> dt_bias;        // (H)
  std::vector<float> A;              // (H) = -exp(A_log)
  std::vector<float> D;              // (E) skip, per channel (a per-head D repeated)
  std::vector<float> gnorm;          // (E) gated RMSNorm weight
  WeightMatrix out_proj;             // (D, E)
  std::vector<float> out_bias;       // (D) or empty
  size_t conv_off = 0, ssm_off = 0;  // state offsets (floats)
};

// Everything a backend needs to run a loaded Mamba-2 model (the CUDA backend
// uploads it). Matrices point into the CPU model's mapped checkpoint: valid
// while that model lives. The state layout per layer is the CPU model's:
// conv (K-1) × Cx at conv_off, then SSM H × P × N at ssm_off.
struct Mamba2Weights {
  // d_model, d_inner = H * P, heads, head dim, groups, d_state, d_conv,
  // vocab; Cx = E + 2GN conv channels; W = 2E + 2GN + H in_proj rows.
  int64_t D = 0, E = 0, H = 0, P = 0, G = 0, N = 0, K = 0, V = 0, Cx = 0, W = 0;
  float eps = 0.0f;                    // block norms and norm_f
  float gated_eps = 0.0f;              // the gated RMSNorm
  float dt_min = 0.0f, dt_max = 0.0f;  // time_step_limit; dt_max may be +inf
  int64_t chunk_size = 0;              // config chunk_size (the CUDA SSD form's chunk length)
  int64_t ssd_min_tokens = 0;          // Mamba2Options::ssd_min_tokens the model was loaded with
  WeightMatrix embedding, lm_head;     // lm_head may equal embedding (tied)
  std::vector<float> norm_f;
  std::vector<Mamba2Layer> layers;
};

struct Mamba2Options {
  // Chunks of at least this many tokens take the SSD matrix form; 0 means
  // never (always the recurrence, bitwise equal to single steps).
  int64_t ssd_min_tokens = 0;
  // The SSD form's chunk length is min(config chunk_size, ssd_max_chunk)
  // (0: no cap). The length changes only rounding, not the function; on the
  // CPU the intra-chunk work grows with it (no tensor cores make it free).
  // mamba2_ops_bench, mamba2-130m shape, 512 tokens, one thread: the
  // recurrence 14-16 us per token and layer, SSD chunk 32 11.5-13.8, chunk
  // 64 about the same, chunk 256 ~20.
  int64_t ssd_max_chunk = 32;
};

// The weights of a model LoadMamba2 built; nullopt for any other model.
std::optional<Mamba2Weights> Mamba2WeightsOf(const Model& model);

// Builds a Mamba-2 model from the tensors of `store`: names
// backbone.layers.N.mixer.{in_proj,conv1d,dt_bias,A_log,D,norm,out_proj}
// with HF's `backbone.embeddings.weight` or the original's
// `backbone.embedding.weight`. `config` (config.json, either layout; may be
// null) gives n_groups (HF `n_groups`, original `ssm_cfg.ngroups`; default
// 1), the SSD chunk size (`chunk_size`; default 256), the time-step limit
// (HF `time_step_limit`, original `ssm_cfg.dt_limit`; default (0, inf)) and
// the norm epsilon (`layer_norm_epsilon` / `norm_epsilon`; default 1e-5);
// heads, head dim, d_state (checked against `state_size` / `ssm_cfg.d_state`
// when given), conv kernel, and vocabulary come from the tensor shapes.
// Errors: INVALID_ARGUMENT (missing tensor, wrong shape, dimensions that do
// not divide), UNIMPLEMENTED (features other than the above: d_mlp,
// attention layers, norm_before_gate, LayerNorm, non-float dtypes).
StatusOr<std::unique_ptr<Model>> LoadMamba2(std::unique_ptr<io::TensorStore> store,
                                            const json::Value* config, const LoadOptions& options,
                                            const Mamba2Options& mamba2_options = {});

}  // namespace rs::engine
