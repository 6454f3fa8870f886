#include "engine/models/rwkv6.h"

#include <algorithm>

#include "engine/models/rwkv_common.h"
#include "kernels/cpu/gemm_kmajor.h"
#include "kernels/cpu/rwkv_ops.h"

namespace rs::engine {
namespace {

using kernels::WeightMatrix;

constexpr const char* kMaaNames[kNumMaa] = {"time_maa_w", "time_maa_k", "time_maa_v", "time_maa_r",
                                            "time_maa_g"};

class Rwkv6Model final : public RwkvModel {
 public:
  Rwkv6Model(std::unique_ptr<io::TensorStore> store, int n_threads)
      : RwkvModel(std::move(store), n_threads) {}

  Rwkv6Weights Export() const { return Rwkv6Weights{this, &att_, Dm_, Dd_}; }

  Status Init() {
    const Tensor* u = store_->Find("blocks.0.att.time_faaaa");
    if (u == nullptr || u->rank() != 2 || u->dim(0) <= 0 || u->dim(1) <= 0) {
      return InvalidArgumentError(
          "blocks.0.att.time_faaaa missing or not [n_head, head_size]" +
          (u == nullptr ? std::string() : " (shape " + u->ShapeString() + ")"));
    }
    return InitCommon(Arch::kRwkv6, "rwkv6", u->dim(0), u->dim(1));
  }

 private:
  Status InitTimeMix(int64_t layer, const std::string& p) override;
  std::string TimeMixDetails() const override;
  void EnsureTimeMixScratch(int64_t rows) override;
  void TimeMix(int64_t layer, const Step& step, const float* x, float* out) override;

  std::vector<Rwkv6TimeMix> att_;
  int64_t Dm_ = 0, Dd_ = 0;
  std::vector<float> dx_, xxx_, mix_, r_, k_, v_, g_, w_, y_, lora_;
};

Status Rwkv6Model::InitTimeMix(int64_t layer, const std::string& p) {
  WeightLoader& w = weights_;
  att_.resize(static_cast<size_t>(layer) + 1);
  Rwkv6TimeMix& A = att_.back();
  const std::string a = p + "att.";
  RS_ASSIGN_OR_RETURN(A.maa_x, w.Vector(a + "time_maa_x", C_));
  for (int j = 0; j < kNumMaa; ++j) {
    RS_ASSIGN_OR_RETURN(A.maa[j], w.Vector(a + kMaaNames[j], C_));
  }
  RS_ASSIGN_OR_RETURN(A.time_decay, w.Vector(a + "time_decay", C_));
  RS_ASSIGN_OR_RETURN(A.time_faaaa, w.Vector2D(a + "time_faaaa", H_, N_));
  RS_ASSIGN_OR_RETURN(A.gate, w.Matrix(a + "gate.weight", C_, C_));

  const bool first = layer == 0;
  const std::string w1_name = a + "time_maa_w1";
  RS_ASSIGN_OR_RETURN(A.maa_w1, w.TransposedMatrix(w1_name, C_, first ? -1 : kNumMaa * Dm_));
  if (first) {
    if (A.maa_w1.n % kNumMaa != 0) {
      return InvalidArgumentError("tensor " + w1_name + " has " + std::to_string(A.maa_w1.n) +
                                  " columns, expected 5 x the token-shift LoRA rank");
    }
    Dm_ = A.maa_w1.n / kNumMaa;
  }
  // time_maa_w2 (5, Dm, C): five `x @ W` up-projections, one per mix.
  const std::string w2_name = a + "time_maa_w2";
  const Tensor* w2 = store_->Find(w2_name);
  if (w2 == nullptr) return InvalidArgumentError("missing tensor " + w2_name);
  if (w2->rank() != 3 || w2->dim(0) != kNumMaa || w2->dim(1) != Dm_ || w2->dim(2) != C_) {
    return InvalidArgumentError("tensor " + w2_name + " has shape " + w2->ShapeString() +
                                ", expected [5, " + std::to_string(Dm_) + ", " +
                                std::to_string(C_) + "]");
  }
  RS_ASSIGN_OR_RETURN(A.maa_w2, w.Vector(w2_name, kNumMaa * Dm_ * C_));

  RS_ASSIGN_OR_RETURN(A.decay_w1, w.TransposedMatrix(a + "time_decay_w1", C_, first ? -1 : Dd_));
  if (first) Dd_ = A.decay_w1.n;
  RS_ASSIGN_OR_RETURN(A.decay_w2, w.KMajor(a + "time_decay_w2", Dd_, C_));

  for (const WeightMatrix* m : {&A.gate, &A.maa_w1, &A.decay_w1}) {
    CountMatrix(*m);
  }
  CountMatrix(A.decay_w2);
  CountMatrix(KMajorMatrix{{}, kNumMaa * Dm_, C_});  // maa_w2: counted as one (5·Dm, C) matrix
  return OkStatus();
}

std::string Rwkv6Model::TimeMixDetails() const {
  return "lora_maa=" + std::to_string(Dm_) + " lora_decay=" + std::to_string(Dd_);
}

void Rwkv6Model::EnsureTimeMixScratch(int64_t rows) {
  const auto n = static_cast<size_t>(rows * C_);
  mix_.resize(n * kNumMaa);
  for (std::vector<float>* b : {&dx_, &xxx_, &r_, &k_, &v_, &g_, &w_, &y_}) b->resize(n);
  lora_.resize(static_cast<size_t>(rows * std::max(kNumMaa * Dm_, Dd_)));
}

void Rwkv6Model::TimeMix(int64_t layer, const Step& step, const float* x, float* out) {
  const Rwkv6TimeMix& A = att_[static_cast<size_t>(layer)];
  const Block& b = blocks_[static_cast<size_t>(layer)];
  const int64_t M = step.M, C = C_, ldm = kNumMaa * C_, ldl = kNumMaa * Dm_;
  kernels::ThreadPool* pool = &pool_;
  // dx = x_prev - x; xxx = x + dx·maa_x.
  for (size_t s = 0; s < step.n_seq(); ++s) {
    const int64_t r = step.row0[s];
    kernels::Rwkv6TokenShift(x + r * C, step.T(s), C, C, step.State(s, b.att_shift_off),
                             A.maa_x.data(), &dx_[static_cast<size_t>(r * C)],
                             &xxx_[static_cast<size_t>(r * C)], C);
  }
  // m_j = tanh(xxx·maa_w1)_j · maa_w2[j], then the five mixes in place.
  kernels::Gemm(xxx_.data(), M, C, A.maa_w1, nullptr, lora_.data(), ldl, pool);
  ForRows(M, [&](int64_t m0, int64_t m1) {
    kernels::Activate(kernels::Activation::kTanh, &lora_[static_cast<size_t>(m0 * ldl)], m1 - m0,
                      ldl, ldl);
  });
  for (int j = 0; j < kNumMaa; ++j) {
    kernels::GemmKMajor(lora_.data() + j * Dm_, M, ldl, A.maa_w2.data() + j * Dm_ * C, Dm_, C,
                        nullptr, mix_.data() + j * C, ldm, pool);
  }
  const float* maa[kNumMaa];
  for (int j = 0; j < kNumMaa; ++j) maa[j] = A.maa[j].data();
  ForRows(M, [&](int64_t m0, int64_t m1) {
    const size_t o = static_cast<size_t>(m0 * C);
    kernels::Rwkv6Mix(m1 - m0, C, x + o, &dx_[o], C, maa, &mix_[static_cast<size_t>(m0 * ldm)],
                      ldm);
  });

  const auto col = [&](Rwkv6Mix j) { return mix_.data() + j * C; };
  // r, k, v, gate and the decay LoRA's down-projection in one parallel
  // region; then w = exp(-exp(time_decay + tanh(xw·decay_w1)·decay_w2)).
  const kernels::GemmJob jobs[] = {{col(kMaaR), M, ldm, &b.att_receptance, nullptr, r_.data(), C},
                                   {col(kMaaK), M, ldm, &b.att_key, nullptr, k_.data(), C},
                                   {col(kMaaV), M, ldm, &b.att_value, nullptr, v_.data(), C},
                                   {col(kMaaG), M, ldm, &A.gate, nullptr, g_.data(), C},
                                   {col(kMaaW), M, ldm, &A.decay_w1, nullptr, lora_.data(), Dd_}};
  kernels::GemmMany(jobs, pool);
  ForRows(M, [&](int64_t m0, int64_t m1) {
    kernels::Activate(kernels::Activation::kTanh, &lora_[static_cast<size_t>(m0 * Dd_)], m1 - m0,
                      Dd_, Dd_);
  });
  kernels::GemmKMajor(lora_.data(), M, Dd_, A.decay_w2.data.data(), Dd_, C, nullptr, w_.data(), C,
                      pool);
  ForRows(M, [&](int64_t m0, int64_t m1) {
    kernels::Rwkv6Decay(m1 - m0, C, &w_[static_cast<size_t>(m0 * C)], C, A.time_decay.data());
  });

  ForSeqHeads(step, [&](size_t s, int64_t h0, int64_t h1) {
    const size_t o = static_cast<size_t>(step.row0[s] * C);
    kernels::Wkv6(step.T(s), N_, &r_[o], &w_[o], &k_[o], &v_[o], C, A.time_faaaa.data(),
                  step.State(s, b.wkv_off), &y_[o], C, h0, h1);
  });
  ForRows(M, [&](int64_t m0, int64_t m1) {
    const size_t o = static_cast<size_t>(m0 * C);
    kernels::Rwkv6Output(m1 - m0, H_, N_, &y_[o], C, &g_[o], C, b.ln_x_w.data(), b.ln_x_b.data(),
                         kRwkv6GroupNormEps);
  });
  kernels::Gemm(y_.data(), M, C, b.att_output, nullptr, out, C, pool);
}

}  // namespace

std::optional<Rwkv6Weights> Rwkv6WeightsOf(const Model& model) {
  const auto* m = dynamic_cast<const Rwkv6Model*>(&model);
  if (m == nullptr) return std::nullopt;
  return m->Export();
}

StatusOr<std::unique_ptr<Model>> LoadRwkv6(std::unique_ptr<io::TensorStore> store,
                                           const LoadOptions& options) {
  return BuildRwkvModel<Rwkv6Model>(std::move(store), options);
}

}  // namespace rs::engine
