// What every GPU model shares (engine/models/cuda): device and pinned
// buffers, weight upload, and the step driver: CudaModel::Forward validates the
// batch, stages the step's inputs (tokens, row starts, slot pointers, logit
// rows) in pinned memory, runs the derived model's kernels eagerly or as a
// captured CUDA graph (decode steps, per batch size), and copies the logits
// back. Derived models implement EnsureModelScratch and EnqueueModel.
// Compiled only with CUDA.
#pragma once

#include <cuda_runtime.h>

#include <algorithm>
#include <initializer_list>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "engine/model.h"
#include "kernels/cpu/gemm.h"
#include "kernels/cuda/gemm.h"

namespace rs::engine::cuda_model {

using kernels::cuda::GpuWeight;
using kernels::cuda::GpuWeightType;
using kernels::WeightMatrix;

inline Status CudaError(cudaError_t e, const char* what) {
  if (e == cudaSuccess) return OkStatus();
  return UnavailableError(std::string("CUDA error in ") + what + ": " + cudaGetErrorString(e));
}
#define RS_CUDA(expr, what) RS_RETURN_IF_ERROR(::rs::engine::cuda_model::CudaError((expr), (what)))

// A buffer of device memory, or (kPinned) page-locked host memory whose
// copies can be captured in a CUDA graph; freed on destruction, grown on
// demand (amortized: at least doubling).
template <bool kPinned>
class CudaBuffer {
 public:
  CudaBuffer() = default;
  ~CudaBuffer() { Free(); }
  CudaBuffer(const CudaBuffer&) = delete;
  CudaBuffer& operator=(const CudaBuffer&) = delete;
  // Sets *grew (when given) if the buffer moved; the contents are not kept.
  cudaError_t Resize(size_t bytes, bool* grew = nullptr) {
    if (bytes <= bytes_) return cudaSuccess;
    if (grew != nullptr) *grew = true;
    bytes = std::max<size_t>(bytes, 2 * bytes_);
    Free();
    const cudaError_t e = kPinned ? cudaMallocHost(&p_, bytes) : cudaMalloc(&p_, bytes);
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
  void Free() {
    if (p_ != nullptr) kPinned ? cudaFreeHost(p_) : cudaFree(p_);
    p_ = nullptr;
    bytes_ = 0;
  }
  void* p_ = nullptr;
  size_t bytes_ = 0;
};
using DeviceBuffer = CudaBuffer<false>;
using PinnedBuffer = CudaBuffer<true>;

inline size_t ElementBytes(kernels::WeightType t) { return t == kernels::WeightType::kF32 ? 4 : 2; }

inline GpuWeightType GpuType(kernels::WeightType t) {
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

// Grows each device buffer to at least its count of floats (a model's
// scratch; DeviceBuffer::Resize, so contents are not kept); sets *grew when
// one moved. Returns the first error.
inline cudaError_t ResizeFloats(std::initializer_list<std::pair<DeviceBuffer*, int64_t>> buffers, bool* grew) {
  for (auto [buf, floats] : buffers) {
    const cudaError_t e = buf->Resize(static_cast<size_t>(floats) * sizeof(float), grew);
    if (e != cudaSuccess) return e;
  }
  return cudaSuccess;
}

// What the Mamba-1 and Mamba-2 GPU models share around their layers (the
// CPU's MambaBackbone): the embedding, the final RMSNorm's weight and the
// lm_head, which is the embedding's buffer when the checkpoint ties them.
struct GpuMambaBackbone {
  GpuMatrix embedding, lm_head_buf;
  GpuWeight lm_head;
  GpuVector norm_f;
  Status Upload(const WeightMatrix& emb, const WeightMatrix& head, const std::vector<float>& norm) {
    RS_RETURN_IF_ERROR(embedding.Upload(emb));
    if (head.data == emb.data) {
      lm_head = embedding.w;
    } else {
      RS_RETURN_IF_ERROR(lm_head_buf.Upload(head));
      lm_head = lm_head_buf.w;
    }
    return norm_f.Upload(norm);
  }
};


// A Model on the GPU built from a loaded CPU model, whose spec, state layout
// and fingerprint it keeps (so states move between backends).
class CudaModel : public Model {
 public:
  ~CudaModel() override;
  const ModelSpec& spec() const override { return spec_; }
  std::unique_ptr<StatePool> NewStatePool(int n_slots) const override;
  Status Forward(const Batch& batch, StatePool& pool, Logits* logits) final;
  // Keeps the CPU model (its mapped checkpoint) alive with this one.
  void Adopt(std::unique_ptr<Model> cpu) { cpu_ = std::move(cpu); }

 protected:
  struct StepDims {
    int64_t M;      // token rows
    int n_seq;      // sequences
    int64_t n_rows; // logit rows
  };
  // Copies the spec (device "cuda"), creates the stream and cuBLAS handle.
  Status InitBase(const Model& cpu);
  // Grows the derived model's scratch to M token rows; sets *grew when a
  // buffer moved (captured graphs are then dropped).
  virtual cudaError_t EnsureModelScratch(int64_t M, bool* grew) = 0;
  // Enqueues the model on stream_: inputs in d_tokens()/d_starts()/
  // d_slots()/d_rows() (already uploaded), n_rows rows of logits into
  // logits_dev(). Also runs under graph capture: no allocation, no sync.
  virtual Status EnqueueModel(const StepDims& d) = 0;

  const int32_t* d_tokens() const { return d_tokens_.as<int32_t>(); }
  const int32_t* d_starts() const { return d_starts_.as<int32_t>(); }
  float* const* d_slots() const { return d_slots_.as<float*>(); }
  const int32_t* d_rows() const { return d_rows_.as<int32_t>(); }
  float* logits_dev() const { return logits_dev_.as<float>(); }

  ModelSpec spec_;
  cudaStream_t stream_ = nullptr;
  kernels::cuda::GpuGemm gemm_;

 private:
  struct Graph {
    cudaGraphExec_t exec = nullptr;
    int eager_runs = 0;
  };
  cudaError_t EnsureStepBuffers(int64_t M, int n_seq, int64_t n_rows, bool* grew);
  Status Enqueue(const StepDims& d);
  void ClearGraphs();

  std::unique_ptr<Model> cpu_;
  DeviceBuffer logits_dev_, d_tokens_, d_starts_, d_slots_, d_rows_;
  PinnedBuffer h_tokens_, h_starts_, h_slots_, h_rows_, h_logits_;
  std::map<int, Graph> graphs_;  // decode graphs by batch size
  bool graphs_enabled_ = true;
};

}  // namespace rs::engine::cuda_model
