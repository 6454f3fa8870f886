// Model: the interface every architecture (Mamba-1, Mamba-2, RWKV-6, RWKV-7)
// implements, and the batch it runs.
//
// One Forward() call is one engine step: B sequences, each with its own state
// slot and a chunk of 1..T new tokens. The linear layers run as one
// matrix-matrix product over all tokens of the step (where batching pays); the
// recurrence runs per sequence. Contracts every implementation keeps on CPU:
//   * a chunk of T tokens gives bitwise the same logits and state as T
//     single-token steps;
//   * a sequence's logits and state are bitwise independent of what else is
//     in the batch (each output's reduction order never depends on B or T).
//
// Thread-safety: a Model is immutable after loading except for its scratch
// buffers: Forward() must be called from one thread at a time (the engine
// thread). It uses the kernels' thread pool internally.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "engine/state.h"
#include "engine/util/status.h"

namespace rs::json {
class Value;
}  // namespace rs::json

namespace rs::engine {

namespace io {
class TensorStore;
}  // namespace io

enum class Arch { kMamba1, kMamba2, kRwkv6, kRwkv7 };
const char* ArchName(Arch arch);

struct ModelSpec {
  Arch arch = Arch::kMamba1;
  int64_t d_model = 0;
  int64_t n_layer = 0;
  int64_t vocab_size = 0;  // rows of the embedding / logits per position (padded)
  std::string weight_dtype;  // "F32", "F16", "BF16": the dtype of the big matrices
  size_t weight_bytes = 0;   // bytes of all weights as held in memory
  // Roofline arithmetic for benchmarks: matrix weights multiplied per token
  // (FLOPs per token ~ 2x this) and weight bytes read by one decode step.
  int64_t matmul_params_per_token = 0;
  size_t decode_bytes_per_step = 0;
  // Content fingerprint (hex): architecture, dimensions, tensor names, shapes,
  // dtypes and a sample of every tensor's bytes. States carry it.
  std::string fingerprint;
  StateLayout state;
  // Architecture-specific dimensions for display ("d_inner=1536 d_state=16 ...").
  std::string details;
  // Where Forward computes: "cpu" or "cuda".
  std::string device = "cpu";
};

// One sequence's part of a step.
struct SeqChunk {
  int slot = -1;                       // state slot in the pool
  std::span<const int32_t> tokens;     // 1..T new tokens, each < vocab_size
  bool all_logits = false;             // logits for every position, not only the last
  // Embedding instead of logits: the sequence gets the SUM over this chunk's
  // positions of its final hidden states (after the final norm: Mamba's
  // norm_f, RWKV's ln_out; exactly what lm_head multiplies), d_model floats
  // in Logits::embed_sums, summed in position order in fp32, and no logits
  // row (lm_head is not run for its positions). Its state advances as for a
  // logits chunk. REQUIRES: !all_logits (INVALID_ARGUMENT otherwise) and
  // Model::SupportsEmbed() (UNIMPLEMENTED otherwise: the CUDA models).
  bool embed = false;
};

struct Batch {
  std::vector<SeqChunk> seqs;
};

// The output of a step. Logits: rows of vocab_size floats; for each sequence
// in batch order: T rows if all_logits, none if embed, else 1 row (its last
// position). Embeddings: for each embed sequence in batch order, d_model
// floats (the sum of its chunk's final normed hidden states, see
// SeqChunk::embed). Every field is overwritten by each Forward().
struct Logits {
  int64_t vocab_size = 0;
  std::vector<float> data;
  std::vector<int64_t> row_offset;  // per sequence: its first row; -1 for an embed sequence
  int64_t d_model = 0;
  std::vector<float> embed_sums;      // d_model floats per embed sequence
  std::vector<int64_t> embed_offset;  // per sequence: its index in embed_sums (vectors), else -1
  const float* Row(int64_t row) const { return data.data() + row * vocab_size; }
  // The embedding sum of batch sequence `seq`. REQUIRES: that sequence was embed.
  const float* EmbedSum(size_t seq) const {
    return embed_sums.data() + embed_offset[seq] * d_model;
  }
};

class Model {
 public:
  virtual ~Model() = default;
  virtual const ModelSpec& spec() const = 0;

  // Runs one step. Errors: INVALID_ARGUMENT for an empty chunk, a token out
  // of range, a bad or duplicated slot, a chunk both embed and all_logits,
  // or a pool of another model; UNIMPLEMENTED for embed chunks on a model
  // without them (!SupportsEmbed(): the CUDA models).
  virtual Status Forward(const Batch& batch, StatePool& pool, Logits* logits) = 0;

  // Whether Forward() computes SeqChunk::embed chunks. False by default, so
  // an architecture opts in once its final stage does (the CPU models share
  // FinalNormAndHead in engine/models/common.h); a model without it answers
  // UNIMPLEMENTED for embed chunks and callers (the scheduler) reject
  // embedding requests up front.
  virtual bool SupportsEmbed() const { return false; }

  // A pool of n_slots states of this model, in the memory its backend
  // computes on (host memory for the CPU models).
  virtual std::unique_ptr<StatePool> NewStatePool(int n_slots) const {
    return std::make_unique<StatePool>(spec().state, spec().fingerprint, n_slots);
  }

  // Runs fn(task) for every task in [0, n_tasks) on the model's CPU threads
  // (the calling thread takes part), for host work between steps such as
  // sampling every row of a batch; which thread runs a task is unspecified.
  // Same thread rule as Forward (never concurrently with it). Default: in
  // order on the calling thread.
  virtual void ParallelFor(int n_tasks, const std::function<void(int task)>& fn) {
    for (int t = 0; t < n_tasks; ++t) fn(t);
  }
};

enum class Device { kCpu, kCuda, kAuto };

struct LoadOptions {
  int n_threads = 0;  // 0: hardware concurrency (CPU backend)
  // kAuto: CUDA when this build has it and a device works, else the CPU.
  // kCuda where impossible: UNAVAILABLE. Every architecture has a CUDA
  // model, but kAuto picks it only for those verified on a GPU (Mamba-1,
  // RWKV-7); Mamba-2 and RWKV-6 stay on the CPU under kAuto until their
  // CUDA models have run tests/gpu (kCuda selects them).
  Device device = Device::kCpu;
  // Mamba-2 on the CPU: prefill chunks of at least this many tokens take the
  // chunked SSD form (Mamba2Options::ssd_min_tokens); -1: the model's default
  // (the recurrence, bitwise equal to single steps under any split).
  int64_t mamba2_ssd_min_tokens = -1;
};

// "cpu" | "cuda" | "auto" -> Device; INVALID_ARGUMENT otherwise.
StatusOr<Device> ParseDevice(const std::string& name);

// Loads a model from a folder (HF layout: config.json + model.safetensors or
// a sharded index; original state-spaces layout: config.json +
// pytorch_model.bin) or a single .safetensors / .pth file.
// Errors are one clear line: NOT_FOUND, DATA_LOSS (corrupt files),
// INVALID_ARGUMENT (wrong shapes), UNIMPLEMENTED (unknown architecture/dtype).
StatusOr<std::unique_ptr<Model>> LoadModel(const std::string& path, const LoadOptions& options = {});

// The same from tensors already opened (and config.json's contents, or null):
// detects the architecture and builds the model. Errors as LoadModel, without
// the path prefix.
StatusOr<std::unique_ptr<Model>> LoadModelFromStore(std::unique_ptr<io::TensorStore> store,
                                                    const json::Value* config, const LoadOptions& options = {});

}  // namespace rs::engine
