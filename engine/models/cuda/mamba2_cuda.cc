// Mamba-2 on the GPU: the CPU model's computation (engine/models/mamba2.cc)
// with the kernels of kernels/cuda (gemm, model_ops, Mamba-1's causal conv,
// mamba2_ops), weights uploaded once in their checkpoint dtype, states in a
// device StatePool with the CPU model's layout (kernels take the slot
// pointers: no state is copied per step). The step driver is CudaModel's.
//
// The SSM, per sequence of a step, by the CPU model's policy: the
// recurrence (Mamba2Scan; any split of a sequence into chunks gives bitwise
// the single steps' results) unless the model was loaded with
// ssd_min_tokens > 0 (LoadOptions::mamba2_ssd_min_tokens) and the sequence's
// chunk has at least min_tokens = max(ssd_min_tokens, 2) tokens: then the
// chunked SSD form (Mamba2ScanChunked, chunks of the config's chunk_size;
// equal within float rounding, not bitwise). A mixed step splits: the
// chunked kernels skip the short sequences and Mamba2Scan the long ones, so
// a sequence's path depends only on its own chunk length (batched ==
// alone). Single tokens always take the recurrence: decode steps (the ones
// replayed from CUDA graphs) never launch the chunked kernels, whose
// scratch is sized per step here (M and n_seq) outside any capture.
#include <algorithm>
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
    ssd_chunk_ = std::max<int64_t>(1, w.chunk_size);
    ssd_min_tokens_ = w.ssd_min_tokens > 0 ? std::max<int64_t>(2, w.ssd_min_tokens) : 0;
    RS_RETURN_IF_ERROR(backbone_.Upload(w.embedding, w.lm_head, w.norm_f));
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
    return ResizeFloats({{&hidden_, M * D_},
                         {&normed_, M * D_},
                         {&zxbcdt_, M * W_},
                         {&xbc_, M * Cx_},
                         {&y_, M * E_}},
                        grew);
  }

  Status EnqueueModel(const StepDims& d) override {
    namespace kc = kernels::cuda;
    const int64_t M = d.M;
    float* hidden = hidden_.as<float>();
    float* normed = normed_.as<float>();
    float* zxbcdt = zxbcdt_.as<float>();  // (M, W): z | xBC | dt
    float* xbc = xbc_.as<float>();        // (M, Cx): x | B | C after conv + silu
    float* y = y_.as<float>();            // (M, E)
    // The chunked SSD form, when some sequence may have ssd_min_tokens_
    // tokens (each has at least one, so none has more than M - n_seq + 1).
    // Never in a decode step (M == n_seq, min tokens >= 2): no allocation
    // under graph capture.
    const bool chunked = ssd_min_tokens_ > 0 && M - d.n_seq + 1 >= ssd_min_tokens_;
    if (chunked) {
      kernels::SsdParams dims;
      dims.H = H_, dims.P = P_, dims.G = G_, dims.N = N_;
      RS_CUDA(ssd_scratch_.Resize(kc::Mamba2ChunkedScratchBytes(dims, M, d.n_seq, ssd_chunk_)),
              "ssd scratch");
    }
    RS_CUDA(kc::GatherRows(backbone_.embedding.w, d_tokens(), M, hidden, stream_), "embedding");
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
      const float* dtr = zxbcdt + E_ + Cx_;
      const int64_t ssm_off = static_cast<int64_t>(L.ssm_off);
      if (chunked) {  // the sequences of at least ssd_min_tokens_ tokens
        RS_CUDA(kc::Mamba2ScanChunked(q, xbc, Cx_, xbc + E_, xbc + E_ + G_ * N_, Cx_, dtr, W_,
                                      d_starts(), d.n_seq, M, ssd_chunk_, ssd_min_tokens_,
                                      d_slots(), ssm_off, y, E_, ssd_scratch_.as<void>(), stream_),
                "ssd chunked");
      }
      RS_CUDA(kc::Mamba2Scan(q, xbc, Cx_, xbc + E_, xbc + E_ + G_ * N_, Cx_, dtr, W_, d_starts(),
                             d.n_seq, d_slots(), ssm_off, y, E_, stream_,
                             chunked ? ssd_min_tokens_ : 0),
              "ssd scan");
      // y = GroupRMSNorm(y ⊙ silu(z)) ⊙ w, in place.
      RS_CUDA(kc::Mamba2GatedRmsNorm(y, E_, zxbcdt, W_, M, E_, G_, L.gnorm.ptr, gated_eps_, y, E_,
                                     stream_),
              "gated norm");
      RS_CUDA(gemm_.Run(y, M, E_, L.out_proj.w, L.out_bias.ptr, normed, D_), "out_proj");
    }
    RS_CUDA(kc::AddInPlace(hidden, normed, M * D_, stream_), "residual");
    RS_CUDA(kc::RmsNormRows(hidden, d_rows(), d.n_rows, D_, D_, backbone_.norm_f.ptr, eps_, normed,
                            D_, stream_),
            "norm_f");
    RS_CUDA(gemm_.Run(normed, d.n_rows, D_, backbone_.lm_head, nullptr, logits_dev(), V_),
            "lm_head");
    return OkStatus();
  }

  int64_t D_ = 0, E_ = 0, H_ = 0, P_ = 0, G_ = 0, N_ = 0, K_ = 0, V_ = 0, Cx_ = 0, W_ = 0;
  float eps_ = 1e-5f, gated_eps_ = 1e-5f, dt_min_ = 0.0f, dt_max_ = 0.0f;
  int64_t ssd_chunk_ = 256;     // the chunked SSD form's chunk length (config chunk_size)
  int64_t ssd_min_tokens_ = 0;  // 0: always the recurrence; else >= 2 (see the top)
  GpuMambaBackbone backbone_;
  std::vector<GpuLayer> layers_;
  DeviceBuffer hidden_, normed_, zxbcdt_, xbc_, y_;
  DeviceBuffer ssd_scratch_;  // Mamba2ScanChunked's, grown by prefill steps only
};

}  // namespace

StatusOr<std::unique_ptr<Model>> Mamba2ToCuda(const Model& cpu, const Mamba2Weights& w) {
  auto m = std::make_unique<Mamba2CudaModel>();
  RS_RETURN_IF_ERROR(m->Init(cpu, w));
  return std::unique_ptr<Model>(std::move(m));
}

}  // namespace rs::engine
