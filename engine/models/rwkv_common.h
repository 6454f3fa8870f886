// What RWKV-6 and RWKV-7 share on the CPU backend, as BlinkDL's `rwkv`
// package computes them (fp32 activations and residual stream; weights used
// in place, F32/F16/BF16, memory-mapped; its LoRA matrices transposed into
// owned F32 copies):
//
//   x = ln0(emb[token])
//   per layer:  x += TimeMix(ln1(x))    (architecture-specific; WKV state)
//               x += ChannelMix(ln2(x)) (token shift, relu² FFN; RWKV-6 adds
//                                        a sigmoid receptance gate)
//   logits = head(ln_out(x))
//
// Per-sequence state per layer (fp32): the time-mix token-shift vector
// (C), the WKV matrices (H×N×N, KEY-major: [head][key][value], which is the
// rwkv package's own order for RWKV-6 and the transpose of its order for
// RWKV-7), and the channel-mix token-shift vector (C).
//
// Thread-safety: see Model. Forward() uses the model's own thread pool.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "engine/io/tensor_store.h"
#include "engine/model.h"
#include "engine/models/common.h"
#include "engine/util/json.h"
#include "kernels/cpu/gemm.h"
#include "kernels/cpu/thread_pool.h"

namespace rs::engine {

class RwkvModel : public Model {
 public:
  struct Block {
    std::vector<float> ln1_w, ln1_b, ln2_w, ln2_b;
    // Time mix, the parts both versions have: the r/k/v/output projections
    // (C×C) and the per-head GroupNorm (ln_x).
    kernels::WeightMatrix att_receptance, att_key, att_value, att_output;
    std::vector<float> ln_x_w, ln_x_b;
    // Channel mix: token-shift coefficients (k; RWKV-6 also r), key (F×C),
    // value (C×F), receptance (C×C, RWKV-6 only: data == nullptr otherwise).
    std::vector<float> ffn_mix_k, ffn_mix_r;
    kernels::WeightMatrix ffn_key, ffn_value, ffn_receptance;
    size_t att_shift_off = 0, wkv_off = 0, ffn_shift_off = 0;  // state offsets (floats)
  };

  const ModelSpec& spec() const override { return spec_; }
  Status Forward(const Batch& batch, StatePool& pool, Logits* logits) override;
  bool SupportsEmbed() const override { return true; }  // FinalNormAndHead
  void ParallelFor(int n_tasks, const std::function<void(int)>& fn) override { pool_.ParallelFor(n_tasks, fn); }

  // The loaded weights, for other backends (valid while the model lives).
  static constexpr float kLayerNormEps = 1e-5f;
  const std::vector<Block>& blocks() const { return blocks_; }
  const kernels::WeightMatrix& embedding() const { return emb_; }
  const kernels::WeightMatrix& head() const { return head_; }
  const std::vector<float>& ln0_w() const { return ln0_w_; }
  const std::vector<float>& ln0_b() const { return ln0_b_; }
  const std::vector<float>& ln_out_w() const { return ln_out_w_; }
  const std::vector<float>& ln_out_b() const { return ln_out_b_; }
  int64_t n_head() const { return H_; }
  int64_t head_size() const { return N_; }
  int64_t ffn_size() const { return F_; }

 protected:
  // The rows of one step: sequence s owns token rows [row0[s], row0[s+1]).
  struct Step {
    const Batch* batch = nullptr;
    StatePool* pool = nullptr;
    std::vector<int64_t> row0;
    int64_t M = 0;
    size_t n_seq() const { return row0.size() - 1; }
    int64_t T(size_t s) const { return row0[s + 1] - row0[s]; }
    float* State(size_t s, size_t offset) const {
      return pool->SlotData(batch->seqs[s].slot) + offset;
    }
  };


  RwkvModel(std::unique_ptr<io::TensorStore> store, int n_threads)
      : store_(std::move(store)), weights_(store_.get()), pool_(n_threads) {}

  // Loads what all versions share (Block), sizes the layers, and calls
  // InitTimeMix for each layer; then fills spec_ (state layout, fingerprint, ...).
  // `arch_tag` names the version in the fingerprint ("rwkv7").
  Status InitCommon(Arch arch, const std::string& arch_tag, int64_t n_head, int64_t head_size);
  virtual Status InitTimeMix(int64_t layer, const std::string& prefix) = 0;
  // Extra "key=value" pairs for spec().details (LoRA ranks, ...).
  virtual std::string TimeMixDetails() const = 0;
  // Grows the version's scratch buffers to at least `rows` token rows.
  virtual void EnsureTimeMixScratch(int64_t rows) = 0;
  // out (M×C) = the time mix of layer `layer` on x (M×C, ln1 applied);
  // updates the layer's token-shift and WKV state of every sequence.
  virtual void TimeMix(int64_t layer, const Step& step, const float* x, float* out) = 0;

  // Runs fn(m0, m1) over row ranges covering [0, M), in parallel when M is
  // large enough to pay for it. fn must be per-row (rows independent).
  void ForRows(int64_t M, const std::function<void(int64_t, int64_t)>& fn);
  // Runs fn(s, h0, h1) for every sequence and head range, in parallel.
  void ForSeqHeads(const Step& step, const std::function<void(size_t, int64_t, int64_t)>& fn);
  // A matrix used once per token: counted in the spec's per-token numbers.
  void CountMatrix(const kernels::WeightMatrix& m);
  void CountMatrix(const KMajorMatrix& m);

  std::unique_ptr<io::TensorStore> store_;
  WeightLoader weights_;
  kernels::ThreadPool pool_;
  ModelSpec spec_;
  int64_t C_ = 0, V_ = 0, F_ = 0, H_ = 0, N_ = 0;
  std::vector<Block> blocks_;

 private:
  void ChannelMix(const Block& b, const Step& step, const float* x, float* out);
  void EnsureScratch(int64_t rows);

  kernels::WeightMatrix emb_, head_;
  std::vector<float> ln0_w_, ln0_b_, ln_out_w_, ln_out_b_;
  int64_t scratch_rows_ = 0;
  int64_t ffn_ld_ = 0;  // row stride of ffn_k_ (kernels::ActivationStride(F_))
  std::vector<float> hidden_, normed_, out_, ffn_mix_, ffn_k_, ffn_r_;
};

// Builds and initializes a model class derived from RwkvModel (constructor
// (store, n_threads), `Status Init()`).
template <typename M>
StatusOr<std::unique_ptr<Model>> BuildRwkvModel(std::unique_ptr<io::TensorStore> store,
                                                const LoadOptions& options) {
  auto model = std::make_unique<M>(std::move(store), ResolveThreadCount(options));
  RS_RETURN_IF_ERROR(model->Init());
  return std::unique_ptr<Model>(std::move(model));
}

}  // namespace rs::engine
