#include "engine/models/mamba1.h"

#include <optional>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "engine/models/common.h"
#include "kernels/cpu/gemm.h"
#include "kernels/cpu/mamba1_ops.h"
#include "kernels/cpu/rmsnorm.h"
#include "kernels/cpu/thread_pool.h"

namespace rs::engine {
namespace {

using kernels::WeightMatrix;


// Channels per scan/conv task: big enough to amortize dispatch, small enough
// to balance two threads over E = 768..5120.
constexpr int64_t kChannelBlock = 64;

class Mamba1Model final : public Model {
 public:
  Mamba1Model(std::unique_ptr<io::TensorStore> store, int n_threads)
      : store_(std::move(store)), weights_(store_.get()), pool_(n_threads) {}

  Status Init(const json::Value* config);
  const ModelSpec& spec() const override { return spec_; }
  Mamba1Weights Export() const {
    return Mamba1Weights{D_, E_, N_, R_, K_, V_, eps_, embedding_, lm_head_, norm_f_, layers_};
  }
  Status Forward(const Batch& batch, StatePool& pool, Logits* logits) override;
  bool SupportsEmbed() const override { return true; }
  void ParallelFor(int n_tasks, const std::function<void(int)>& fn) override { pool_.ParallelFor(n_tasks, fn); }

 private:
  void EnsureScratch(int64_t m_tokens);

  std::unique_ptr<io::TensorStore> store_;
  WeightLoader weights_;  // owns converted copies of small/odd-dtype tensors
  kernels::ThreadPool pool_;
  ModelSpec spec_;
  int64_t D_ = 0, E_ = 0, N_ = 0, R_ = 0, K_ = 0, V_ = 0;
  float eps_ = 1e-5f;
  WeightMatrix embedding_, lm_head_;
  std::vector<float> norm_f_;
  std::vector<Mamba1Layer> layers_;

  // Scratch, grown on demand (token-major rows).
  int64_t scratch_rows_ = 0;
  std::vector<float> hidden_, normed_, xz_, u_, dbc_, dt_, y_;
};

Status Mamba1Model::Init(const json::Value* config) {
  WeightLoader& w = weights_;
  RS_ASSIGN_OR_RETURN(MambaBackbone backbone, LoadMambaBackbone(*store_, w, "Mamba"));
  embedding_ = backbone.embedding;
  lm_head_ = backbone.lm_head;
  norm_f_ = std::move(backbone.norm_f);
  V_ = backbone.vocab;
  D_ = backbone.d_model;
  const int64_t n_layer = backbone.n_layer;

  if (config != nullptr) {
    if (const json::Value* e = config->Find("layer_norm_epsilon"); e && e->is_number()) {
      eps_ = static_cast<float>(e->AsDouble());
    }
    if (const json::Value* rms = config->Find("rms_norm"); rms && rms->is_bool() && !rms->AsBool()) {
      return UnimplementedError("Mamba-1 with LayerNorm (rms_norm=false) is not supported");
    }
    if (const json::Value* nl = config->Find("n_layer"); nl && nl->is_int() && nl->AsInt() != n_layer) {
      return InvalidArgumentError("config.json says n_layer=" + std::to_string(nl->AsInt()) +
                                  " but the checkpoint has " + std::to_string(n_layer) + " layers");
    }
    if (const json::Value* nl = config->Find("num_hidden_layers");
        nl && nl->is_int() && nl->AsInt() != n_layer) {
      return InvalidArgumentError("config.json says num_hidden_layers=" + std::to_string(nl->AsInt()) +
                                  " but the checkpoint has " + std::to_string(n_layer) + " layers");
    }
  }

  layers_.resize(static_cast<size_t>(n_layer));
  for (int64_t i = 0; i < n_layer; ++i) {
    const std::string p = "backbone.layers." + std::to_string(i) + ".";
    Mamba1Layer& L = layers_[static_cast<size_t>(i)];
    RS_ASSIGN_OR_RETURN(L.norm, w.Vector(p + "norm.weight", D_));
    RS_ASSIGN_OR_RETURN(L.in_proj, w.Matrix(p + "mixer.in_proj.weight", -1, D_));
    if (L.in_proj.n % 2 != 0) return InvalidArgumentError(p + "mixer.in_proj.weight has an odd number of rows");
    const int64_t E = L.in_proj.n / 2;
    if (i == 0) E_ = E;
    if (E != E_) return InvalidArgumentError(p + "mixer.in_proj.weight: d_inner differs between layers");
    const Tensor* alog = store_->Find(p + "mixer.A_log");
    if (alog->rank() != 2 || alog->dim(0) != E_) {
      return InvalidArgumentError(p + "mixer.A_log has shape " + alog->ShapeString() + ", expected [" +
                                  std::to_string(E_) + ", d_state]");
    }
    if (i == 0) N_ = alog->dim(1);
    if (N_ < 1 || N_ > 64) return InvalidArgumentError("d_state " + std::to_string(N_) + " is not in [1, 64]");
    std::vector<float> a_log;
    RS_ASSIGN_OR_RETURN(a_log, w.Vector(p + "mixer.A_log", E_ * N_));
    L.A.resize(a_log.size());
    for (int64_t e = 0; e < E_; ++e) {
      for (int64_t n = 0; n < N_; ++n) {
        L.A[static_cast<size_t>(n * E_ + e)] = -std::exp(a_log[static_cast<size_t>(e * N_ + n)]);
      }
    }
    RS_ASSIGN_OR_RETURN(L.D, w.Vector(p + "mixer.D", E_));

    const Tensor* conv = store_->Find(p + "mixer.conv1d.weight");
    if (conv == nullptr) return InvalidArgumentError("missing tensor " + p + "mixer.conv1d.weight");
    if (conv->rank() != 3 || conv->dim(0) != E_ || conv->dim(1) != 1 || conv->dim(2) < 1 || conv->dim(2) > 16) {
      return InvalidArgumentError(p + "mixer.conv1d.weight has shape " + conv->ShapeString() +
                                  ", expected [" + std::to_string(E_) + ", 1, d_conv]");
    }
    if (i == 0) K_ = conv->dim(2);
    if (conv->dim(2) != K_) return InvalidArgumentError(p + "mixer.conv1d.weight: d_conv differs between layers");
    std::vector<float> conv_ek;
    RS_ASSIGN_OR_RETURN(conv_ek, w.Vector(p + "mixer.conv1d.weight", E_ * K_));
    L.conv_w.resize(static_cast<size_t>(E_ * K_));
    for (int64_t e = 0; e < E_; ++e) {
      for (int64_t j = 0; j < K_; ++j) L.conv_w[static_cast<size_t>(j * E_ + e)] = conv_ek[static_cast<size_t>(e * K_ + j)];
    }
    RS_ASSIGN_OR_RETURN(L.conv_b, w.OptionalVector(p + "mixer.conv1d.bias", E_));

    RS_ASSIGN_OR_RETURN(L.dt_proj, w.Matrix(p + "mixer.dt_proj.weight", E_, -1));
    if (i == 0) R_ = L.dt_proj.k;
    if (L.dt_proj.k != R_) return InvalidArgumentError(p + "mixer.dt_proj.weight: dt_rank differs between layers");
    RS_ASSIGN_OR_RETURN(L.dt_bias, w.Vector(p + "mixer.dt_proj.bias", E_));
    RS_ASSIGN_OR_RETURN(L.x_proj, w.Matrix(p + "mixer.x_proj.weight", R_ + 2 * N_, E_));
    RS_ASSIGN_OR_RETURN(L.out_proj, w.Matrix(p + "mixer.out_proj.weight", D_, E_));
    RS_ASSIGN_OR_RETURN(L.in_bias, w.OptionalVector(p + "mixer.in_proj.bias", 2 * E_));
    RS_ASSIGN_OR_RETURN(L.out_bias, w.OptionalVector(p + "mixer.out_proj.bias", D_));
  }

  spec_.arch = Arch::kMamba1;
  spec_.d_model = D_;
  spec_.n_layer = n_layer;
  spec_.vocab_size = V_;
  spec_.weight_dtype = WeightTypeName(layers_[0].in_proj.type);
  spec_.weight_bytes = w.weight_bytes();
  spec_.matmul_params_per_token = lm_head_.n * lm_head_.k;
  spec_.decode_bytes_per_step = MatrixBytes(lm_head_);
  for (const Mamba1Layer& L : layers_) {
    for (const WeightMatrix* m : {&L.in_proj, &L.x_proj, &L.dt_proj, &L.out_proj}) {
      spec_.matmul_params_per_token += m->n * m->k;
      spec_.decode_bytes_per_step += MatrixBytes(*m);
    }
  }
  for (int64_t i = 0; i < n_layer; ++i) {
    Mamba1Layer& L = layers_[static_cast<size_t>(i)];
    L.conv_off = spec_.state.Add("layers." + std::to_string(i) + ".conv", static_cast<int>(i), {K_ - 1, E_});
    L.ssm_off = spec_.state.Add("layers." + std::to_string(i) + ".ssm", static_cast<int>(i), {N_, E_});
  }
  spec_.details = "d_model=" + std::to_string(D_) + " n_layer=" + std::to_string(n_layer) +
                  " d_inner=" + std::to_string(E_) + " d_state=" + std::to_string(N_) +
                  " d_conv=" + std::to_string(K_) + " dt_rank=" + std::to_string(R_) +
                  " vocab=" + std::to_string(V_) + " tied_lm_head=" +
                  (lm_head_.data == embedding_.data ? "true" : "false");
  spec_.fingerprint = Fingerprint("mamba1", spec_.details, *store_);
  return OkStatus();
}

void Mamba1Model::EnsureScratch(int64_t m) {
  if (m <= scratch_rows_) return;
  scratch_rows_ = std::max<int64_t>(m, 16);
  const auto rows = static_cast<size_t>(scratch_rows_);
  hidden_.resize(rows * static_cast<size_t>(D_));
  normed_.resize(rows * static_cast<size_t>(D_));
  xz_.resize(rows * static_cast<size_t>(2 * E_));
  u_.resize(rows * static_cast<size_t>(E_));
  dbc_.resize(rows * static_cast<size_t>(R_ + 2 * N_));
  dt_.resize(rows * static_cast<size_t>(E_));
  y_.resize(rows * static_cast<size_t>(E_));
}

Status Mamba1Model::Forward(const Batch& batch, StatePool& pool, Logits* logits) {
  RS_RETURN_IF_ERROR(ValidateBatch(batch, pool, spec_));
  const size_t n_seq = batch.seqs.size();
  const std::vector<int64_t> row0 = TokenRowStarts(batch);  // first token row of each sequence
  const int64_t M = row0[n_seq];
  EnsureScratch(M);

  // x: (M, D) embeddings, the fp32 residual stream.
  EmbedTokens(embedding_, batch, row0, hidden_.data(), D_);

  // Decode steps (a token or two per sequence) get coarser channel blocks:
  // thousands of tiny tasks would spend more on dispatch than on work.
  const int64_t block = M >= 4 * static_cast<int64_t>(n_seq) ? kChannelBlock : 4 * kChannelBlock;
  const int64_t n_blocks = (E_ + block - 1) / block;
  // Runs fn(seq, first row, T, e0, e1) for every (sequence, channel block).
  const auto for_each_seq_block = [&](const auto& fn) {
    pool_.ParallelFor(static_cast<int>(n_seq * n_blocks), [&](int task) {
      const size_t s = static_cast<size_t>(task / n_blocks);
      const int64_t e0 = (task % n_blocks) * block, e1 = std::min(E_, e0 + block);
      fn(s, row0[s], row0[s + 1] - row0[s], e0, e1);
    });
  };
  const int64_t ldbc = R_ + 2 * N_;
  ResidualAndRmsNorm(pool_, hidden_.data(), nullptr, M, D_, layers_[0].norm.data(), eps_, normed_.data(), D_);
  for (size_t i = 0; i < layers_.size(); ++i) {
    const Mamba1Layer& L = layers_[i];
    // xz: (M, 2E) = normed · in_projᵀ; x = xz[:, :E], z = xz[:, E:].
    kernels::Gemm(normed_.data(), M, D_, L.in_proj, L.in_bias.empty() ? nullptr : L.in_bias.data(),
                  xz_.data(), 2 * E_, &pool_);
    // u: (M, E) = silu(conv(x)), per sequence with its own conv state.
    for_each_seq_block([&](size_t s, int64_t r, int64_t T, int64_t e0, int64_t e1) {
      float* st = pool.SlotData(batch.seqs[s].slot) + L.conv_off;
      kernels::CausalConv1dSilu(&xz_[static_cast<size_t>(r * 2 * E_)], T, 2 * E_, E_, static_cast<int>(K_),
                                L.conv_w.data(), L.conv_b.empty() ? nullptr : L.conv_b.data(), st,
                                &u_[static_cast<size_t>(r * E_)], E_, e0, e1);
    });
    // dbc: (M, R + 2N) = u · x_projᵀ; dt: (M, E) = dbc[:, :R] · dt_projᵀ (bias in the scan).
    kernels::Gemm(u_.data(), M, E_, L.x_proj, nullptr, dbc_.data(), ldbc, &pool_);
    kernels::Gemm(dbc_.data(), M, ldbc, L.dt_proj, nullptr, dt_.data(), E_, &pool_);
    // y: (M, E) = selective scan, gated by silu(z), per sequence with its SSM state.
    for_each_seq_block([&](size_t s, int64_t r, int64_t T, int64_t e0, int64_t e1) {
      float* h = pool.SlotData(batch.seqs[s].slot) + L.ssm_off;
      const float* dbc = &dbc_[static_cast<size_t>(r * ldbc)];
      kernels::SelectiveScan(&u_[static_cast<size_t>(r * E_)], E_, &dt_[static_cast<size_t>(r * E_)], E_,
                             L.dt_bias.data(), L.A.data(), dbc + R_, dbc + R_ + N_, ldbc, L.D.data(),
                             &xz_[static_cast<size_t>(r * 2 * E_ + E_)], 2 * E_, T, E_, N_, h,
                             &y_[static_cast<size_t>(r * E_)], E_, e0, e1);
    });
    // h += y · out_projᵀ (normed_ is free here and holds the product; its
    // stride is D_), then the next layer's RmsNorm into normed_.
    kernels::Gemm(y_.data(), M, E_, L.out_proj, L.out_bias.empty() ? nullptr : L.out_bias.data(),
                  normed_.data(), D_, &pool_);
    const float* next_norm = i + 1 < layers_.size() ? layers_[i + 1].norm.data() : nullptr;
    ResidualAndRmsNorm(pool_, hidden_.data(), normed_.data(), M, D_, next_norm, eps_, normed_.data(), D_);
  }

  // Final norm, then lm_head on the rows that need logits (embed sequences:
  // the sum of their normed rows instead).
  FinalNormAndHead(
      batch, row0, hidden_.data(), D_,
      [&](const float* x, int64_t rows, float* y) {
        kernels::RmsNorm(x, rows, D_, D_, norm_f_.data(), eps_, y, D_);
      },
      lm_head_, normed_.data(), &pool_, logits);
  return OkStatus();
}

}  // namespace

std::optional<Mamba1Weights> Mamba1WeightsOf(const Model& model) {
  const auto* m = dynamic_cast<const Mamba1Model*>(&model);
  if (m == nullptr) return std::nullopt;
  return m->Export();
}

StatusOr<std::unique_ptr<Model>> LoadMamba1(std::unique_ptr<io::TensorStore> store,
                                            const json::Value* config, const LoadOptions& options) {
  auto model = std::make_unique<Mamba1Model>(std::move(store), ResolveThreadCount(options));
  RS_RETURN_IF_ERROR(model->Init(config));
  return std::unique_ptr<Model>(std::move(model));
}

}  // namespace rs::engine
