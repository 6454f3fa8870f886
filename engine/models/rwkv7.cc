#include "engine/models/rwkv7.h"

#include <algorithm>

#include "engine/models/rwkv_common.h"
#include "kernels/cpu/gemm_kmajor.h"
#include "kernels/cpu/rwkv_ops.h"

namespace rs::engine {
namespace {

using kernels::WeightMatrix;

class Rwkv7Model final : public RwkvModel {
 public:
  Rwkv7Model(std::unique_ptr<io::TensorStore> store, int n_threads)
      : RwkvModel(std::move(store), n_threads) {}

  Rwkv7Weights Export() const { return Rwkv7Weights{this, &att_, Dw_, Da_, Dv_, Dg_}; }

  Status Init() {
    const Tensor* rk = store_->Find("blocks.0.att.r_k");
    if (rk == nullptr || rk->rank() != 2) {
      return InvalidArgumentError("blocks.0.att.r_k missing or not [n_head, head_size]");
    }
    return InitCommon(Arch::kRwkv7, "rwkv7", rk->dim(0), rk->dim(1));
  }

 private:
  Status InitTimeMix(int64_t layer, const std::string& p) override;
  std::string TimeMixDetails() const override;
  void EnsureTimeMixScratch(int64_t rows) override;
  void TimeMix(int64_t layer, const Step& step, const float* x, float* out) override;

  std::vector<Rwkv7TimeMix> att_;
  int64_t Dw_ = 0, Da_ = 0, Dv_ = 0, Dg_ = 0;
  std::vector<float> mix_, r_, w_, k_, v_, a_, vg_, g_, v_first_, y_, lora_;
};

Status Rwkv7Model::InitTimeMix(int64_t layer, const std::string& p) {
  WeightLoader& w = weights_;
  att_.resize(static_cast<size_t>(layer) + 1);
  Rwkv7TimeMix& A = att_.back();
  const std::string a = p + "att.";
  for (int j = 0; j < kNumMix; ++j) {
    RS_ASSIGN_OR_RETURN(A.mix[j], w.Vector(a + kRwkv7MixNames[j], C_));
  }
  RS_ASSIGN_OR_RETURN(A.w0, w.Vector(a + "w0", C_));
  RS_ASSIGN_OR_RETURN(A.a0, w.Vector(a + "a0", C_));
  RS_ASSIGN_OR_RETURN(A.k_k, w.Vector(a + "k_k", C_));
  RS_ASSIGN_OR_RETURN(A.k_a, w.Vector(a + "k_a", C_));
  RS_ASSIGN_OR_RETURN(A.r_k, w.Vector2D(a + "r_k", H_, N_));
  const bool first = layer == 0;
  RS_ASSIGN_OR_RETURN(A.w1, w.TransposedMatrix(a + "w1", C_, first ? -1 : Dw_));
  RS_ASSIGN_OR_RETURN(A.w2, w.KMajor(a + "w2", A.w1.n, C_));
  RS_ASSIGN_OR_RETURN(A.a1, w.TransposedMatrix(a + "a1", C_, first ? -1 : Da_));
  RS_ASSIGN_OR_RETURN(A.a2, w.KMajor(a + "a2", A.a1.n, C_));
  RS_ASSIGN_OR_RETURN(A.g1, w.TransposedMatrix(a + "g1", C_, first ? -1 : Dg_));
  RS_ASSIGN_OR_RETURN(A.g2, w.KMajor(a + "g2", A.g1.n, C_));
  if (first) {
    Dw_ = A.w1.n;
    Da_ = A.a1.n;
    Dg_ = A.g1.n;
  } else {  // the value residual (blocks.0's v0/v1/v2, if any, are unused)
    RS_ASSIGN_OR_RETURN(A.v0, w.Vector(a + "v0", C_));
    RS_ASSIGN_OR_RETURN(A.v1, w.TransposedMatrix(a + "v1", C_, layer == 1 ? -1 : Dv_));
    RS_ASSIGN_OR_RETURN(A.v2, w.KMajor(a + "v2", A.v1.n, C_));
    Dv_ = A.v1.n;
    CountMatrix(A.v1);
    CountMatrix(A.v2);
  }
  for (const WeightMatrix* m : {&A.w1, &A.a1, &A.g1}) CountMatrix(*m);
  for (const KMajorMatrix* m : {&A.w2, &A.a2, &A.g2}) CountMatrix(*m);
  return OkStatus();
}

std::string Rwkv7Model::TimeMixDetails() const {
  return "lora_w=" + std::to_string(Dw_) + " lora_a=" + std::to_string(Da_) +
         " lora_v=" + std::to_string(Dv_) + " lora_g=" + std::to_string(Dg_);
}

void Rwkv7Model::EnsureTimeMixScratch(int64_t rows) {
  const auto n = static_cast<size_t>(rows * C_);
  mix_.resize(n * kNumMix);
  for (std::vector<float>* b : {&r_, &w_, &k_, &v_, &a_, &vg_, &g_, &v_first_, &y_}) b->resize(n);
  lora_.resize(static_cast<size_t>(rows * (Dw_ + Da_ + Dv_ + Dg_)));
}

void Rwkv7Model::TimeMix(int64_t layer, const Step& step, const float* x, float* out) {
  const Rwkv7TimeMix& A = att_[static_cast<size_t>(layer)];
  const Block& b = blocks_[static_cast<size_t>(layer)];
  const int64_t M = step.M, C = C_, ldm = kNumMix * C_;
  const float* mixes[kNumMix];
  for (int j = 0; j < kNumMix; ++j) mixes[j] = A.mix[j].data();
  for (size_t s = 0; s < step.n_seq(); ++s) {
    const int64_t r = step.row0[s];
    kernels::TokenShiftMix(x + r * C, step.T(s), C, C, step.State(s, b.att_shift_off), kNumMix,
                           mixes, &mix_[static_cast<size_t>(r * ldm)], C, ldm);
  }
  const auto col = [&](Rwkv7Mix j) { return mix_.data() + j * C; };
  kernels::ThreadPool* pool = &pool_;
  // One parallel region for r, k, v and the four LoRA down-projections
  // (each into its own slice of lora_, rows of Dw + Da + Dv + Dg), then
  // w = tanh(xw·w1)·w2; a = (xa·a1)·a2; vg = (xv·v1)·v2; g = sigmoid(xg·g1)·g2.
  const int64_t ldl = Dw_ + Da_ + Dv_ + Dg_;
  float* lw = lora_.data();
  float* la = lw + Dw_;
  float* lv = la + Da_;
  float* lg = lv + Dv_;
  // The value-residual LoRA (v1) exists from layer 1 on: the last job.
  const kernels::GemmJob jobs[] = {{col(kR), M, ldm, &b.att_receptance, nullptr, r_.data(), C},
                                   {col(kK), M, ldm, &b.att_key, nullptr, k_.data(), C},
                                   {col(kV), M, ldm, &b.att_value, nullptr, v_.data(), C},
                                   {col(kW), M, ldm, &A.w1, nullptr, lw, ldl},
                                   {col(kA), M, ldm, &A.a1, nullptr, la, ldl},
                                   {col(kG), M, ldm, &A.g1, nullptr, lg, ldl},
                                   {col(kV), M, ldm, &A.v1, nullptr, lv, ldl}};
  kernels::GemmMany(std::span<const kernels::GemmJob>(jobs, layer > 0 ? 7 : 6), pool);
  ForRows(M, [&](int64_t m0, int64_t m1) {
    kernels::Activate(kernels::Activation::kTanh, lw + m0 * ldl, m1 - m0, Dw_, ldl);
    kernels::Activate(kernels::Activation::kSigmoid, lg + m0 * ldl, m1 - m0, Dg_, ldl);
  });
  const auto up = [&](const float* in, const KMajorMatrix& m, std::vector<float>& dst) {
    kernels::GemmKMajor(in, M, ldl, m.data.data(), m.k, m.n, nullptr, dst.data(), C, pool);
  };
  up(lw, A.w2, w_);
  up(la, A.a2, a_);
  if (layer > 0) up(lv, A.v2, vg_);
  up(lg, A.g2, g_);

  ForRows(M, [&](int64_t m0, int64_t m1) {
    const size_t o = static_cast<size_t>(m0 * C);
    kernels::Rwkv7Prepare(m1 - m0, H_, N_, C, &w_[o], A.w0.data(), &a_[o], A.a0.data(), &k_[o],
                          A.k_k.data(), A.k_a.data(), &v_[o], &vg_[o], A.v0.data(), &v_first_[o],
                          layer == 0);
  });
  ForSeqHeads(step, [&](size_t s, int64_t h0, int64_t h1) {
    const size_t o = static_cast<size_t>(step.row0[s] * C);
    kernels::Wkv7(step.T(s), N_, &r_[o], &w_[o], &k_[o], &v_[o], &a_[o], &vg_[o], C,
                  step.State(s, b.wkv_off), &y_[o], C, h0, h1);
  });
  ForRows(M, [&](int64_t m0, int64_t m1) {
    const size_t o = static_cast<size_t>(m0 * C);
    kernels::Rwkv7Output(m1 - m0, H_, N_, &y_[o], C, &r_[o], &k_[o], &v_[o], C, A.r_k.data(),
                         &g_[o], C, b.ln_x_w.data(), b.ln_x_b.data(), kRwkv7GroupNormEps);
  });
  kernels::Gemm(y_.data(), M, C, b.att_output, nullptr, out, C, pool);
}

}  // namespace

std::optional<Rwkv7Weights> Rwkv7WeightsOf(const Model& model) {
  const auto* m = dynamic_cast<const Rwkv7Model*>(&model);
  if (m == nullptr) return std::nullopt;
  return m->Export();
}

StatusOr<std::unique_ptr<Model>> LoadRwkv7(std::unique_ptr<io::TensorStore> store,
                                           const LoadOptions& options) {
  return BuildRwkvModel<Rwkv7Model>(std::move(store), options);
}

}  // namespace rs::engine
