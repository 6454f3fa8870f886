// Mamba-1 on the GPU: the CPU model's computation (engine/models/mamba1.cc)
// step by step with the kernels of kernels/cuda, weights uploaded once in
// their checkpoint dtype, states in a device StatePool (kernels take the slot
// pointers: no state is copied per step). Logits are copied back to the host.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "engine/models/common.h"
#include "engine/models/cuda/cuda_backend.h"
#include "engine/models/mamba1.h"
#include "kernels/cuda/gemm.h"
#include "kernels/cuda/mamba1_ops.h"
#include "kernels/cuda/model_ops.h"

namespace rs::engine {
namespace {

using kernels::cuda::GpuWeight;
using kernels::cuda::GpuWeightType;

Status CudaError(cudaError_t e, const char* what) {
  if (e == cudaSuccess) return OkStatus();
  return UnavailableError(std::string("CUDA error in ") + what + ": " + cudaGetErrorString(e));
}
#define RS_CUDA(expr, what) RS_RETURN_IF_ERROR(CudaError((expr), (what)))

class CudaStateMemory final : public StateMemory {
 public:
  float* Allocate(size_t n) override {
    void* p = nullptr;
    return cudaMalloc(&p, std::max<size_t>(n, 16) * sizeof(float)) == cudaSuccess ? static_cast<float*>(p) : nullptr;
  }
  void Free(float* p) override { cudaFree(p); }
  void Zero(float* dst, size_t n) override { cudaMemset(dst, 0, n * sizeof(float)); }
  void ToHost(const float* src, size_t n, float* host) override {
    cudaDeviceSynchronize();  // the step that wrote it may still run on its stream
    cudaMemcpy(host, src, n * sizeof(float), cudaMemcpyDeviceToHost);
  }
  void FromHost(const float* host, size_t n, float* dst) override {
    cudaMemcpy(dst, host, n * sizeof(float), cudaMemcpyHostToDevice);
  }
  void Copy(const float* src, size_t n, float* dst) override {
    cudaMemcpy(dst, src, n * sizeof(float), cudaMemcpyDeviceToDevice);
  }
  const char* device() const override { return "cuda"; }
};

// A device buffer (freed on destruction).
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  ~DeviceBuffer() { cudaFree(p_); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  cudaError_t Resize(size_t bytes, bool* grew = nullptr) {
    if (bytes <= bytes_) return cudaSuccess;
    if (grew != nullptr) *grew = true;
    bytes = std::max<size_t>(bytes, 2 * bytes_);  // amortized growth
    cudaFree(p_);
    p_ = nullptr;
    bytes_ = 0;
    const cudaError_t e = cudaMalloc(&p_, bytes);
    if (e == cudaSuccess) bytes_ = bytes;
    return e;
  }
  cudaError_t Upload(const void* host, size_t bytes) {
    const cudaError_t e = Resize(bytes);
    return e != cudaSuccess ? e : cudaMemcpy(p_, host, bytes, cudaMemcpyHostToDevice);
  }
  template <typename T>
  T* as() const {
    return static_cast<T*>(p_);
  }

 private:
  void* p_ = nullptr;
  size_t bytes_ = 0;
};

// Page-locked host memory (graph-capturable copies), grown on demand.
class PinnedBuffer {
 public:
  PinnedBuffer() = default;
  ~PinnedBuffer() { cudaFreeHost(p_); }
  PinnedBuffer(const PinnedBuffer&) = delete;
  PinnedBuffer& operator=(const PinnedBuffer&) = delete;
  cudaError_t Resize(size_t bytes, bool* grew) {
    if (bytes <= bytes_) return cudaSuccess;
    *grew = true;
    bytes = std::max<size_t>({bytes, 2 * bytes_, 64});
    cudaFreeHost(p_);
    p_ = nullptr;
    bytes_ = 0;
    const cudaError_t e = cudaMallocHost(&p_, bytes);
    if (e == cudaSuccess) bytes_ = bytes;
    return e;
  }
  template <typename T>
  T* as() const {
    return static_cast<T*>(p_);
  }

 private:
  void* p_ = nullptr;
  size_t bytes_ = 0;
};

size_t ElementBytes(kernels::WeightType t) { return t == kernels::WeightType::kF32 ? 4 : 2; }

GpuWeightType GpuType(kernels::WeightType t) {
  return t == kernels::WeightType::kF32   ? GpuWeightType::kF32
         : t == kernels::WeightType::kBF16 ? GpuWeightType::kBF16
                                           : GpuWeightType::kF16;
}

struct GpuMatrix {
  DeviceBuffer buf;
  GpuWeight w;
  Status Upload(const WeightMatrix& m) {
    RS_CUDA(buf.Upload(m.data, static_cast<size_t>(m.n * m.k) * ElementBytes(m.type)), "weight upload");
    w = GpuWeight{GpuType(m.type), buf.as<void>(), m.n, m.k};
    return OkStatus();
  }
};

struct GpuVector {
  DeviceBuffer buf;
  const float* ptr = nullptr;  // null when the host vector is empty
  Status Upload(const std::vector<float>& v) {
    if (v.empty()) return OkStatus();
    RS_CUDA(buf.Upload(v.data(), v.size() * sizeof(float)), "vector upload");
    ptr = buf.as<float>();
    return OkStatus();
  }
};

struct GpuLayer {
  GpuVector norm, in_bias, conv_w, conv_b, dt_bias, A, D, out_bias;
  GpuMatrix in_proj, x_proj, dt_proj, out_proj;
  size_t conv_off = 0, ssm_off = 0;
};

class Mamba1CudaModel final : public Model {
 public:
  Mamba1CudaModel() = default;
  ~Mamba1CudaModel() override {
    ClearGraphs();
    if (stream_ != nullptr) cudaStreamDestroy(stream_);
  }

  // Uploads `w` (of `cpu`); then Adopt(cpu) keeps the CPU model alive.
  Status Init(const Model& cpu, const Mamba1Weights& w) {
    spec_ = cpu.spec();
    spec_.device = "cuda";
    D_ = w.D, E_ = w.E, N_ = w.N, R_ = w.R, K_ = w.K, V_ = w.V;
    eps_ = w.eps;
    if (K_ > 8) return UnimplementedError("CUDA Mamba-1: d_conv > 8");
    RS_CUDA(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking), "stream");
    RS_CUDA(gemm_.Init(stream_), "cuBLAS init");
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

  void Adopt(std::unique_ptr<Model> cpu) { cpu_ = std::move(cpu); }

  const ModelSpec& spec() const override { return spec_; }

  std::unique_ptr<StatePool> NewStatePool(int n_slots) const override {
    return std::make_unique<StatePool>(spec_.state, spec_.fingerprint, n_slots, NewCudaStateMemory());
  }

  Status Forward(const Batch& batch, StatePool& pool, Logits* logits) override {
    RS_RETURN_IF_ERROR(ValidateBatch(batch, pool, spec_));
    const int n_seq = static_cast<int>(batch.seqs.size());
    const std::vector<int64_t> row0 = TokenRowStarts(batch);
    const int64_t M = row0[static_cast<size_t>(n_seq)];
    const std::vector<int64_t> rows64 = LogitRows(batch, row0, logits);
    const auto n_rows = static_cast<int64_t>(rows64.size());
    bool grew = false;
    RS_CUDA(EnsureScratch(M, n_seq, n_rows, &grew), "scratch");
    if (grew) ClearGraphs();  // graphs hold the old buffers' addresses
    // The step's host inputs go to pinned staging at fixed addresses, so a
    // captured graph's uploads read this step's values.
    int32_t* tokens = h_tokens_.as<int32_t>();
    for (const SeqChunk& c : batch.seqs) tokens = std::copy(c.tokens.begin(), c.tokens.end(), tokens);
    std::copy(row0.begin(), row0.end(), h_starts_.as<int32_t>());
    for (int s = 0; s < n_seq; ++s) h_slots_.as<float*>()[s] = pool.SlotData(batch.seqs[static_cast<size_t>(s)].slot);
    std::copy(rows64.begin(), rows64.end(), h_rows_.as<int32_t>());

    // Decode steps (one token per sequence) replay a CUDA graph per batch
    // size: the first step of a size runs eagerly (it sizes every scratch
    // buffer, cuBLAS's included), the second is captured, later ones replay.
    const bool decode = M == n_seq && n_rows == n_seq;
    Graph* graph = nullptr;
    if (decode && graphs_enabled_) {
      Graph& g = graphs_[n_seq];
      if (g.exec != nullptr) {
        graph = &g;
      } else if (g.eager_runs++ >= 1) {
        cudaGraph_t captured = nullptr;
        if (cudaStreamBeginCapture(stream_, cudaStreamCaptureModeThreadLocal) == cudaSuccess) {
          const Status st = Enqueue(M, n_seq, n_rows);
          const cudaError_t end = cudaStreamEndCapture(stream_, &captured);
          if (st.ok() && end == cudaSuccess &&
              cudaGraphInstantiate(&g.exec, captured, 0) == cudaSuccess) {
            graph = &g;
          } else {
            g.exec = nullptr;
            graphs_enabled_ = false;  // capture failed: stay eager
          }
          if (captured != nullptr) cudaGraphDestroy(captured);
        }
        cudaGetLastError();
      }
    }
    if (graph != nullptr) {
      RS_CUDA(cudaGraphLaunch(graph->exec, stream_), "graph launch");
    } else {
      RS_RETURN_IF_ERROR(Enqueue(M, n_seq, n_rows));
    }
    RS_CUDA(cudaStreamSynchronize(stream_), "step");
    logits->vocab_size = V_;
    logits->data.assign(h_logits_.as<float>(), h_logits_.as<float>() + n_rows * V_);
    return OkStatus();
  }

 private:
  struct Graph {
    cudaGraphExec_t exec = nullptr;
    int eager_runs = 0;
  };

  void ClearGraphs() {
    for (auto& [b, g] : graphs_) {
      if (g.exec != nullptr) cudaGraphExecDestroy(g.exec);
    }
    graphs_.clear();
  }

  // Enqueues one step on stream_ from the staged inputs (also under capture).
  Status Enqueue(int64_t M, int n_seq, int64_t n_rows) {
    RS_CUDA(cudaMemcpyAsync(d_tokens_.as<int32_t>(), h_tokens_.as<int32_t>(), static_cast<size_t>(M) * 4,
                            cudaMemcpyHostToDevice, stream_),
            "upload");
    RS_CUDA(cudaMemcpyAsync(d_starts_.as<int32_t>(), h_starts_.as<int32_t>(), static_cast<size_t>(n_seq + 1) * 4,
                            cudaMemcpyHostToDevice, stream_),
            "upload");
    RS_CUDA(cudaMemcpyAsync(d_slots_.as<float*>(), h_slots_.as<float*>(), static_cast<size_t>(n_seq) * sizeof(float*),
                            cudaMemcpyHostToDevice, stream_),
            "upload");
    RS_CUDA(cudaMemcpyAsync(d_rows_.as<int32_t>(), h_rows_.as<int32_t>(), static_cast<size_t>(n_rows) * 4,
                            cudaMemcpyHostToDevice, stream_),
            "upload");
    namespace kc = kernels::cuda;
    float* hidden = hidden_.as<float>();
    float* normed = normed_.as<float>();
    float* xz = xz_.as<float>();
    float* u = u_.as<float>();
    float* dbc = dbc_.as<float>();
    float* dt = dt_.as<float>();
    float* y = y_.as<float>();
    const int64_t ldbc = R_ + 2 * N_;
    RS_CUDA(kc::GatherRows(embedding_.w, d_tokens_.as<int32_t>(), M, hidden, stream_), "embedding");
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
      RS_CUDA(kc::Mamba1ConvSilu(xz, M, 2 * E_, E_, static_cast<int>(K_), L.conv_w.ptr, L.conv_b.ptr,
                                 d_starts_.as<int32_t>(), n_seq, d_slots_.as<float*>(),
                                 static_cast<int64_t>(L.conv_off), u, E_, stream_),
              "conv");
      RS_CUDA(gemm_.Run(u, M, E_, L.x_proj.w, nullptr, dbc, ldbc), "x_proj");
      RS_CUDA(gemm_.Run(dbc, M, ldbc, L.dt_proj.w, nullptr, dt, E_), "dt_proj");
      RS_CUDA(kc::Mamba1Scan(u, E_, dt, E_, L.dt_bias.ptr, L.A.ptr, dbc + R_, dbc + R_ + N_, ldbc, L.D.ptr, xz + E_,
                             2 * E_, E_, N_, d_starts_.as<int32_t>(), n_seq, d_slots_.as<float*>(),
                             static_cast<int64_t>(L.ssm_off), y, E_, stream_),
              "scan");
      RS_CUDA(gemm_.Run(y, M, E_, L.out_proj.w, L.out_bias.ptr, normed, D_), "out_proj");
    }
    RS_CUDA(kc::AddInPlace(hidden, normed, M * D_, stream_), "residual");
    RS_CUDA(kc::RmsNormRows(hidden, d_rows_.as<int32_t>(), n_rows, D_, D_, norm_f_.ptr, eps_, normed, D_, stream_),
            "norm_f");
    RS_CUDA(gemm_.Run(normed, n_rows, D_, lm_head_, nullptr, logits_dev_.as<float>(), V_), "lm_head");
    RS_CUDA(cudaMemcpyAsync(h_logits_.as<float>(), logits_dev_.as<float>(), static_cast<size_t>(n_rows * V_) * 4,
                            cudaMemcpyDeviceToHost, stream_),
            "logits copy");
    return OkStatus();
  }

  cudaError_t EnsureScratch(int64_t M, int n_seq, int64_t n_rows, bool* grew) {
    const auto f = [](int64_t n) { return static_cast<size_t>(n) * sizeof(float); };
    for (auto [buf, bytes] : {std::pair{&hidden_, f(M * D_)}, {&normed_, f(M * D_)}, {&xz_, f(M * 2 * E_)},
                              {&u_, f(M * E_)}, {&dbc_, f(M * (R_ + 2 * N_))}, {&dt_, f(M * E_)}, {&y_, f(M * E_)},
                              {&logits_dev_, f(n_rows * V_)}, {&d_tokens_, static_cast<size_t>(M) * 4},
                              {&d_starts_, static_cast<size_t>(n_seq + 1) * 4},
                              {&d_slots_, static_cast<size_t>(n_seq) * sizeof(float*)},
                              {&d_rows_, static_cast<size_t>(n_rows) * 4}}) {
      const cudaError_t e = buf->Resize(bytes, grew);
      if (e != cudaSuccess) return e;
    }
    for (auto [buf, bytes] : {std::pair{&h_tokens_, static_cast<size_t>(M) * 4},
                              {&h_starts_, static_cast<size_t>(n_seq + 1) * 4},
                              {&h_slots_, static_cast<size_t>(n_seq) * sizeof(float*)},
                              {&h_rows_, static_cast<size_t>(n_rows) * 4}, {&h_logits_, f(n_rows * V_)}}) {
      const cudaError_t e = buf->Resize(bytes, grew);
      if (e != cudaSuccess) return e;
    }
    return cudaSuccess;
  }

  std::unique_ptr<Model> cpu_;  // owns the mapped checkpoint and the spec
  ModelSpec spec_;
  int64_t D_ = 0, E_ = 0, N_ = 0, R_ = 0, K_ = 0, V_ = 0;
  float eps_ = 1e-5f;
  cudaStream_t stream_ = nullptr;
  kernels::cuda::GpuGemm gemm_;
  GpuMatrix embedding_, lm_head_buf_;
  GpuWeight lm_head_;
  GpuVector norm_f_;
  std::vector<GpuLayer> layers_;
  DeviceBuffer hidden_, normed_, xz_, u_, dbc_, dt_, y_, logits_dev_, d_tokens_, d_starts_, d_slots_, d_rows_;
  PinnedBuffer h_tokens_, h_starts_, h_slots_, h_rows_, h_logits_;
  std::map<int, Graph> graphs_;  // decode graphs by batch size
  bool graphs_enabled_ = true;
};

}  // namespace

std::unique_ptr<StateMemory> NewCudaStateMemory() { return std::make_unique<CudaStateMemory>(); }

StatusOr<std::unique_ptr<Model>> ToCuda(std::unique_ptr<Model>* cpu) {
  if (auto w = Mamba1WeightsOf(**cpu)) {
    auto m = std::make_unique<Mamba1CudaModel>();
    RS_RETURN_IF_ERROR(m->Init(**cpu, *w));
    m->Adopt(std::move(*cpu));
    return std::unique_ptr<Model>(std::move(m));
  }
  return UnimplementedError(std::string("no CUDA model for ") + ArchName((*cpu)->spec().arch) + " yet");
}

}  // namespace rs::engine
