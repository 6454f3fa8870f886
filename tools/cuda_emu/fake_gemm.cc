// GpuGemm (kernels/cuda/gemm.h) for tools/cuda_emu, in place of gemm.cu
// (cuBLAS cannot run here). It keeps the GPU's numerics up to summation
// order: M <= kGemvMaxRows (the GEMV path) multiplies fp32 x by the weights
// widened exactly; larger M (the cuBLAS path) first rounds x to the weight
// type (F16/BF16, round to nearest even), as gemm.cu does; fp32 accumulation
// in k order. RunKMajor: fp32, no rounding (CUBLAS_COMPUTE_32F). Work is
// enqueued on the stream, so it is recorded while a graph is captured.
#include <cuda_fp16.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "kernels/cuda/gemm.h"

namespace rs::kernels::cuda {
namespace {

float Bf16ToFloat(uint16_t h) {
  const uint32_t u = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

float RoundToBf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  u += 0x7fffu + ((u >> 16) & 1u);
  u &= 0xffff0000u;
  std::memcpy(&f, &u, 4);
  return f;
}

// Round to the nearest F16 value (ties to even), kept as a float; normals
// and subnormals (the values the tests use), overflow to infinity.
float RoundToF16(float f) {
  if (!std::isfinite(f) || f == 0.0f) return f;
  int e;
  std::frexp(f, &e);                          // |f| in [2^(e-1), 2^e)
  const int ulp_exp = std::max(e - 11, -24);  // 10 fraction bits; subnormal ulp 2^-24
  const float r = std::ldexp(std::nearbyint(std::ldexp(f, -ulp_exp)), ulp_exp);
  return std::fabs(r) > 65504.0f ? std::copysign(INFINITY, f) : r;
}

float Weight(const GpuWeight& w, int64_t i) {
  switch (w.type) {
    case GpuWeightType::kF32:
      return static_cast<const float*>(w.data)[i];
    case GpuWeightType::kBF16:
      return Bf16ToFloat(static_cast<const uint16_t*>(w.data)[i]);
    case GpuWeightType::kF16:
      return __half2float(static_cast<const __half*>(w.data)[i]);
  }
  std::abort();
}

void GemmNow(const float* x, int64_t M, int64_t ldx, const GpuWeight& w, const float* bias,
             float* y, int64_t ldy, bool round_x) {
  std::vector<float> xr(static_cast<size_t>(w.k));
  for (int64_t m = 0; m < M; ++m) {
    for (int64_t k = 0; k < w.k; ++k) {
      const float v = x[m * ldx + k];
      xr[k] = !round_x ? v : w.type == GpuWeightType::kBF16 ? RoundToBf16(v) : RoundToF16(v);
    }
    for (int64_t n = 0; n < w.n; ++n) {
      float acc = 0.0f;
      for (int64_t k = 0; k < w.k; ++k) acc += Weight(w, n * w.k + k) * xr[k];
      y[m * ldy + n] = bias != nullptr ? acc + bias[n] : acc;
    }
  }
}

cudaError_t Gemm(const float* x, int64_t M, int64_t ldx, const GpuWeight& w, const float* bias,
                 float* y, int64_t ldy, bool round_x) {
  emu::Enqueue([=] { GemmNow(x, M, ldx, w, bias, y, ldy, round_x); });
  return cudaSuccess;
}

}  // namespace

GpuGemm::~GpuGemm() = default;

cudaError_t GpuGemm::Init(cudaStream_t stream) {
  stream_ = stream;
  return cudaSuccess;
}

cudaError_t GpuGemm::RunGemv(const float* x, int64_t M, int64_t ldx, const GpuWeight& w,
                             const float* bias, float* y, int64_t ldy) {
  return Gemm(x, M, ldx, w, bias, y, ldy, /*round_x=*/false);
}

cudaError_t GpuGemm::RunBlas(const float* x, int64_t M, int64_t ldx, const GpuWeight& w,
                             const float* bias, float* y, int64_t ldy) {
  return Gemm(x, M, ldx, w, bias, y, ldy, /*round_x=*/w.type != GpuWeightType::kF32);
}

cudaError_t GpuGemm::Run(const float* x, int64_t M, int64_t ldx, const GpuWeight& w,
                         const float* bias, float* y, int64_t ldy) {
  return M <= kGemvMaxRows ? RunGemv(x, M, ldx, w, bias, y, ldy)
                           : RunBlas(x, M, ldx, w, bias, y, ldy);
}

cudaError_t GpuGemm::RunKMajor(const float* x, int64_t M, int64_t ldx, const float* w, int64_t K,
                               int64_t N, float* y, int64_t ldy) {
  emu::Enqueue([=] {
    for (int64_t m = 0; m < M; ++m) {
      for (int64_t n = 0; n < N; ++n) {
        float acc = 0.0f;
        for (int64_t k = 0; k < K; ++k) acc += x[m * ldx + k] * w[k * N + n];
        y[m * ldy + n] = acc;
      }
    }
  });
  return cudaSuccess;
}

}  // namespace rs::kernels::cuda
