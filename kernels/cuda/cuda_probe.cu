#include "kernels/cuda/cuda_probe.h"

#include <cuda_runtime.h>

#include <algorithm>

namespace rs::kernels::cuda {

int UsableDeviceCount() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();  // clear the sticky error
    return 0;
  }
  return n;
}

}  // namespace rs::kernels::cuda

namespace rs::kernels::cuda {

double DeviceCopyBandwidth() {
  const size_t bytes = 1ull << 30;
  void *src = nullptr, *dst = nullptr;
  cudaEvent_t a = nullptr, b = nullptr;
  double result = 0;
  if (cudaMalloc(&src, bytes) == cudaSuccess && cudaMalloc(&dst, bytes) == cudaSuccess &&
      cudaMemset(src, 1, bytes) == cudaSuccess && cudaEventCreate(&a) == cudaSuccess &&
      cudaEventCreate(&b) == cudaSuccess) {
    float ms[5];
    bool ok = true;
    for (float& m : ms) {
      ok = ok && cudaEventRecord(a) == cudaSuccess &&
           cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToDevice) == cudaSuccess && cudaEventRecord(b) == cudaSuccess &&
           cudaEventSynchronize(b) == cudaSuccess && cudaEventElapsedTime(&m, a, b) == cudaSuccess;
    }
    if (ok) {
      std::sort(ms, ms + 5);
      result = 2.0 * static_cast<double>(bytes) / (ms[2] * 1e-3);
    }
  }
  if (a) cudaEventDestroy(a);
  if (b) cudaEventDestroy(b);
  cudaFree(src);
  cudaFree(dst);
  cudaGetLastError();
  return result;
}

}  // namespace rs::kernels::cuda
