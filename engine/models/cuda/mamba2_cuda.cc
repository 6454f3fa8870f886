// Mamba-2 on the GPU: the CPU model's computation (engine/models/mamba2.cc,
// its default path: every chunk runs the SSD recurrence) with the kernels of
// kernels/cuda (gemm, model_ops, Mamba-1's causal conv, mamba2_ops), weights
// uploaded once in their checkpoint dtype, states in a device StatePool with
// the CPU model's layout (kernels take the slot pointers: no state is copied
// per step). The step driver is CudaModel's.
#include <string>
#include <vector>

#include "engine/models/cuda/cuda_model.h"
#include "engine/models/mamba2.h"
#include "kernels/cuda/mamba1_ops.h"
#include "kernels/cuda/mamba2_ops.h"
#include "kernels/cuda/model_ops.h"

namespace rs::engine {
namespace {

using namespace cuda_model;  // NOLINT

struct GpuLayer {
  GpuVector norm, in_bias, conv_w, conv_b, dt_bias, A, D, gnorm, out_bias;
  GpuMatrix in_proj, out_proj;
  size_t conv_off = 0, ssm_off = 0;
};

class Mamba2CudaModel final : public CudaModel {
 public:
  // Uploads `w` (of `cpu`); then Adopt(cpu) keeps the CPU model alive.
  Status Init(const Model& cpu, const Mamba2Weights& w) {
    if (w.K > 8) return UnimplementedError("CUDA Mamba-2: d_conv > 8");
    if (w.N > kernels::cuda::kMamba2MaxState) {
      return UnimplementedError("CUDA Mamba-2: d_state > " +
                                std::to_string(kernels::cuda::kMamba2MaxState));
    }
    RS_RETURN_IF_ERROR(InitBase(cpu));
    D_ = w.D, E_ = w.E, H_ = w.H, P_ = w.P, G_ = w.G, N_ = w.N, K_ = w.K, V_ = w.V;
    Cx_ = w.Cx, W_ = w.W;
    eps_ = w.eps;
    gated_eps_ = w.gated_eps;
    dt_min_ = w.dt_min;
    dt_max_ = w.dt_max;
    RS_RETURN_IF_ERROR(embedding_.Upload(w.embedding));
    if (w.lm_head.data == w.embedding.data) {
      lm_head_ = embedding_.w;
    } else {
      RS_RETURN_IF_ERROR(lm_head_buf_.Upload(w.lm_head));
      lm_head_ = lm_head_buf_.w;
    }
    RS_RETURN_IF_ERROR(norm_f_.Upload(w.norm_f));
    layers_ = std::vector<GpuLayer>(w.layers.size());
    for (size_t i = 0; i < w.layers.size(); ++i) {
      const Mamba2Layer& c = w.layers[i];
      GpuLayer& g = layers_[i];
      for (auto [dst, src] : {std::pair{&g.norm, &c.norm},
                              {&g.in_bias, &c.in_bias},
                              {&g.conv_w, &c.conv_w},
                              {&g.conv_b, &c.conv_b},
                              {&g.dt_bias, &c.dt_bias},
                              {&g.A, &c.A},
                              {&g.D, &c.D},
                              {&g.gnorm, &c.gnorm},
                              {&g.out_bias, &c.out_bias}}) {
        RS_RETURN_IF_ERROR(dst->Upload(*src));
      }
      RS_RETURN_IF_ERROR(g.in_proj.Upload(c.in_proj));
      RS_RETURN_IF_ERROR(g.out_proj.Upload(c.out_proj));
      g.conv_off = c.conv_off;
      g.ssm_off = c.ssm_off;
    }
    return OkStatus();
  }

 private:
  cudaError_t EnsureModelScratch(int64_t M, bool* grew) override {
    const auto f = [](int64_t n) { return static_cast<size_t>(n) * sizeof(float); };
    for (auto [buf, bytes] : {std::pair{&hidden_, f(M * D_)},
                              {&normed_, f(M * D_)},
                              {&zxbcdt_, f(M * W_)},
                              {&xbc_, f(M * Cx_)},
                              {&y_, f(M * E_)}}) {
      const cudaError_t e = buf->Resize(bytes, grew);
      if (e != cudaSuccess) return e;
    }
    return cudaSuccess;
  }

  Status EnqueueModel(const StepDims& d) override {
    namespace kc = kernels::cuda;
    const int64_t M = d.M;
    float* hidden = hidden_.as<float>();
    float* normed = normed_.as<float>();
    float* zxbcdt = zxbcdt_.as<float>();  // (M, W): z | xBC | dt
    float* xbc = xbc_.as<float>();        // (M, Cx): x | B | C after conv + silu
    float* y = y_.as<float>();            // (M, E)
    RS_CUDA(kc::GatherRows(embedding_.w, d_tokens(), M, hidden, stream_), "embedding");
    for (size_t li = 0; li < layers_.size(); ++li) {
      const GpuLayer& L = layers_[li];
      // normed = RMSNorm(hidden), after adding the previous layer's output
      // (left in normed) to the residual stream.
      if (li == 0) {
        RS_CUDA(kc::RmsNormRows(hidden, nullptr, M, D_, D_, L.norm.ptr, eps_, normed, D_, stream_),
                "rmsnorm");
      } else {
        RS_CUDA(kc::AddRmsNormRows(hidden, normed, M, D_, L.norm.ptr, eps_, normed, stream_),
                "add+rmsnorm");
      }
      // zxbcdt = normed · in_projᵀ; z = [:, :E], xBC = [:, E:E+Cx], dt = [:, E+Cx:].
      RS_CUDA(gemm_.Run(normed, M, D_, L.in_proj.w, L.in_bias.ptr, zxbcdt, W_), "in_proj");
      // xbc = silu(conv(xBC)), per sequence with its conv state (K-1, Cx).
      RS_CUDA(kc::Mamba1ConvSilu(zxbcdt + E_, M, W_, Cx_, static_cast<int>(K_), L.conv_w.ptr,
                                 L.conv_b.ptr, d_starts(), d.n_seq, d_slots(),
                                 static_cast<int64_t>(L.conv_off), xbc, Cx_, stream_),
              "conv");
      // y = SSD recurrence per sequence and head, with its state (H, P, N).
      kernels::SsdParams q;
      q.H = H_;
      q.P = P_;
      q.G = G_;
      q.N = N_;
      q.dt_bias = L.dt_bias.ptr;
      q.A = L.A.ptr;
      q.D = L.D.ptr;
      q.dt_min = dt_min_;
      q.dt_max = dt_max_;
      RS_CUDA(kc::Mamba2Scan(q, xbc, Cx_, xbc + E_, xbc + E_ + G_ * N_, Cx_, zxbcdt + E_ + Cx_, W_,
                             d_starts(), d.n_seq, d_slots(), static_cast<int64_t>(L.ssm_off), y, E_,
                             stream_),
              "ssd scan");
      // y = GroupRMSNorm(y ⊙ silu(z)) ⊙ w, in place.
      RS_CUDA(kc::Mamba2GatedRmsNorm(y, E_, zxbcdt, W_, M, E_, G_, L.gnorm.ptr, gated_eps_, y, E_,
                                     stream_),
              "gated norm");
      RS_CUDA(gemm_.Run(y, M, E_, L.out_proj.w, L.out_bias.ptr, normed, D_), "out_proj");
    }
    RS_CUDA(kc::AddInPlace(hidden, normed, M * D_, stream_), "residual");
    RS_CUDA(
        kc::RmsNormRows(hidden, d_rows(), d.n_rows, D_, D_, norm_f_.ptr, eps_, normed, D_, stream_),
        "norm_f");
    RS_CUDA(gemm_.Run(normed, d.n_rows, D_, lm_head_, nullptr, logits_dev(), V_), "lm_head");
    return OkStatus();
  }

  int64_t D_ = 0, E_ = 0, H_ = 0, P_ = 0, G_ = 0, N_ = 0, K_ = 0, V_ = 0, Cx_ = 0, W_ = 0;
  float eps_ = 1e-5f, gated_eps_ = 1e-5f, dt_min_ = 0.0f, dt_max_ = 0.0f;
  GpuMatrix embedding_, lm_head_buf_;
  GpuWeight lm_head_;
  GpuVector norm_f_;
  std::vector<GpuLayer> layers_;
  DeviceBuffer hidden_, normed_, zxbcdt_, xbc_, y_;
};

}  // namespace

StatusOr<std::unique_ptr<Model>> Mamba2ToCuda(const Model& cpu, const Mamba2Weights& w) {
  auto m = std::make_unique<Mamba2CudaModel>();
  RS_RETURN_IF_ERROR(m->Init(cpu, w));
  return std::unique_ptr<Model>(std::move(m));
}

}  // namespace rs::engine
