#include "engine/models/cuda/cuda_model.h"

#include "engine/models/common.h"
#include "engine/models/cuda/cuda_backend.h"

namespace rs::engine {
namespace {

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

}  // namespace

std::unique_ptr<StateMemory> NewCudaStateMemory() { return std::make_unique<CudaStateMemory>(); }

namespace cuda_model {

CudaModel::~CudaModel() {
  ClearGraphs();
  if (stream_ != nullptr) cudaStreamDestroy(stream_);
}

std::unique_ptr<StatePool> CudaModel::NewStatePool(int n_slots) const {
  return std::make_unique<StatePool>(spec_.state, spec_.fingerprint, n_slots, NewCudaStateMemory());
}

Status CudaModel::InitBase(const Model& cpu) {
  spec_ = cpu.spec();
  spec_.device = "cuda";
  RS_CUDA(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking), "stream");
  RS_CUDA(gemm_.Init(stream_), "cuBLAS init");
  return OkStatus();
}

void CudaModel::ClearGraphs() {
  for (auto& [b, g] : graphs_) {
    if (g.exec != nullptr) cudaGraphExecDestroy(g.exec);
  }
  graphs_.clear();
}

cudaError_t CudaModel::EnsureStepBuffers(int64_t M, int n_seq, int64_t n_rows, bool* grew) {
  const size_t logit_bytes = static_cast<size_t>(n_rows * spec_.vocab_size) * sizeof(float);
  for (auto [buf, bytes] : {std::pair{&logits_dev_, logit_bytes}, {&d_tokens_, static_cast<size_t>(M) * 4},
                            {&d_starts_, static_cast<size_t>(n_seq + 1) * 4},
                            {&d_slots_, static_cast<size_t>(n_seq) * sizeof(float*)},
                            {&d_rows_, static_cast<size_t>(n_rows) * 4}}) {
    const cudaError_t e = buf->Resize(bytes, grew);
    if (e != cudaSuccess) return e;
  }
  for (auto [buf, bytes] : {std::pair{&h_tokens_, static_cast<size_t>(M) * 4},
                            {&h_starts_, static_cast<size_t>(n_seq + 1) * 4},
                            {&h_slots_, static_cast<size_t>(n_seq) * sizeof(float*)},
                            {&h_rows_, static_cast<size_t>(n_rows) * 4}, {&h_logits_, logit_bytes}}) {
    const cudaError_t e = buf->Resize(bytes, grew);
    if (e != cudaSuccess) return e;
  }
  return cudaSuccess;
}

Status CudaModel::Enqueue(const StepDims& d) {
  RS_CUDA(cudaMemcpyAsync(d_tokens_.as<int32_t>(), h_tokens_.as<int32_t>(), static_cast<size_t>(d.M) * 4,
                          cudaMemcpyHostToDevice, stream_),
          "upload");
  RS_CUDA(cudaMemcpyAsync(d_starts_.as<int32_t>(), h_starts_.as<int32_t>(), static_cast<size_t>(d.n_seq + 1) * 4,
                          cudaMemcpyHostToDevice, stream_),
          "upload");
  RS_CUDA(cudaMemcpyAsync(d_slots_.as<float*>(), h_slots_.as<float*>(), static_cast<size_t>(d.n_seq) * sizeof(float*),
                          cudaMemcpyHostToDevice, stream_),
          "upload");
  RS_CUDA(cudaMemcpyAsync(d_rows_.as<int32_t>(), h_rows_.as<int32_t>(), static_cast<size_t>(d.n_rows) * 4,
                          cudaMemcpyHostToDevice, stream_),
          "upload");
  RS_RETURN_IF_ERROR(EnqueueModel(d));
  RS_CUDA(cudaMemcpyAsync(h_logits_.as<float>(), logits_dev_.as<float>(),
                          static_cast<size_t>(d.n_rows * spec_.vocab_size) * 4, cudaMemcpyDeviceToHost, stream_),
          "logits copy");
  return OkStatus();
}

Status CudaModel::Forward(const Batch& batch, StatePool& pool, Logits* logits) {
  RS_RETURN_IF_ERROR(ValidateBatch(batch, pool, spec_));
  for (const SeqChunk& c : batch.seqs) {
    if (c.embed) {
      return UnimplementedError("embeddings (SeqChunk::embed) are not implemented on the CUDA backend");
    }
  }
  const int n_seq = static_cast<int>(batch.seqs.size());
  const std::vector<int64_t> row0 = TokenRowStarts(batch);
  const std::vector<int64_t> rows64 = LogitRows(batch, row0, logits);
  const StepDims dims{row0[static_cast<size_t>(n_seq)], n_seq, static_cast<int64_t>(rows64.size())};
  bool grew = false;
  RS_CUDA(EnsureStepBuffers(dims.M, n_seq, dims.n_rows, &grew), "step buffers");
  RS_CUDA(EnsureModelScratch(dims.M, &grew), "scratch");
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
  const bool decode = dims.M == n_seq && dims.n_rows == n_seq;
  Graph* graph = nullptr;
  if (decode && graphs_enabled_) {
    Graph& g = graphs_[n_seq];
    if (g.exec != nullptr) {
      graph = &g;
    } else if (g.eager_runs++ >= 1) {
      cudaGraph_t captured = nullptr;
      if (cudaStreamBeginCapture(stream_, cudaStreamCaptureModeThreadLocal) == cudaSuccess) {
        const Status st = Enqueue(dims);
        const cudaError_t end = cudaStreamEndCapture(stream_, &captured);
        if (st.ok() && end == cudaSuccess && cudaGraphInstantiate(&g.exec, captured, 0) == cudaSuccess) {
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
    RS_RETURN_IF_ERROR(Enqueue(dims));
  }
  RS_CUDA(cudaStreamSynchronize(stream_), "step");
  logits->vocab_size = spec_.vocab_size;
  logits->data.assign(h_logits_.as<float>(), h_logits_.as<float>() + dims.n_rows * spec_.vocab_size);
  return OkStatus();
}

}  // namespace cuda_model
}  // namespace rs::engine
