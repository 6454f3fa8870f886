// Writes deterministic random-weight checkpoints in the HF Mamba layout
// (config.json + model.safetensors): the CLI's embedded default model, the
// benchmark models of published shapes (e.g. mamba-130m), and test inputs.
//
// Weights follow Mamba's own initialization (kaiming-uniform linears,
// out_proj scaled by 1/sqrt(n_layer), A_log = log(1..N), dt bias = inverse
// softplus of a log-uniform dt in [1e-3, 1e-1], D = 1) from a seeded
// counter-based generator, so the same options give byte-identical files on
// every machine. The text such a model generates is noise.
#pragma once

#include <cstdint>
#include <string>

#include "engine/tensor.h"
#include "engine/util/status.h"

namespace rs::engine {

struct RandomMamba1Options {
  int64_t d_model = 192;
  int64_t n_layer = 4;
  int64_t vocab_size = 256;
  int64_t d_state = 16;
  int64_t d_conv = 4;
  int64_t expand = 2;
  int64_t dt_rank = 0;  // 0: ceil(d_model / 16)
  DType dtype = DType::kF32;  // F32, F16 or BF16 for every tensor
  uint64_t seed = 1;
  bool tie_embeddings = true;
  // With an untied lm_head over a byte vocabulary: favour printable ASCII so
  // the noise at least looks like text.
  bool printable_bytes = false;
};

// Writes `dir`/config.json and `dir`/model.safetensors (creating `dir`).
Status WriteRandomMamba1(const std::string& dir, const RandomMamba1Options& options);

// Named published shapes: "mamba-130m" (768, 24 layers, vocab 50280),
// "mamba-370m", "mamba-790m", "mamba-1.4b", "mamba-2.8b". NOT_FOUND otherwise.
StatusOr<RandomMamba1Options> Mamba1Shape(const std::string& name);

// Random Mamba-2 checkpoints in the HF Mamba2ForCausalLM layout
// (config.json with model_type "mamba2" + model.safetensors), initialized as
// mamba_ssm's Mamba2 (kaiming-uniform linears, out_proj scaled by
// 1/sqrt(n_layer), A_log = log U(1, 16), dt bias = inverse softplus of a
// log-uniform dt in [1e-3, 1e-1], D = 1, norms 1).
struct RandomMamba2Options {
  int64_t d_model = 192;
  int64_t n_layer = 4;
  int64_t vocab_size = 256;
  int64_t d_state = 32;
  int64_t head_dim = 32;  // heads = expand * d_model / head_dim
  int64_t expand = 2;
  int64_t n_groups = 1;
  int64_t d_conv = 4;
  int64_t chunk_size = 256;
  // time_step_limit; written only when not the default (0, inf).
  double dt_min = 0.0, dt_max = 0.0;  // dt_max 0: no upper limit
  DType dtype = DType::kF32;  // F32, F16 or BF16 for every tensor
  uint64_t seed = 1;
  bool tie_embeddings = true;
};

// Writes `dir`/config.json and `dir`/model.safetensors (creating `dir`).
Status WriteRandomMamba2(const std::string& dir, const RandomMamba2Options& options);

// Named published shapes: "mamba2-130m" (768, 24 layers, d_state 128, head
// dim 64, vocab 50288), "mamba2-370m", "mamba2-780m", "mamba2-1.3b",
// "mamba2-2.7b". NOT_FOUND otherwise.
StatusOr<RandomMamba2Options> Mamba2Shape(const std::string& name);

// Random RWKV checkpoints with BlinkDL's tensor names and shapes, written as
// `dir`/model.safetensors (the loader also reads BlinkDL's .pth files).
// Values are drawn to resemble trained statistics (decays spread over their
// range, mixing coefficients in (0, 1), every LoRA non-zero) so every path
// of the model carries signal.
struct RandomRwkvOptions {
  int version = 7;  // 7 (x070) or 6 (x060)
  int64_t n_embd = 128;
  int64_t n_layer = 2;
  int64_t head_size = 64;
  int64_t vocab_size = 256;
  int64_t ffn = 0;  // 0: 4 * n_embd (v7), 3.5 * n_embd rounded to 32 (v6)
  // LoRA ranks; 0: RWKV-LM's formulas for n_embd. v7: w, a, v, g;
  // v6: maa (time_maa_w1 is C x 5*maa) and decay.
  int64_t lora_w = 0, lora_a = 0, lora_v = 0, lora_g = 0;
  int64_t lora_maa = 0, lora_decay = 0;
  DType dtype = DType::kF32;  // F32, F16 or BF16 for every tensor
  uint64_t seed = 1;
};
Status WriteRandomRwkv(const std::string& dir, const RandomRwkvOptions& options);

// Named shapes: "rwkv7-0.1b" (768, 12 layers, head 64, vocab 65536),
// "rwkv7-0.4b", "rwkv7-1.5b", "rwkv6-0.1b" (768, 12 layers), "rwkv6-1.6b".
StatusOr<RandomRwkvOptions> RwkvShape(const std::string& name);

// The embedded default model: written on first use into
// `cache_dir`/default-mamba1-bytes-v2 (cache_dir: $RS_CACHE_DIR, else
// $XDG_CACHE_HOME/recurrent-serve, else ~/.cache/recurrent-serve).
// Returns the folder. An existing folder is reused as is, so the "-vN"
// suffix must be bumped whenever the generator or its options change.
StatusOr<std::string> EnsureDefaultModel();

}  // namespace rs::engine
