// GPU linear-layer benchmark (a program that prints numbers): the GEMV path
// at decode shapes against the HBM copy bandwidth, and cuBLAS at batch
// shapes in TFLOP/s. Weights rotate over enough copies to exceed the L2.
// Usage: gpu_gemm_bench (prints one line per case).
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdio>
#include <vector>

#include "kernels/cuda/gemm.h"

using rs::kernels::cuda::GpuGemm;
using rs::kernels::cuda::GpuWeight;
using rs::kernels::cuda::GpuWeightType;

#define CHECK(e)                                                                         \
  do {                                                                                   \
    cudaError_t err_ = (e);                                                              \
    if (err_ != cudaSuccess) {                                                           \
      std::fprintf(stderr, "%s:%d %s\n", __FILE__, __LINE__, cudaGetErrorString(err_)); \
      return 1;                                                                          \
    }                                                                                    \
  } while (0)

int main() {
  cudaStream_t stream;
  CHECK(cudaStreamCreate(&stream));
  GpuGemm gemm;
  CHECK(gemm.Init(stream));
  cudaEvent_t a, b;
  CHECK(cudaEventCreate(&a));
  CHECK(cudaEventCreate(&b));
  // Copy bandwidth (read + write), 2 GiB.
  {
    const size_t bytes = 2ull << 30;
    void *s = nullptr, *d = nullptr;
    CHECK(cudaMalloc(&s, bytes));
    CHECK(cudaMalloc(&d, bytes));
    CHECK(cudaMemset(s, 1, bytes));
    std::vector<float> ms;
    for (int r = 0; r < 7; ++r) {
      CHECK(cudaEventRecord(a, stream));
      CHECK(cudaMemcpyAsync(d, s, bytes, cudaMemcpyDeviceToDevice, stream));
      CHECK(cudaEventRecord(b, stream));
      CHECK(cudaEventSynchronize(b));
      float t;
      CHECK(cudaEventElapsedTime(&t, a, b));
      ms.push_back(t);
    }
    std::sort(ms.begin(), ms.end());
    std::printf("copy D2D: %.0f GB/s (read + write)\n", 2.0 * bytes / (ms[3] * 1e-3) / 1e9);
    cudaFree(s);
    cudaFree(d);
  }
  struct Shape {
    const char* name;
    int64_t n, k;
  };
  const Shape shapes[] = {{"mamba-1.4b in_proj", 8192, 2048}, {"mamba-1.4b out_proj", 2048, 4096},
                          {"lm_head 50280x2048", 50280, 2048}, {"lm_head 50280x768", 50280, 768},
                          {"rwkv7-1.5b ffn key", 8192, 2048}};
  for (GpuWeightType type : {GpuWeightType::kBF16, GpuWeightType::kF32}) {
    const int esize = type == GpuWeightType::kF32 ? 4 : 2;
    for (const Shape& sh : shapes) {
      const size_t wbytes = static_cast<size_t>(sh.n * sh.k) * esize;
      const int copies = static_cast<int>(std::max<size_t>(2, (512ull << 20) / wbytes + 1));
      std::vector<void*> ws(copies);
      for (auto& w : ws) {
        CHECK(cudaMalloc(&w, wbytes));
        CHECK(cudaMemset(w, 0x3c, wbytes));
      }
      float *x = nullptr, *y = nullptr;
      CHECK(cudaMalloc(&x, 256 * sh.k * sizeof(float)));
      CHECK(cudaMemset(x, 0x3c, 256 * sh.k * sizeof(float)));  // never time on zeros
      CHECK(cudaMalloc(&y, 256 * sh.n * sizeof(float)));
      for (int64_t M : {1, 4, 8, 64, 256}) {
        std::vector<float> ms;
        for (int r = 0; r < 5; ++r) {
          CHECK(cudaEventRecord(a, stream));
          for (int c = 0; c < copies; ++c) {
            GpuWeight gw{type, ws[c], sh.n, sh.k};
            CHECK(gemm.Run(x, M, sh.k, gw, nullptr, y, sh.n));
          }
          CHECK(cudaEventRecord(b, stream));
          CHECK(cudaEventSynchronize(b));
          float t;
          CHECK(cudaEventElapsedTime(&t, a, b));
          ms.push_back(t / copies);
        }
        std::sort(ms.begin(), ms.end());
        const double s = ms[2] * 1e-3;
        std::printf("%-5s %-22s M=%-4lld %8.1f us  %7.0f GB/s of weights  %7.1f TFLOP/s  (%s)\n",
                    type == GpuWeightType::kF32 ? "F32" : "BF16", sh.name, static_cast<long long>(M), s * 1e6,
                    wbytes / s / 1e9, 2.0 * M * sh.n * sh.k / s / 1e12,
                    M <= rs::kernels::cuda::kGemvMaxRows ? "gemv" : "cublas");
      }
      for (auto& w : ws) cudaFree(w);
      cudaFree(x);
      cudaFree(y);
    }
  }
  return 0;
}
