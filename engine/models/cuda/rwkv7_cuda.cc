// RWKV-7 on the GPU: the CPU model's time mix (engine/models/rwkv7.cc) with
// the kernels of kernels/cuda (rwkv_ops, gemm), LoRAs and vectors uploaded
// F32; the layer loop and channel mix are RwkvCudaModel's (rwkv_cuda.h).
#include <utility>
#include <vector>

#include "engine/models/cuda/rwkv_cuda.h"
#include "engine/models/rwkv7.h"
#include "kernels/cuda/model_ops.h"
#include "kernels/cuda/rwkv_ops.h"

namespace rs::engine {
namespace {

using namespace cuda_model;  // NOLINT

// RWKV-7's time-mix weights; the common block weights are RwkvGpuBlock's.
struct GpuTimeMix {
  GpuVector mix;  // 6 C: x_r, x_w, x_k, x_v, x_a, x_g
  GpuVector w0, a0, v0, k_k, k_a, r_k;
  GpuMatrix w1, a1, v1, g1;  // down (out, in)
  GpuVector w2, a2, v2, g2;  // up (in, out)
  bool has_v1 = false;
};

class Rwkv7CudaModel final : public RwkvCudaModel {
 public:
  Status Init(const Model& cpu, const Rwkv7Weights& w) {
    RS_RETURN_IF_ERROR(InitRwkv(cpu, *w.model));
    Dw_ = w.Dw, Da_ = w.Da, Dv_ = w.Dv, Dg_ = w.Dg;
    att_ = std::vector<GpuTimeMix>(w.att->size());
    for (size_t i = 0; i < att_.size(); ++i) {
      const Rwkv7TimeMix& a = (*w.att)[i];
      GpuTimeMix& g = att_[i];
      std::vector<float> mix;
      for (int j = 0; j < kNumMix; ++j) mix.insert(mix.end(), a.mix[j].begin(), a.mix[j].end());
      for (auto [dst, src] : {std::pair{&g.mix, &std::as_const(mix)},
                              {&g.w0, &a.w0},
                              {&g.a0, &a.a0},
                              {&g.v0, &a.v0},
                              {&g.k_k, &a.k_k},
                              {&g.k_a, &a.k_a},
                              {&g.r_k, &a.r_k},
                              {&g.w2, &a.w2.data},
                              {&g.a2, &a.a2.data},
                              {&g.v2, &a.v2.data},
                              {&g.g2, &a.g2.data}}) {
        RS_RETURN_IF_ERROR(dst->Upload(*src));
      }
      for (auto [dst, src] : {std::pair{&g.w1, &a.w1}, {&g.a1, &a.a1}, {&g.g1, &a.g1}}) {
        RS_RETURN_IF_ERROR(dst->Upload(*src));
      }
      g.has_v1 = a.v1.data != nullptr;
      if (g.has_v1) RS_RETURN_IF_ERROR(g.v1.Upload(a.v1));
    }
    return OkStatus();
  }

 private:
  cudaError_t EnsureModelScratch(int64_t M, bool* grew) override {
    const cudaError_t e = EnsureRwkvScratch(M, grew);
    if (e != cudaSuccess) return e;
    return ResizeFloats({{&mix_, M * kNumMix * C_},
                         {&r_, M * C_},
                         {&w_, M * C_},
                         {&k_, M * C_},
                         {&v_, M * C_},
                         {&a_, M * C_},
                         {&vg_, M * C_},
                         {&g_, M * C_},
                         {&v_first_, M * C_},
                         {&y_, M * C_},
                         {&lora_, M * (Dw_ + Da_ + Dv_ + Dg_)}},
                        grew);
  }

  Status TimeMix(size_t i, const StepDims& d, const float* x, float* out) override {
    namespace kc = kernels::cuda;
    const RwkvGpuBlock& b = blocks_[i];
    const GpuTimeMix& t = att_[i];
    const int64_t M = d.M, C = C_, ldm = kNumMix * C_;
    float* mix = mix_.as<float>();
    RS_CUDA(kc::RwkvTokenShiftMix(x, M, C, C, d_starts(), d.n_seq, d_slots(),
                                  static_cast<int64_t>(b.att_shift_off), kNumMix, t.mix.ptr, mix, C,
                                  ldm, stream_),
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
    RS_CUDA(gemm_.Run(col(kW), M, ldm, t.w1.w, nullptr, lw, ldl), "w1");
    RS_CUDA(gemm_.Run(col(kA), M, ldm, t.a1.w, nullptr, la, ldl), "a1");
    RS_CUDA(gemm_.Run(col(kG), M, ldm, t.g1.w, nullptr, lg, ldl), "g1");
    if (t.has_v1) RS_CUDA(gemm_.Run(col(kV), M, ldm, t.v1.w, nullptr, lv, ldl), "v1");
    RS_CUDA(kc::RwkvActivate(kc::RwkvActivation::kTanh, lw, M, Dw_, ldl, stream_), "tanh");
    RS_CUDA(kc::RwkvActivate(kc::RwkvActivation::kSigmoid, lg, M, Dg_, ldl, stream_), "sigmoid");
    RS_CUDA(gemm_.RunKMajor(lw, M, ldl, t.w2.ptr, Dw_, C, w, C), "w2");
    RS_CUDA(gemm_.RunKMajor(la, M, ldl, t.a2.ptr, Da_, C, a, C), "a2");
    if (t.has_v1) RS_CUDA(gemm_.RunKMajor(lv, M, ldl, t.v2.ptr, Dv_, C, vg, C), "v2");
    RS_CUDA(gemm_.RunKMajor(lg, M, ldl, t.g2.ptr, Dg_, C, g, C), "g2");
    RS_CUDA(kc::Rwkv7Prepare(M, H_, N_, C, w, t.w0.ptr, a, t.a0.ptr, k, t.k_k.ptr, t.k_a.ptr, v, vg,
                             t.v0.ptr, v_first_.as<float>(), i == 0, stream_),
            "prepare");
    RS_CUDA(kc::Wkv7(d_starts(), d.n_seq, H_, N_, r, w, k, v, a, vg, C, d_slots(),
                     static_cast<int64_t>(b.wkv_off), y, C, stream_),
            "wkv7");
    RS_CUDA(kc::Rwkv7Output(M, H_, N_, y, C, r, k, v, C, t.r_k.ptr, g, C, b.ln_x_w.ptr,
                            b.ln_x_b.ptr, kRwkv7GroupNormEps, stream_),
            "output");
    RS_CUDA(gemm_.Run(y, M, C, b.o.w, nullptr, out, C), "att output");
    return OkStatus();
  }

  int64_t Dw_ = 0, Da_ = 0, Dv_ = 0, Dg_ = 0;
  std::vector<GpuTimeMix> att_;
  DeviceBuffer mix_, r_, w_, k_, v_, a_, vg_, g_, v_first_, y_, lora_;
};

}  // namespace

StatusOr<std::unique_ptr<Model>> Rwkv7ToCuda(const Model& cpu, const Rwkv7Weights& w) {
  auto m = std::make_unique<Rwkv7CudaModel>();
  RS_RETURN_IF_ERROR(m->Init(cpu, w));
  return std::unique_ptr<Model>(std::move(m));
}

}  // namespace rs::engine
