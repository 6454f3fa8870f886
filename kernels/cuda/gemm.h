// Linear layers on the GPU: y = x · Wᵀ (+ bias) with W in the PyTorch
// nn.Linear layout (N rows of K), F32, F16 or BF16, fp32 activations in and
// out, fp32 accumulation (the CPU's kernels::Gemm contract, up to reduction
// order).
//
//   * M <= kGemvMaxRows (decode): our GEMV kernel streams W once, widening
//     each element exactly to fp32 and multiplying fp32 activations (no
//     rounding of x): memory-bound, aimed at the HBM roofline.
//   * larger M (prefill, big batches): cuBLAS. F32 weights: cublasGemmEx with
//     CUBLAS_COMPUTE_32F (never TF32). F16/BF16 weights: x is rounded to the
//     weight type into `scratch` and cublasGemmEx multiplies with fp32
//     accumulation and fp32 output (what frameworks do; the BF16 tolerance
//     covers the rounding of x).
//
// Thread-safety: a GpuGemm (a cuBLAS handle bound to one stream) is used by
// one thread at a time.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

namespace rs::kernels::cuda {

enum class GpuWeightType { kF32, kF16, kBF16 };

struct GpuWeight {
  GpuWeightType type = GpuWeightType::kF32;
  const void* data = nullptr;  // device, N x K row-major
  int64_t n = 0, k = 0;
};

// Measured on the H200 (tests/gpu/gpu_gemm_bench): the GEMV re-reads x per
// output row, so beyond 2 rows cuBLAS (x rounded to BF16) is faster.
inline constexpr int64_t kGemvMaxRows = 2;

class GpuGemm {
 public:
  GpuGemm() = default;
  ~GpuGemm();
  GpuGemm(const GpuGemm&) = delete;
  GpuGemm& operator=(const GpuGemm&) = delete;

  // Creates the cuBLAS handle on `stream`. Returns the first error.
  cudaError_t Init(cudaStream_t stream);

  // y (M, ldy) = x (M, ldx) · Wᵀ + bias (N floats or null). Device pointers.
  // Returns cudaErrorUnknown for a cuBLAS failure, else the launch error.
  cudaError_t Run(const float* x, int64_t M, int64_t ldx, const GpuWeight& w, const float* bias,
                  float* y, int64_t ldy);

  // The same through the GEMV path only (M <= 8) or cuBLAS
  // only, for tests and benchmarks.
  cudaError_t RunGemv(const float* x, int64_t M, int64_t ldx, const GpuWeight& w, const float* bias,
                      float* y, int64_t ldy);
  cudaError_t RunBlas(const float* x, int64_t M, int64_t ldx, const GpuWeight& w, const float* bias,
                      float* y, int64_t ldy);

  // y (M, ldy) = x (M, ldx) · W for an F32 matrix kept in the `x @ W` layout
  // (K rows of N: BlinkDL's LoRA up-projections), through cuBLAS (FP32).
  cudaError_t RunKMajor(const float* x, int64_t M, int64_t ldx, const float* w, int64_t K, int64_t N, float* y,
                        int64_t ldy);

 private:
  cudaError_t EnsureScratch(size_t bytes);

  void* handle_ = nullptr;  // cublasHandle_t
  cudaStream_t stream_ = nullptr;
  void* scratch_ = nullptr;  // x rounded to the weight type
  void* workspace_ = nullptr;  // cuBLAS's (graph-capture safe)
  size_t scratch_bytes_ = 0;
};

}  // namespace rs::kernels::cuda
