// RWKV-7 on the GPU: the CPU model's computation (engine/models/rwkv7.cc and
// rwkv_common.cc) with the kernels of kernels/cuda (rwkv_ops, gemm), weights
// uploaded once (matrices in their checkpoint dtype, LoRAs and vectors F32),
// states in a device StatePool. The step driver is CudaModel's.
#include <vector>

#include "engine/models/cuda/cuda_model.h"
#include "engine/models/rwkv7.h"
#include "kernels/cuda/model_ops.h"
#include "kernels/cuda/rwkv_ops.h"

namespace rs::engine {
namespace {

using namespace cuda_model;  // NOLINT

struct GpuBlock {
  GpuVector ln1_w, ln1_b, ln2_w, ln2_b, ln_x_w, ln_x_b, ffn_mix_k;
  GpuMatrix r, k, v, o, ffn_key, ffn_value;
  // Time mix (RWKV-7).
  GpuVector mix;  // 6 C: x_r, x_w, x_k, x_v, x_a, x_g
  GpuVector w0, a0, v0, k_k, k_a, r_k;
  GpuMatrix w1, a1, v1, g1;  // down (out, in)
  GpuVector w2, a2, v2, g2;  // up (in, out)
  bool has_v1 = false;
  size_t att_shift_off = 0, wkv_off = 0, ffn_shift_off = 0;
};

class Rwkv7CudaModel final : public CudaModel {
 public:
  Status Init(const Model& cpu, const Rwkv7Weights& w) {
    RS_RETURN_IF_ERROR(InitBase(cpu));
    const RwkvModel& m = *w.model;
    C_ = m.embedding().k;
    V_ = m.embedding().n;
    H_ = m.n_head();
    N_ = m.head_size();
    F_ = m.ffn_size();
    Dw_ = w.Dw, Da_ = w.Da, Dv_ = w.Dv, Dg_ = w.Dg;
    if (N_ % 16 != 0 || N_ > 256) return UnimplementedError("CUDA RWKV-7: head size must be a multiple of 16, <= 256");
    RS_RETURN_IF_ERROR(emb_.Upload(m.embedding()));
    RS_RETURN_IF_ERROR(head_.Upload(m.head()));
    for (auto [dst, src] : {std::pair{&ln0_w_, &m.ln0_w()}, {&ln0_b_, &m.ln0_b()}, {&ln_out_w_, &m.ln_out_w()},
                            {&ln_out_b_, &m.ln_out_b()}}) {
      RS_RETURN_IF_ERROR(dst->Upload(*src));
    }
    blocks_ = std::vector<GpuBlock>(m.blocks().size());
    for (size_t i = 0; i < blocks_.size(); ++i) {
      const RwkvModel::Block& b = m.blocks()[i];
      const Rwkv7TimeMix& a = (*w.att)[i];
      GpuBlock& g = blocks_[i];
      std::vector<float> mix;
      for (int j = 0; j < kNumMix; ++j) mix.insert(mix.end(), a.mix[j].begin(), a.mix[j].end());
      for (auto [dst, src] :
           {std::pair{&g.ln1_w, &b.ln1_w}, {&g.ln1_b, &b.ln1_b}, {&g.ln2_w, &b.ln2_w}, {&g.ln2_b, &b.ln2_b},
            {&g.ln_x_w, &b.ln_x_w}, {&g.ln_x_b, &b.ln_x_b}, {&g.ffn_mix_k, &b.ffn_mix_k}, {&g.mix, &mix},
            {&g.w0, &a.w0}, {&g.a0, &a.a0}, {&g.v0, &a.v0}, {&g.k_k, &a.k_k}, {&g.k_a, &a.k_a}, {&g.r_k, &a.r_k},
            {&g.w2, &a.w2.data}, {&g.a2, &a.a2.data}, {&g.v2, &a.v2.data}, {&g.g2, &a.g2.data}}) {
        RS_RETURN_IF_ERROR(dst->Upload(*src));
      }
      for (auto [dst, src] : {std::pair{&g.r, &b.att_receptance}, {&g.k, &b.att_key}, {&g.v, &b.att_value},
                              {&g.o, &b.att_output}, {&g.ffn_key, &b.ffn_key}, {&g.ffn_value, &b.ffn_value},
                              {&g.w1, &a.w1}, {&g.a1, &a.a1}, {&g.g1, &a.g1}}) {
        RS_RETURN_IF_ERROR(dst->Upload(*src));
      }
      g.has_v1 = a.v1.data != nullptr;
      if (g.has_v1) RS_RETURN_IF_ERROR(g.v1.Upload(a.v1));
      g.att_shift_off = b.att_shift_off;
      g.wkv_off = b.wkv_off;
      g.ffn_shift_off = b.ffn_shift_off;
    }
    return OkStatus();
  }

 private:
  cudaError_t EnsureModelScratch(int64_t M, bool* grew) override {
    const auto f = [](int64_t n) { return static_cast<size_t>(n) * sizeof(float); };
    for (auto [buf, bytes] :
         {std::pair{&hidden_, f(M * C_)}, {&normed_, f(M * C_)}, {&out_, f(M * C_)}, {&mix_, f(M * kNumMix * C_)},
          {&r_, f(M * C_)}, {&w_, f(M * C_)}, {&k_, f(M * C_)}, {&v_, f(M * C_)}, {&a_, f(M * C_)},
          {&vg_, f(M * C_)}, {&g_, f(M * C_)}, {&v_first_, f(M * C_)}, {&y_, f(M * C_)},
          {&lora_, f(M * (Dw_ + Da_ + Dv_ + Dg_))}, {&ffn_k_, f(M * F_)}}) {
      const cudaError_t e = buf->Resize(bytes, grew);
      if (e != cudaSuccess) return e;
    }
    return cudaSuccess;
  }

  Status EnqueueModel(const StepDims& d) override {
    namespace kc = kernels::cuda;
    const int64_t M = d.M, C = C_;
    constexpr float kEps = RwkvModel::kLayerNormEps;
    float* hidden = hidden_.as<float>();
    float* normed = normed_.as<float>();
    float* out = out_.as<float>();
    RS_CUDA(kc::GatherRows(emb_.w, d_tokens(), M, hidden, stream_), "embedding");
    RS_CUDA(kc::RwkvLayerNorm(hidden, M, C, C, ln0_w_.ptr, ln0_b_.ptr, kEps, hidden, C, stream_), "ln0");
    for (size_t i = 0; i < blocks_.size(); ++i) {
      const GpuBlock& b = blocks_[i];
      if (i == 0) {
        RS_CUDA(kc::RwkvLayerNorm(hidden, M, C, C, b.ln1_w.ptr, b.ln1_b.ptr, kEps, normed, C, stream_), "ln1");
      } else {
        RS_CUDA(kc::RwkvAddLayerNorm(hidden, out, M, C, b.ln1_w.ptr, b.ln1_b.ptr, kEps, normed, stream_), "ln1");
      }
      RS_RETURN_IF_ERROR(TimeMix(i, d, normed, out));
      RS_CUDA(kc::RwkvAddLayerNorm(hidden, out, M, C, b.ln2_w.ptr, b.ln2_b.ptr, kEps, normed, stream_), "ln2");
      // Channel mix: relu(key(shift-mixed x))² -> value.
      float* fmix = mix_.as<float>();
      RS_CUDA(kc::RwkvTokenShiftMix(normed, M, C, C, d_starts(), d.n_seq, d_slots(),
                                    static_cast<int64_t>(b.ffn_shift_off), 1, b.ffn_mix_k.ptr, fmix, C, C, stream_),
              "ffn shift");
      RS_CUDA(gemm_.Run(fmix, M, C, b.ffn_key.w, nullptr, ffn_k_.as<float>(), F_), "ffn key");
      RS_CUDA(kc::RwkvActivate(kc::RwkvActivation::kReluSquare, ffn_k_.as<float>(), M, F_, F_, stream_), "relu2");
      RS_CUDA(gemm_.Run(ffn_k_.as<float>(), M, F_, b.ffn_value.w, nullptr, out, C), "ffn value");
    }
    RS_CUDA(kc::RwkvAdd(hidden, out, M, C, stream_), "residual");
    // ln_out and head on the rows that need logits.
    const GpuWeight rows_of_hidden{GpuWeightType::kF32, hidden, M, C};
    RS_CUDA(kc::GatherRows(rows_of_hidden, d_rows(), d.n_rows, normed, stream_), "logit rows");
    RS_CUDA(kc::RwkvLayerNorm(normed, d.n_rows, C, C, ln_out_w_.ptr, ln_out_b_.ptr, kEps, normed, C, stream_),
            "ln_out");
    RS_CUDA(gemm_.Run(normed, d.n_rows, C, head_.w, nullptr, logits_dev(), V_), "head");
    return OkStatus();
  }

  // out (M, C) = the time mix of block i on x (ln1 applied).
  Status TimeMix(size_t i, const StepDims& d, const float* x, float* out) {
    namespace kc = kernels::cuda;
    const GpuBlock& b = blocks_[i];
    const int64_t M = d.M, C = C_, ldm = kNumMix * C_;
    float* mix = mix_.as<float>();
    RS_CUDA(kc::RwkvTokenShiftMix(x, M, C, C, d_starts(), d.n_seq, d_slots(), static_cast<int64_t>(b.att_shift_off),
                                  kNumMix, b.mix.ptr, mix, C, ldm, stream_),
            "att shift");
    const auto col = [&](Rwkv7Mix j) { return mix + j * C; };
    float *r = r_.as<float>(), *w = w_.as<float>(), *k = k_.as<float>(), *v = v_.as<float>();
    float *a = a_.as<float>(), *vg = vg_.as<float>(), *g = g_.as<float>(), *y = y_.as<float>();
    const int64_t ldl = Dw_ + Da_ + Dv_ + Dg_;
    float* lw = lora_.as<float>();
    float* la = lw + Dw_;
    float* lv = la + Da_;
    float* lg = lv + Dv_;
    RS_CUDA(gemm_.Run(col(kR), M, ldm, b.r.w, nullptr, r, C), "receptance");
    RS_CUDA(gemm_.Run(col(kK), M, ldm, b.k.w, nullptr, k, C), "key");
    RS_CUDA(gemm_.Run(col(kV), M, ldm, b.v.w, nullptr, v, C), "value");
    RS_CUDA(gemm_.Run(col(kW), M, ldm, b.w1.w, nullptr, lw, ldl), "w1");
    RS_CUDA(gemm_.Run(col(kA), M, ldm, b.a1.w, nullptr, la, ldl), "a1");
    RS_CUDA(gemm_.Run(col(kG), M, ldm, b.g1.w, nullptr, lg, ldl), "g1");
    if (b.has_v1) RS_CUDA(gemm_.Run(col(kV), M, ldm, b.v1.w, nullptr, lv, ldl), "v1");
    RS_CUDA(kc::RwkvActivate(kc::RwkvActivation::kTanh, lw, M, Dw_, ldl, stream_), "tanh");
    RS_CUDA(kc::RwkvActivate(kc::RwkvActivation::kSigmoid, lg, M, Dg_, ldl, stream_), "sigmoid");
    RS_CUDA(gemm_.RunKMajor(lw, M, ldl, b.w2.ptr, Dw_, C, w, C), "w2");
    RS_CUDA(gemm_.RunKMajor(la, M, ldl, b.a2.ptr, Da_, C, a, C), "a2");
    if (b.has_v1) RS_CUDA(gemm_.RunKMajor(lv, M, ldl, b.v2.ptr, Dv_, C, vg, C), "v2");
    RS_CUDA(gemm_.RunKMajor(lg, M, ldl, b.g2.ptr, Dg_, C, g, C), "g2");
    RS_CUDA(kc::Rwkv7Prepare(M, H_, N_, C, w, b.w0.ptr, a, b.a0.ptr, k, b.k_k.ptr, b.k_a.ptr, v, vg, b.v0.ptr,
                             v_first_.as<float>(), i == 0, stream_),
            "prepare");
    RS_CUDA(kc::Wkv7(d_starts(), d.n_seq, H_, N_, r, w, k, v, a, vg, C, d_slots(), static_cast<int64_t>(b.wkv_off),
                     y, C, stream_),
            "wkv7");
    RS_CUDA(kc::Rwkv7Output(M, H_, N_, y, C, r, k, v, C, b.r_k.ptr, g, C, b.ln_x_w.ptr, b.ln_x_b.ptr,
                            kRwkv7GroupNormEps, stream_),
            "output");
    RS_CUDA(gemm_.Run(y, M, C, b.o.w, nullptr, out, C), "att output");
    return OkStatus();
  }

  int64_t C_ = 0, V_ = 0, H_ = 0, N_ = 0, F_ = 0, Dw_ = 0, Da_ = 0, Dv_ = 0, Dg_ = 0;
  GpuMatrix emb_, head_;
  GpuVector ln0_w_, ln0_b_, ln_out_w_, ln_out_b_;
  std::vector<GpuBlock> blocks_;
  DeviceBuffer hidden_, normed_, out_, mix_, r_, w_, k_, v_, a_, vg_, g_, v_first_, y_, lora_, ffn_k_;
};

}  // namespace

StatusOr<std::unique_ptr<Model>> Rwkv7ToCuda(const Model& cpu, const Rwkv7Weights& w) {
  auto m = std::make_unique<Rwkv7CudaModel>();
  RS_RETURN_IF_ERROR(m->Init(cpu, w));
  return std::unique_ptr<Model>(std::move(m));
}

}  // namespace rs::engine
