// The CUDA runtime API that the CUDA backend uses, on the host, for
// tools/cuda_emu (see README.md).
//
// Contract: device memory is host memory (cudaMalloc = calloc, so freshly
// allocated device memory reads as zeros, unlike on a GPU); there is one
// stream, and work on it runs when enqueued, except while the stream is being
// captured: then kernel launches, async copies and GEMMs are recorded into
// the graph, which cudaGraphLaunch replays in order. The calls a real capture
// refuses (synchronous copies, memset, malloc, synchronizations) fail during
// capture with cudaErrorStreamCaptureUnsupported and are counted (the count
// is printed at exit by fake_probe.cc).
#pragma once
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <utility>
#include <vector>

#include "shim.h"

typedef int cudaError_t;
enum {
  cudaSuccess = 0,
  cudaErrorInvalidValue = 1,
  cudaErrorInvalidConfiguration = emu::kErrorInvalidConfiguration,
  cudaErrorNotSupported = 801,
  cudaErrorStreamCaptureUnsupported = 900,
  cudaErrorUnknown = 999,
};
enum cudaMemcpyKind {
  cudaMemcpyHostToHost,
  cudaMemcpyHostToDevice,
  cudaMemcpyDeviceToHost,
  cudaMemcpyDeviceToDevice,
  cudaMemcpyDefault
};
enum cudaStreamCaptureMode { cudaStreamCaptureModeGlobal, cudaStreamCaptureModeThreadLocal };
enum { cudaStreamNonBlocking = 1 };

typedef struct CUstream_st* cudaStream_t;
struct CUgraph_st {
  std::vector<std::function<void()>> ops;
};
struct CUgraphExec_st {
  std::vector<std::function<void()>> ops;
};
typedef CUgraph_st* cudaGraph_t;
typedef CUgraphExec_st* cudaGraphExec_t;

inline cudaError_t cudaGetLastError() { return std::exchange(emu::last_error, cudaSuccess); }
inline cudaError_t cudaPeekAtLastError() { return emu::last_error; }
inline const char* cudaGetErrorString(cudaError_t e) {
  switch (e) {
    case cudaSuccess:
      return "no error (emulated)";
    case cudaErrorInvalidConfiguration:
      return "invalid configuration argument (emulated)";
    case cudaErrorStreamCaptureUnsupported:
      return "operation not permitted when stream is capturing (emulated)";
    default:
      return "emulated CUDA error";
  }
}

template <typename T>
cudaError_t cudaMalloc(T** p, size_t n) {
  if (emu::CaptureViolation("cudaMalloc")) return cudaErrorStreamCaptureUnsupported;
  *p = reinterpret_cast<T*>(std::calloc(n ? n : 1, 1));
  return *p != nullptr ? cudaSuccess : cudaErrorUnknown;
}
template <typename T>
cudaError_t cudaMallocHost(T** p, size_t n) {
  return cudaMalloc(p, n);
}
inline cudaError_t cudaFree(void* p) {
  std::free(p);
  return cudaSuccess;
}
inline cudaError_t cudaFreeHost(void* p) { return cudaFree(p); }
inline cudaError_t cudaMemset(void* d, int v, size_t n) {
  if (emu::CaptureViolation("cudaMemset")) return cudaErrorStreamCaptureUnsupported;
  std::memset(d, v, n);
  return cudaSuccess;
}
inline cudaError_t cudaMemcpy(void* d, const void* s, size_t n, cudaMemcpyKind) {
  if (emu::CaptureViolation("cudaMemcpy")) return cudaErrorStreamCaptureUnsupported;
  std::memmove(d, s, n);
  return cudaSuccess;
}
inline cudaError_t cudaMemcpyAsync(void* d, const void* s, size_t n, cudaMemcpyKind,
                                   cudaStream_t = nullptr) {
  emu::Enqueue([=] { std::memmove(d, s, n); });
  return cudaSuccess;
}
inline cudaError_t cudaMemsetAsync(void* d, int v, size_t n, cudaStream_t = nullptr) {
  emu::Enqueue([=] { std::memset(d, v, n); });
  return cudaSuccess;
}
inline cudaError_t cudaDeviceSynchronize() {
  return emu::CaptureViolation("cudaDeviceSynchronize") ? cudaErrorStreamCaptureUnsupported
                                                        : cudaSuccess;
}
inline cudaError_t cudaStreamSynchronize(cudaStream_t) {
  return emu::CaptureViolation("cudaStreamSynchronize") ? cudaErrorStreamCaptureUnsupported
                                                        : cudaSuccess;
}
inline cudaError_t cudaStreamCreateWithFlags(cudaStream_t* s, unsigned) {
  *s = reinterpret_cast<cudaStream_t>(0x10);
  return cudaSuccess;
}
inline cudaError_t cudaStreamCreate(cudaStream_t* s) { return cudaStreamCreateWithFlags(s, 0); }
inline cudaError_t cudaStreamDestroy(cudaStream_t) { return cudaSuccess; }

inline cudaError_t cudaStreamBeginCapture(cudaStream_t, cudaStreamCaptureMode) {
  if (emu::capturing) return cudaErrorInvalidValue;
  emu::capturing = true;
  emu::recorded.clear();
  return cudaSuccess;
}
inline cudaError_t cudaStreamEndCapture(cudaStream_t, cudaGraph_t* g) {
  if (!emu::capturing) return cudaErrorInvalidValue;
  emu::capturing = false;
  *g = new CUgraph_st{std::move(emu::recorded)};
  emu::recorded.clear();
  return cudaSuccess;
}
inline cudaError_t cudaGraphInstantiate(cudaGraphExec_t* e, cudaGraph_t g, unsigned long long = 0) {
  *e = new CUgraphExec_st{g->ops};
  return cudaSuccess;
}
inline cudaError_t cudaGraphLaunch(cudaGraphExec_t e, cudaStream_t) {
  if (emu::capturing) return cudaErrorStreamCaptureUnsupported;
  ++emu::graph_launches;
  for (auto& op : e->ops) op();
  return cudaSuccess;
}
inline cudaError_t cudaGraphDestroy(cudaGraph_t g) {
  delete g;
  return cudaSuccess;
}
inline cudaError_t cudaGraphExecDestroy(cudaGraphExec_t e) {
  delete e;
  return cudaSuccess;
}
