// RWKV-6 on the GPU: the CPU model's time mix (engine/models/rwkv6.cc) with
// the kernels of kernels/cuda (rwkv_ops, gemm), LoRAs and vectors uploaded
// F32; the layer loop and the gated channel mix are RwkvCudaModel's
// (rwkv_cuda.h).
#include <algorithm>
#include <vector>

#include "engine/models/cuda/rwkv_cuda.h"
#include "engine/models/rwkv6.h"
#include "kernels/cuda/rwkv_ops.h"

namespace rs::engine {
namespace {

using namespace cuda_model;  // NOLINT

// RWKV-6's time-mix weights; the common block weights are RwkvGpuBlock's.
struct GpuTimeMix {
  GpuVector maa_x, maa;  // maa: 5 C (w, k, v, r, g)
  GpuVector time_decay, time_faaaa;
  GpuMatrix gate, maa_w1, decay_w1;  // (out, in)
  GpuVector maa_w2, decay_w2;        // (in, out): (5, Dm, C) and (Dd, C)
};

class Rwkv6CudaModel final : public RwkvCudaModel {
 public:
  Status Init(const Model& cpu, const Rwkv6Weights& w) {
    RS_RETURN_IF_ERROR(InitRwkv(cpu, *w.model));
    Dm_ = w.Dm, Dd_ = w.Dd;
    att_ = std::vector<GpuTimeMix>(w.att->size());
    for (size_t i = 0; i < att_.size(); ++i) {
      const Rwkv6TimeMix& a = (*w.att)[i];
      GpuTimeMix& g = att_[i];
      std::vector<float> maa;
      for (int j = 0; j < kNumMaa; ++j) maa.insert(maa.end(), a.maa[j].begin(), a.maa[j].end());
      for (auto [dst, src] : {std::pair{&g.maa_x, &a.maa_x},
                              {&g.maa, &maa},
                              {&g.time_decay, &a.time_decay},
                              {&g.time_faaaa, &a.time_faaaa},
                              {&g.maa_w2, &a.maa_w2},
                              {&g.decay_w2, &a.decay_w2.data}}) {
        RS_RETURN_IF_ERROR(dst->Upload(*src));
      }
      for (auto [dst, src] :
           {std::pair{&g.gate, &a.gate}, {&g.maa_w1, &a.maa_w1}, {&g.decay_w1, &a.decay_w1}}) {
        RS_RETURN_IF_ERROR(dst->Upload(*src));
      }
    }
    return OkStatus();
  }

 private:
  cudaError_t EnsureModelScratch(int64_t M, bool* grew) override {
    const cudaError_t e = EnsureRwkvScratch(M, grew);
    if (e != cudaSuccess) return e;
    return ResizeFloats({{&dx_, M * C_},
                         {&xxx_, M * C_},
                         {&mix_, M * kNumMaa * C_},
                         {&r_, M * C_},
                         {&k_, M * C_},
                         {&v_, M * C_},
                         {&g_, M * C_},
                         {&w_, M * C_},
                         {&y_, M * C_},
                         {&lora_, M * std::max(kNumMaa * Dm_, Dd_)}},
                        grew);
  }

  Status TimeMix(size_t i, const StepDims& d, const float* x, float* out) override {
    namespace kc = kernels::cuda;
    const RwkvGpuBlock& b = blocks_[i];
    const GpuTimeMix& t = att_[i];
    const int64_t M = d.M, C = C_, ldm = kNumMaa * C_, ldl = kNumMaa * Dm_;
    float *dx = dx_.as<float>(), *xxx = xxx_.as<float>(), *mix = mix_.as<float>(),
          *lora = lora_.as<float>();
    // dx = x_prev - x; xxx = x + dx·maa_x.
    RS_CUDA(kc::Rwkv6TokenShift(x, M, C, C, d_starts(), d.n_seq, d_slots(),
                                static_cast<int64_t>(b.att_shift_off), t.maa_x.ptr, dx, xxx, C,
                                stream_),
            "att shift");
    // m_j = tanh(xxx·maa_w1)_j · maa_w2[j], then the five mixes in place.
    RS_CUDA(gemm_.Run(xxx, M, C, t.maa_w1.w, nullptr, lora, ldl), "maa_w1");
    RS_CUDA(kc::RwkvActivate(kc::RwkvActivation::kTanh, lora, M, ldl, ldl, stream_), "maa tanh");
    for (int j = 0; j < kNumMaa; ++j) {
      RS_CUDA(gemm_.RunKMajor(lora + j * Dm_, M, ldl, t.maa_w2.ptr + j * Dm_ * C, Dm_, C,
                              mix + j * C, ldm),
              "maa_w2");
    }
    RS_CUDA(kc::Rwkv6Mix(M, C, x, dx, C, t.maa.ptr, mix, ldm, stream_), "mix");

    const auto col = [&](Rwkv6Mix j) { return mix + j * C; };
    float *r = r_.as<float>(), *k = k_.as<float>(), *v = v_.as<float>(), *g = g_.as<float>();
    float *w = w_.as<float>(), *y = y_.as<float>();
    RS_CUDA(gemm_.Run(col(kMaaR), M, ldm, b.r.w, nullptr, r, C), "receptance");
    RS_CUDA(gemm_.Run(col(kMaaK), M, ldm, b.k.w, nullptr, k, C), "key");
    RS_CUDA(gemm_.Run(col(kMaaV), M, ldm, b.v.w, nullptr, v, C), "value");
    RS_CUDA(gemm_.Run(col(kMaaG), M, ldm, t.gate.w, nullptr, g, C), "gate");
    // w = exp(-exp(time_decay + tanh(xw·decay_w1)·decay_w2)).
    RS_CUDA(gemm_.Run(col(kMaaW), M, ldm, t.decay_w1.w, nullptr, lora, Dd_), "decay_w1");
    RS_CUDA(kc::RwkvActivate(kc::RwkvActivation::kTanh, lora, M, Dd_, Dd_, stream_), "decay tanh");
    RS_CUDA(gemm_.RunKMajor(lora, M, Dd_, t.decay_w2.ptr, Dd_, C, w, C), "decay_w2");
    RS_CUDA(kc::Rwkv6Decay(M, C, w, C, t.time_decay.ptr, stream_), "decay");
    RS_CUDA(kc::Wkv6(d_starts(), d.n_seq, H_, N_, r, w, k, v, C, t.time_faaaa.ptr, d_slots(),
                     static_cast<int64_t>(b.wkv_off), y, C, stream_),
            "wkv6");
    RS_CUDA(kc::Rwkv6Output(M, H_, N_, y, C, g, C, b.ln_x_w.ptr, b.ln_x_b.ptr, kRwkv6GroupNormEps,
                            stream_),
            "output");
    RS_CUDA(gemm_.Run(y, M, C, b.o.w, nullptr, out, C), "att output");
    return OkStatus();
  }

  int64_t Dm_ = 0, Dd_ = 0;
  std::vector<GpuTimeMix> att_;
  DeviceBuffer dx_, xxx_, mix_, r_, k_, v_, g_, w_, y_, lora_;
};

}  // namespace

StatusOr<std::unique_ptr<Model>> Rwkv6ToCuda(const Model& cpu, const Rwkv6Weights& w) {
  auto m = std::make_unique<Rwkv6CudaModel>();
  RS_RETURN_IF_ERROR(m->Init(cpu, w));
  return std::unique_ptr<Model>(std::move(m));
}

}  // namespace rs::engine
