// Mamba-1 on the GPU: the CPU model's computation (engine/models/mamba1.cc)
// with the kernels of kernels/cuda, weights uploaded once in their checkpoint
// dtype, states in a device StatePool (kernels take the slot pointers: no
// state is copied per step). The step driver is CudaModel's.
#include <string>
#include <vector>

#include "engine/models/cuda/cuda_backend.h"
#include "engine/models/cuda/cuda_model.h"
#include "engine/models/mamba1.h"
#include "engine/models/mamba2.h"
#include "engine/models/rwkv6.h"
#include "engine/models/rwkv7.h"
#include "kernels/cuda/mamba1_ops.h"
#include "kernels/cuda/model_ops.h"

namespace rs::engine {
namespace {

using namespace cuda_model;  // NOLINT

struct GpuLayer {
  GpuVector norm, in_bias, conv_w, conv_b, dt_bias, A, D, out_bias;
  GpuMatrix in_proj, x_proj, dt_proj, out_proj;
  size_t conv_off = 0, ssm_off = 0;
};

class Mamba1CudaModel final : public CudaModel {
 public:
  // Uploads `w` (of `cpu`); then Adopt(cpu) keeps the CPU model alive.
  Status Init(const Model& cpu, const Mamba1Weights& w) {
    RS_RETURN_IF_ERROR(InitBase(cpu));
    D_ = w.D, E_ = w.E, N_ = w.N, R_ = w.R, K_ = w.K, V_ = w.V;
    eps_ = w.eps;
    if (K_ > 8) return UnimplementedError("CUDA Mamba-1: d_conv > 8");
    RS_RETURN_IF_ERROR(backbone_.Upload(w.embedding, w.lm_head, w.norm_f));
    layers_ = std::vector<GpuLayer>(w.layers.size());
    for (size_t i = 0; i < w.layers.size(); ++i) {
      const Mamba1Layer& c = w.layers[i];
      GpuLayer& g = layers_[i];
      for (auto [dst, src] : {std::pair{&g.norm, &c.norm}, {&g.in_bias, &c.in_bias}, {&g.conv_w, &c.conv_w},
                              {&g.conv_b, &c.conv_b}, {&g.dt_bias, &c.dt_bias}, {&g.A, &c.A}, {&g.D, &c.D},
                              {&g.out_bias, &c.out_bias}}) {
        RS_RETURN_IF_ERROR(dst->Upload(*src));
      }
      RS_RETURN_IF_ERROR(g.in_proj.Upload(c.in_proj));
      RS_RETURN_IF_ERROR(g.x_proj.Upload(c.x_proj));
      RS_RETURN_IF_ERROR(g.dt_proj.Upload(c.dt_proj));
      RS_RETURN_IF_ERROR(g.out_proj.Upload(c.out_proj));
      g.conv_off = c.conv_off;
      g.ssm_off = c.ssm_off;
    }
    return OkStatus();
  }

 private:
  cudaError_t EnsureModelScratch(int64_t M, bool* grew) override {
    return ResizeFloats({{&hidden_, M * D_}, {&normed_, M * D_}, {&xz_, M * 2 * E_}, {&u_, M * E_},
                         {&dbc_, M * (R_ + 2 * N_)}, {&dt_, M * E_}, {&y_, M * E_}},
                        grew);
  }

  Status EnqueueModel(const StepDims& d) override {
    namespace kc = kernels::cuda;
    const int64_t M = d.M;
    float* hidden = hidden_.as<float>();
    float* normed = normed_.as<float>();
    float* xz = xz_.as<float>();
    float* u = u_.as<float>();
    float* dbc = dbc_.as<float>();
    float* dt = dt_.as<float>();
    float* y = y_.as<float>();
    const int64_t ldbc = R_ + 2 * N_;
    RS_CUDA(kc::GatherRows(backbone_.embedding.w, d_tokens(), M, hidden, stream_), "embedding");
    for (size_t li = 0; li < layers_.size(); ++li) {
      GpuLayer& L = layers_[li];
      // normed = RMSNorm(hidden), after adding the previous layer's output
      // (left in normed) to the residual stream.
      if (li == 0) {
        RS_CUDA(kc::RmsNormRows(hidden, nullptr, M, D_, D_, L.norm.ptr, eps_, normed, D_, stream_), "rmsnorm");
      } else {
        RS_CUDA(kc::AddRmsNormRows(hidden, normed, M, D_, L.norm.ptr, eps_, normed, stream_), "add+rmsnorm");
      }
      RS_CUDA(gemm_.Run(normed, M, D_, L.in_proj.w, L.in_bias.ptr, xz, 2 * E_), "in_proj");
      RS_CUDA(kc::Mamba1ConvSilu(xz, M, 2 * E_, E_, static_cast<int>(K_), L.conv_w.ptr, L.conv_b.ptr, d_starts(),
                                 d.n_seq, d_slots(), static_cast<int64_t>(L.conv_off), u, E_, stream_),
              "conv");
      RS_CUDA(gemm_.Run(u, M, E_, L.x_proj.w, nullptr, dbc, ldbc), "x_proj");
      RS_CUDA(gemm_.Run(dbc, M, ldbc, L.dt_proj.w, nullptr, dt, E_), "dt_proj");
      RS_CUDA(kc::Mamba1Scan(u, E_, dt, E_, L.dt_bias.ptr, L.A.ptr, dbc + R_, dbc + R_ + N_, ldbc, L.D.ptr, xz + E_,
                             2 * E_, E_, N_, d_starts(), d.n_seq, d_slots(), static_cast<int64_t>(L.ssm_off), y, E_,
                             stream_),
              "scan");
      RS_CUDA(gemm_.Run(y, M, E_, L.out_proj.w, L.out_bias.ptr, normed, D_), "out_proj");
    }
    RS_CUDA(kc::AddInPlace(hidden, normed, M * D_, stream_), "residual");
    RS_CUDA(kc::RmsNormRows(hidden, d_rows(), d.n_rows, D_, D_, backbone_.norm_f.ptr, eps_, normed, D_, stream_), "norm_f");
    RS_CUDA(gemm_.Run(normed, d.n_rows, D_, backbone_.lm_head, nullptr, logits_dev(), V_), "lm_head");
    return OkStatus();
  }

  int64_t D_ = 0, E_ = 0, N_ = 0, R_ = 0, K_ = 0, V_ = 0;
  float eps_ = 1e-5f;
  GpuMambaBackbone backbone_;
  std::vector<GpuLayer> layers_;
  DeviceBuffer hidden_, normed_, xz_, u_, dbc_, dt_, y_;
};

}  // namespace

// Declared in rwkv7_cuda.cc and rwkv6_cuda.cc.
StatusOr<std::unique_ptr<Model>> Rwkv7ToCuda(const Model& cpu, const Rwkv7Weights& w);
StatusOr<std::unique_ptr<Model>> Rwkv6ToCuda(const Model& cpu, const Rwkv6Weights& w);
// Defined in mamba2_cuda.cc.
StatusOr<std::unique_ptr<Model>> Mamba2ToCuda(const Model& cpu, const Mamba2Weights& w);

StatusOr<std::unique_ptr<Model>> ToCuda(std::unique_ptr<Model>* cpu) {
  std::unique_ptr<CudaModel> m;
  if (auto w = Mamba1WeightsOf(**cpu)) {
    auto mm = std::make_unique<Mamba1CudaModel>();
    RS_RETURN_IF_ERROR(mm->Init(**cpu, *w));
    m = std::move(mm);
  } else if (auto w2 = Mamba2WeightsOf(**cpu)) {
    RS_ASSIGN_OR_RETURN(std::unique_ptr<Model> r, Mamba2ToCuda(**cpu, *w2));
    m.reset(static_cast<CudaModel*>(r.release()));
  } else if (auto w7 = Rwkv7WeightsOf(**cpu)) {
    RS_ASSIGN_OR_RETURN(std::unique_ptr<Model> r, Rwkv7ToCuda(**cpu, *w7));
    m.reset(static_cast<CudaModel*>(r.release()));
  } else if (auto w6 = Rwkv6WeightsOf(**cpu)) {
    RS_ASSIGN_OR_RETURN(std::unique_ptr<Model> r, Rwkv6ToCuda(**cpu, *w6));
    m.reset(static_cast<CudaModel*>(r.release()));
  } else {
    return UnimplementedError(std::string("no CUDA model for ") + ArchName((*cpu)->spec().arch) + " yet");
  }
  m->Adopt(std::move(*cpu));
  return std::unique_ptr<Model>(std::move(m));
}

}  // namespace rs::engine
