#include "engine/models/mamba2.h"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "engine/models/common.h"
#include "kernels/cpu/gemm.h"
#include "kernels/cpu/mamba1_ops.h"
#include "kernels/cpu/mamba2_ops.h"
#include "kernels/cpu/rmsnorm.h"
#include "kernels/cpu/thread_pool.h"

namespace rs::engine {
namespace {

using kernels::WeightMatrix;

// Channels per conv task (as Mamba-1).
constexpr int64_t kChannelBlock = 64;

// What config.json says (either layout), with the defaults of both.
struct Mamba2Config {
  int64_t n_groups = 1;
  int64_t d_state = -1;   // -1: not given
  int64_t head_dim = -1;  // -1: not given
  int64_t n_layer = -1;   // -1: not given
  int64_t chunk_size = 256;
  float dt_min = 0.0f, dt_max = std::numeric_limits<float>::infinity();
  float eps = 1e-5f;        // block norms and norm_f
  float gated_eps = 1e-5f;  // the gated norm (HF: layer_norm_epsilon; original: 1e-5)
};

const json::Value* FindInt(const json::Value* obj, const char* key) {
  if (obj == nullptr) return nullptr;
  const json::Value* v = obj->Find(key);
  return v != nullptr && v->is_int() ? v : nullptr;
}

// A JSON number as a float, +-inf beyond float's range (Python's Infinity).
float ClampToFloat(double v) {
  if (v >= static_cast<double>(FLT_MAX)) return std::numeric_limits<float>::infinity();
  if (v <= -static_cast<double>(FLT_MAX)) return -std::numeric_limits<float>::infinity();
  return static_cast<float>(v);
}

StatusOr<Mamba2Config> ParseConfig(const json::Value* config) {
  Mamba2Config c;
  if (config == nullptr) return c;
  const json::Value* ssm = config->Find("ssm_cfg");
  const bool original = ssm != nullptr && ssm->is_object();
  const json::Value* src = original ? ssm : config;  // mixer settings
  const auto get_int = [&](const json::Value* obj, const char* key, int64_t* out) -> Status {
    if (obj == nullptr) return OkStatus();
    const json::Value* v = obj->Find(key);
    if (v == nullptr || v->is_null()) return OkStatus();
    if (!v->is_int() || v->AsInt() < 1) {
      return InvalidArgumentError(std::string("config.json: ") + key +
                                  " must be a positive integer");
    }
    *out = v->AsInt();
    return OkStatus();
  };
  RS_RETURN_IF_ERROR(get_int(src, original ? "ngroups" : "n_groups", &c.n_groups));
  RS_RETURN_IF_ERROR(get_int(src, original ? "d_state" : "state_size", &c.d_state));
  RS_RETURN_IF_ERROR(get_int(src, original ? "headdim" : "head_dim", &c.head_dim));
  RS_RETURN_IF_ERROR(get_int(src, "chunk_size", &c.chunk_size));
  RS_RETURN_IF_ERROR(get_int(config, original ? "n_layer" : "num_hidden_layers", &c.n_layer));
  if (original && c.d_state < 0) c.d_state = 128;  // mamba_ssm Mamba2's default
  if (const json::Value* lim = src->Find(original ? "dt_limit" : "time_step_limit");
      lim && !lim->is_null()) {
    if (!lim->is_array() || lim->AsArray().size() != 2 || !lim->AsArray()[0].is_number() ||
        !lim->AsArray()[1].is_number()) {
      return InvalidArgumentError("config.json: time_step_limit / dt_limit must be [min, max]");
    }
    c.dt_min = ClampToFloat(lim->AsArray()[0].AsDouble());
    c.dt_max = ClampToFloat(lim->AsArray()[1].AsDouble());
    if (!(c.dt_min <= c.dt_max) || c.dt_min < 0) {
      return InvalidArgumentError("config.json: time_step_limit must satisfy 0 <= min <= max");
    }
  }
  const char* eps_key = original ? "norm_epsilon" : "layer_norm_epsilon";
  if (const json::Value* e = config->Find(eps_key); e && e->is_number()) {
    c.eps = static_cast<float>(e->AsDouble());
    if (!original) c.gated_eps = c.eps;
  }
  // Features this model does not implement.
  if (const json::Value* v = src->Find("norm_before_gate"); v && v->is_bool() && v->AsBool()) {
    return UnimplementedError("Mamba-2 with norm_before_gate=true is not supported");
  }
  if (const json::Value* v = original ? ssm->Find("rmsnorm") : nullptr;
      v && v->is_bool() && !v->AsBool()) {
    return UnimplementedError(
        "Mamba-2 without the gated RMSNorm (ssm_cfg.rmsnorm=false) is not supported");
  }
  if (const json::Value* v = config->Find("rms_norm");
      original && v && v->is_bool() && !v->AsBool()) {
    return UnimplementedError("Mamba-2 with LayerNorm (rms_norm=false) is not supported");
  }
  if (const json::Value* v = FindInt(config, "d_intermediate"); v && v->AsInt() != 0) {
    return UnimplementedError("Mamba-2 with MLP blocks (d_intermediate=" +
                              std::to_string(v->AsInt()) + ") is not supported");
  }
  if (const json::Value* v = config->Find("attn_layer_idx");
      v && v->is_array() && !v->AsArray().empty()) {
    return UnimplementedError(
        "hybrid Mamba-2 with attention layers (attn_layer_idx) is not supported");
  }
  return c;
}

class Mamba2Model final : public Model {
 public:
  Mamba2Model(std::unique_ptr<io::TensorStore> store, int n_threads, const Mamba2Options& options)
      : store_(std::move(store)), weights_(store_.get()), pool_(n_threads), options_(options) {}

  Status Init(const json::Value* config);
  const ModelSpec& spec() const override { return spec_; }
  Mamba2Weights Export() const {
    Mamba2Weights w;
    w.D = D_, w.E = E_, w.H = H_, w.P = P_, w.G = G_, w.N = N_, w.K = K_, w.V = V_;
    w.Cx = Cx_, w.W = W_;
    w.eps = cfg_.eps;
    w.gated_eps = cfg_.gated_eps;
    w.dt_min = cfg_.dt_min;
    w.dt_max = cfg_.dt_max;
    w.chunk_size = cfg_.chunk_size;
    w.ssd_min_tokens = options_.ssd_min_tokens;
    w.embedding = embedding_;
    w.lm_head = lm_head_;
    w.norm_f = norm_f_;
    w.layers = layers_;
    return w;
  }
  Status Forward(const Batch& batch, StatePool& pool, Logits* logits) override;
  bool SupportsEmbed() const override { return true; }
  void ParallelFor(int n_tasks, const std::function<void(int)>& fn) override {
    pool_.ParallelFor(n_tasks, fn);
  }

 private:
  Status InitLayer(int64_t i, Mamba2Layer* L);
  void EnsureScratch(int64_t m_tokens);
  // Whether a sequence's chunk of T tokens takes the SSD form.
  bool TakesSsd(int64_t T) const {
    return options_.ssd_min_tokens > 0 && T >= options_.ssd_min_tokens;
  }
  // The mixer of layer L on the step's rows: normed_ (M, D) -> y_ (M, E).
  void Mixer(const Mamba2Layer& L, const Batch& batch, const std::vector<int64_t>& row0,
             StatePool& pool);

  std::unique_ptr<io::TensorStore> store_;
  WeightLoader weights_;  // owns converted copies of small/odd-dtype tensors
  kernels::ThreadPool pool_;
  Mamba2Options options_;
  ModelSpec spec_;
  Mamba2Config cfg_;
  // D_: d_model; E_: d_inner = H_ * P_; Cx_: conv channels E + 2GN; W_: in_proj rows.
  int64_t D_ = 0, E_ = 0, H_ = 0, P_ = 0, G_ = 0, N_ = 0, K_ = 0, V_ = 0, Cx_ = 0, W_ = 0;
  kernels::SsdParams ssd_;  // dimensions and limits; per-layer pointers set per layer
  int64_t ssd_chunk_ = 0;   // the SSD form's chunk length (see Mamba2Options)
  WeightMatrix embedding_, lm_head_;
  std::vector<float> norm_f_;
  std::vector<Mamba2Layer> layers_;

  // Scratch, grown on demand (token-major rows).
  int64_t scratch_rows_ = 0;
  int64_t ld_normed_ = 0, ld_y_ = 0;
  std::vector<float> hidden_, normed_, zxbcdt_, xbc_, y_, proj_;
};

Status Mamba2Model::InitLayer(int64_t i, Mamba2Layer* L) {
  WeightLoader& w = weights_;
  const std::string p = "backbone.layers." + std::to_string(i) + ".";
  RS_ASSIGN_OR_RETURN(L->norm, w.Vector(p + "norm.weight", D_));
  RS_ASSIGN_OR_RETURN(L->in_proj, w.Matrix(p + "mixer.in_proj.weight", W_, D_));
  RS_ASSIGN_OR_RETURN(L->in_bias, w.OptionalVector(p + "mixer.in_proj.bias", W_));
  const Tensor* conv = store_->Find(p + "mixer.conv1d.weight");
  if (conv == nullptr) return InvalidArgumentError("missing tensor " + p + "mixer.conv1d.weight");
  if (conv->rank() != 3 || conv->dim(0) != Cx_ || conv->dim(1) != 1 || conv->dim(2) != K_) {
    return InvalidArgumentError(p + "mixer.conv1d.weight has shape " + conv->ShapeString() +
                                ", expected [" + std::to_string(Cx_) + ", 1, " +
                                std::to_string(K_) + "]");
  }
  std::vector<float> conv_ck;
  RS_ASSIGN_OR_RETURN(conv_ck, w.Vector(p + "mixer.conv1d.weight", Cx_ * K_));
  L->conv_w.resize(static_cast<size_t>(Cx_ * K_));
  for (int64_t c = 0; c < Cx_; ++c) {
    for (int64_t j = 0; j < K_; ++j)
      L->conv_w[static_cast<size_t>(j * Cx_ + c)] = conv_ck[static_cast<size_t>(c * K_ + j)];
  }
  RS_ASSIGN_OR_RETURN(L->conv_b, w.OptionalVector(p + "mixer.conv1d.bias", Cx_));
  RS_ASSIGN_OR_RETURN(L->dt_bias, w.Vector(p + "mixer.dt_bias", H_));
  std::vector<float> a_log;
  RS_ASSIGN_OR_RETURN(a_log, w.Vector(p + "mixer.A_log", H_));
  L->A.resize(a_log.size());
  for (size_t h = 0; h < a_log.size(); ++h) L->A[h] = -std::exp(a_log[h]);
  // D: one per head (mamba_ssm's default) or one per channel (D_has_hdim).
  const Tensor* d = store_->Find(p + "mixer.D");
  if (d == nullptr) return InvalidArgumentError("missing tensor " + p + "mixer.D");
  std::vector<float> dv;
  RS_ASSIGN_OR_RETURN(dv, w.Vector(p + "mixer.D", d->numel() == E_ ? E_ : H_));
  L->D.resize(static_cast<size_t>(E_));
  for (int64_t c = 0; c < E_; ++c)
    L->D[static_cast<size_t>(c)] = dv.size() == static_cast<size_t>(E_)
                                       ? dv[static_cast<size_t>(c)]
                                       : dv[static_cast<size_t>(c / P_)];
  RS_ASSIGN_OR_RETURN(L->gnorm, w.Vector(p + "mixer.norm.weight", E_));
  RS_ASSIGN_OR_RETURN(L->out_proj, w.Matrix(p + "mixer.out_proj.weight", D_, E_));
  RS_ASSIGN_OR_RETURN(L->out_bias, w.OptionalVector(p + "mixer.out_proj.bias", D_));
  return OkStatus();
}

Status Mamba2Model::Init(const json::Value* config) {
  RS_ASSIGN_OR_RETURN(cfg_, ParseConfig(config));
  WeightLoader& w = weights_;
  RS_ASSIGN_OR_RETURN(MambaBackbone backbone, LoadMambaBackbone(*store_, w, "Mamba-2"));
  embedding_ = backbone.embedding;
  lm_head_ = backbone.lm_head;
  norm_f_ = std::move(backbone.norm_f);
  V_ = backbone.vocab;
  D_ = backbone.d_model;
  const int64_t n_layer = backbone.n_layer;
  if (cfg_.n_layer > 0 && cfg_.n_layer != n_layer) {
    return InvalidArgumentError("config.json says " + std::to_string(cfg_.n_layer) +
                                " layers but the checkpoint has " + std::to_string(n_layer));
  }

  // Dimensions from layer 0's shapes (every layer is checked against them).
  const std::string p0 = "backbone.layers.0.mixer.";
  const Tensor* alog = store_->Find(p0 + "A_log");
  if (alog->numel() < 1 || alog->rank() != 1) {
    return InvalidArgumentError(p0 + "A_log has shape " + alog->ShapeString() +
                                ", expected [n_heads] (Mamba-2)");
  }
  H_ = alog->numel();
  const Tensor* out = store_->Find(p0 + "out_proj.weight");
  if (out == nullptr || out->rank() != 2)
    return InvalidArgumentError("missing or malformed tensor " + p0 + "out_proj.weight");
  E_ = out->dim(1);
  const Tensor* conv = store_->Find(p0 + "conv1d.weight");
  if (conv == nullptr || conv->rank() != 3 || conv->dim(2) < 1 || conv->dim(2) > 16) {
    return InvalidArgumentError("missing or malformed tensor " + p0 +
                                "conv1d.weight (expected [conv_dim, 1, d_conv])");
  }
  Cx_ = conv->dim(0);
  K_ = conv->dim(2);
  G_ = cfg_.n_groups;
  const int64_t two_gn = Cx_ - E_;
  if (E_ % H_ != 0 || two_gn <= 0 || two_gn % (2 * G_) != 0 || H_ % G_ != 0) {
    return InvalidArgumentError("inconsistent Mamba-2 dimensions: d_inner " + std::to_string(E_) +
                                ", " + std::to_string(H_) + " heads, conv_dim " +
                                std::to_string(Cx_) + ", n_groups " + std::to_string(G_) +
                                " (need d_inner % heads == 0, heads % n_groups == 0, "
                                "conv_dim - d_inner = 2 * n_groups * d_state)");
  }
  P_ = E_ / H_;
  N_ = two_gn / (2 * G_);
  if (cfg_.d_state > 0 && cfg_.d_state != N_) {
    return InvalidArgumentError("config.json says d_state " + std::to_string(cfg_.d_state) +
                                " but the tensors give " + std::to_string(N_) + " (with n_groups " +
                                std::to_string(G_) + ")");
  }
  if (cfg_.head_dim > 0 && cfg_.head_dim != P_) {
    return InvalidArgumentError("config.json says head_dim " + std::to_string(cfg_.head_dim) +
                                " but the tensors give " + std::to_string(P_));
  }
  W_ = 2 * E_ + 2 * G_ * N_ + H_;
  if (const Tensor* in = store_->Find(p0 + "in_proj.weight");
      in != nullptr && in->rank() == 2 && in->dim(0) > W_) {
    return UnimplementedError(
        "Mamba-2 with a gated MLP inside the mixer (d_ssm < d_inner: in_proj has " +
        std::to_string(in->dim(0)) + " rows, expected " + std::to_string(W_) +
        ") is not supported");
  }

  layers_.resize(static_cast<size_t>(n_layer));
  for (int64_t i = 0; i < n_layer; ++i) {
    const std::string p = "backbone.layers." + std::to_string(i) + ".mixer.";
    const Tensor* a = store_->Find(p + "A_log");
    if (a->rank() != 1 || a->numel() != H_) {
      return InvalidArgumentError(p + "A_log has shape " + a->ShapeString() + ", expected [" +
                                  std::to_string(H_) + "]");
    }
    RS_RETURN_IF_ERROR(InitLayer(i, &layers_[static_cast<size_t>(i)]));
  }

  ssd_.H = H_;
  ssd_.P = P_;
  ssd_.G = G_;
  ssd_.N = N_;
  ssd_.dt_min = cfg_.dt_min;
  ssd_.dt_max = cfg_.dt_max;
  ssd_chunk_ = options_.ssd_max_chunk > 0 ? std::min(cfg_.chunk_size, options_.ssd_max_chunk)
                                          : cfg_.chunk_size;

  spec_.arch = Arch::kMamba2;
  spec_.d_model = D_;
  spec_.n_layer = n_layer;
  spec_.vocab_size = V_;
  spec_.weight_dtype = WeightTypeName(layers_[0].in_proj.type);
  spec_.weight_bytes = w.weight_bytes();
  spec_.matmul_params_per_token = lm_head_.n * lm_head_.k;
  spec_.decode_bytes_per_step = MatrixBytes(lm_head_);
  for (const Mamba2Layer& L : layers_) {
    for (const WeightMatrix* m : {&L.in_proj, &L.out_proj}) {
      spec_.matmul_params_per_token += m->n * m->k;
      spec_.decode_bytes_per_step += MatrixBytes(*m);
    }
  }
  for (int64_t i = 0; i < n_layer; ++i) {
    Mamba2Layer& L = layers_[static_cast<size_t>(i)];
    L.conv_off = spec_.state.Add("layers." + std::to_string(i) + ".conv", static_cast<int>(i),
                                 {K_ - 1, Cx_});
    L.ssm_off =
        spec_.state.Add("layers." + std::to_string(i) + ".ssm", static_cast<int>(i), {H_, P_, N_});
  }
  const auto fmt = [](float v) { return std::isinf(v) ? std::string("inf") : std::to_string(v); };
  spec_.details = "d_model=" + std::to_string(D_) + " n_layer=" + std::to_string(n_layer) +
                  " d_inner=" + std::to_string(E_) + " n_heads=" + std::to_string(H_) +
                  " head_dim=" + std::to_string(P_) + " n_groups=" + std::to_string(G_) +
                  " d_state=" + std::to_string(N_) + " d_conv=" + std::to_string(K_) +
                  " chunk_size=" + std::to_string(cfg_.chunk_size) + " dt_limit=[" +
                  fmt(cfg_.dt_min) + "," + fmt(cfg_.dt_max) + "] vocab=" + std::to_string(V_) +
                  " tied_lm_head=" + (lm_head_.data == embedding_.data ? "true" : "false");
  spec_.fingerprint = Fingerprint("mamba2", spec_.details, *store_);
  return OkStatus();
}

void Mamba2Model::EnsureScratch(int64_t m) {
  if (m <= scratch_rows_) return;
  scratch_rows_ = std::max<int64_t>(m, 16);
  const auto rows = static_cast<size_t>(scratch_rows_);
  ld_normed_ = kernels::ActivationStride(D_);
  ld_y_ = kernels::ActivationStride(E_);
  hidden_.resize(rows * static_cast<size_t>(D_));
  proj_.resize(rows * static_cast<size_t>(D_));
  normed_.resize(rows * static_cast<size_t>(std::max(ld_normed_, D_)));
  zxbcdt_.resize(rows * static_cast<size_t>(W_));
  xbc_.resize(rows * static_cast<size_t>(Cx_));
  y_.resize(rows * static_cast<size_t>(ld_y_));
}

void Mamba2Model::Mixer(const Mamba2Layer& L, const Batch& batch, const std::vector<int64_t>& row0,
                        StatePool& pool) {
  const size_t n_seq = batch.seqs.size();
  const int64_t M = row0[n_seq];
  // zxbcdt: (M, W) = normed · in_projᵀ; z = [:, :E], xBC = [:, E:E+Cx], dt = [:, E+Cx:].
  kernels::Gemm(normed_.data(), M, ld_normed_, L.in_proj,
                L.in_bias.empty() ? nullptr : L.in_bias.data(), zxbcdt_.data(), W_, &pool_);
  // xbc: (M, Cx) = silu(conv(xBC)), per sequence with its own conv state.
  // Prefill chunks: about 4 tasks per thread over all sequences, each a wide
  // column strip (rows are W_ floats apart, so wider strips read more of each
  // row per visit; 64 -> 224 channels: 13.5-15.8 -> 10.2-10.7 ms of conv per
  // 512-token prefill of mamba2-130m, 2 threads). Decode steps: coarse
  // blocks, as thousands of tiny tasks would cost more than their work.
  const int64_t tasks = 4 * static_cast<int64_t>(pool_.size());
  const int64_t strip = ((Cx_ * static_cast<int64_t>(n_seq) + tasks - 1) / tasks + 15) / 16 * 16;
  const int64_t block =
      M >= 4 * static_cast<int64_t>(n_seq)
          ? std::clamp<int64_t>(strip, kChannelBlock, std::max(kChannelBlock, Cx_))
          : 4 * kChannelBlock;
  const int64_t n_blocks = (Cx_ + block - 1) / block;
  pool_.ParallelFor(static_cast<int>(n_seq * n_blocks), [&](int task) {
    const size_t s = static_cast<size_t>(task / n_blocks);
    const int64_t c0 = (task % n_blocks) * block, c1 = std::min(Cx_, c0 + block);
    const int64_t r = row0[s], T = row0[s + 1] - r;
    float* st = pool.SlotData(batch.seqs[s].slot) + L.conv_off;
    kernels::CausalConv1dSilu(&zxbcdt_[static_cast<size_t>(r * W_ + E_)], T, W_, Cx_,
                              static_cast<int>(K_), L.conv_w.data(),
                              L.conv_b.empty() ? nullptr : L.conv_b.data(), st,
                              &xbc_[static_cast<size_t>(r * Cx_)], Cx_, c0, c1);
  });
  // y: (M, E) = SSD per sequence and head block, with the sequence's SSM state.
  kernels::SsdParams q = ssd_;
  q.dt_bias = L.dt_bias.data();
  q.A = L.A.data();
  q.D = L.D.data();
  const int threads = pool_.size();
  // Head blocks: enough tasks for the threads; whole groups where possible
  // (SsdChunked computes C·Bᵀ once per group and call). Results do not
  // depend on the blocking.
  // A lone sequence in the SSD form: one task per thread, as each task
  // recomputes its group's C·Bᵀ per chunk.
  const bool lone_ssd = n_seq == 1 && TakesSsd(M);
  const int64_t per_thread = lone_ssd ? 1 : 2;
  const int64_t tasks_per_seq = std::min<int64_t>(
      H_, std::max<int64_t>(1, (per_thread * threads + static_cast<int64_t>(n_seq) - 1) /
                                   static_cast<int64_t>(n_seq)));
  const int64_t heads_per_task = (H_ + tasks_per_seq - 1) / tasks_per_seq;
  const int64_t head_blocks = (H_ + heads_per_task - 1) / heads_per_task;
  pool_.ParallelFor(static_cast<int>(n_seq * head_blocks), [&](int task) {
    const size_t s = static_cast<size_t>(task / head_blocks);
    const int64_t h0 = (task % head_blocks) * heads_per_task,
                  h1 = std::min(H_, h0 + heads_per_task);
    const int64_t r = row0[s], T = row0[s + 1] - r;
    kernels::SsdInputs in;
    in.T = T;
    in.x = &xbc_[static_cast<size_t>(r * Cx_)];
    in.ldx = Cx_;
    in.B = in.x + E_;
    in.C = in.x + E_ + G_ * N_;
    in.ldbc = Cx_;
    in.dt = &zxbcdt_[static_cast<size_t>(r * W_ + E_ + Cx_)];
    in.ldd = W_;
    float* S = pool.SlotData(batch.seqs[s].slot) + L.ssm_off;
    float* y = &y_[static_cast<size_t>(r * ld_y_)];
    if (TakesSsd(T)) {
      kernels::SsdChunked(q, in, ssd_chunk_, S, y, ld_y_, h0, h1);
    } else {
      kernels::SsdScan(q, in, S, y, ld_y_, h0, h1);
    }
  });
  // y = GroupRMSNorm(y ⊙ silu(z)) ⊙ w, in place, rows in parallel.
  constexpr int64_t kRowsPerTask = 16;
  const int64_t row_tasks = (M + kRowsPerTask - 1) / kRowsPerTask;
  pool_.ParallelFor(static_cast<int>(row_tasks), [&](int task) {
    const int64_t m0 = task * kRowsPerTask, m1 = std::min(M, m0 + kRowsPerTask);
    float* y = &y_[static_cast<size_t>(m0 * ld_y_)];
    kernels::GatedRmsNorm(y, ld_y_, &zxbcdt_[static_cast<size_t>(m0 * W_)], W_, m1 - m0, E_, G_,
                          L.gnorm.data(), cfg_.gated_eps, y, ld_y_);
  });
}

Status Mamba2Model::Forward(const Batch& batch, StatePool& pool, Logits* logits) {
  RS_RETURN_IF_ERROR(ValidateBatch(batch, pool, spec_));
  const size_t n_seq = batch.seqs.size();
  const std::vector<int64_t> row0 = TokenRowStarts(batch);  // first token row of each sequence
  const int64_t M = row0[n_seq];
  EnsureScratch(M);

  // h: (M, D) embeddings, the fp32 residual stream.
  EmbedTokens(embedding_, batch, row0, hidden_.data(), D_);
  // Between layers: h += the previous layer's out_proj (proj_; normed_ may
  // have a padded stride), then the next layer's RmsNorm into normed_.
  ResidualAndRmsNorm(pool_, hidden_.data(), nullptr, M, D_, layers_[0].norm.data(), cfg_.eps,
                     normed_.data(), ld_normed_);
  for (size_t i = 0; i < layers_.size(); ++i) {
    const Mamba2Layer& L = layers_[i];
    Mixer(L, batch, row0, pool);
    kernels::Gemm(y_.data(), M, ld_y_, L.out_proj, L.out_bias.empty() ? nullptr : L.out_bias.data(),
                  proj_.data(), D_, &pool_);
    const float* next_norm = i + 1 < layers_.size() ? layers_[i + 1].norm.data() : nullptr;
    ResidualAndRmsNorm(pool_, hidden_.data(), proj_.data(), M, D_, next_norm, cfg_.eps,
                       normed_.data(), ld_normed_);
  }

  // Final norm, then lm_head on the rows that need logits (embed sequences:
  // the sum of their normed rows instead).
  FinalNormAndHead(
      batch, row0, hidden_.data(), D_,
      [&](const float* x, int64_t rows, float* y) {
        kernels::RmsNorm(x, rows, D_, D_, norm_f_.data(), cfg_.eps, y, D_);
      },
      lm_head_, normed_.data(), &pool_, logits);
  return OkStatus();
}

}  // namespace

std::optional<Mamba2Weights> Mamba2WeightsOf(const Model& model) {
  const auto* m = dynamic_cast<const Mamba2Model*>(&model);
  if (m == nullptr) return std::nullopt;
  return m->Export();
}

StatusOr<std::unique_ptr<Model>> LoadMamba2(std::unique_ptr<io::TensorStore> store,
                                            const json::Value* config, const LoadOptions& options,
                                            const Mamba2Options& mamba2_options) {
  auto model =
      std::make_unique<Mamba2Model>(std::move(store), ResolveThreadCount(options), mamba2_options);
  RS_RETURN_IF_ERROR(model->Init(config));
  return std::unique_ptr<Model>(std::move(model));
}

}  // namespace rs::engine
