#include "kernels/cuda/gemm.h"

#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <type_traits>

namespace rs::kernels::cuda {
namespace {

constexpr int kWarps = 8;  // warps per GEMV block: one output row each

template <GpuWeightType WT>
__device__ __forceinline__ void Widen8(const uint4& raw, float out[8]) {
  if constexpr (WT == GpuWeightType::kBF16) {
    const uint32_t u[4] = {raw.x, raw.y, raw.z, raw.w};
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      out[2 * i] = __uint_as_float(u[i] << 16);
      out[2 * i + 1] = __uint_as_float(u[i] & 0xffff0000u);
    }
  } else {
    const __half2* h = reinterpret_cast<const __half2*>(&raw);
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      const float2 f = __half22float2(h[i]);
      out[2 * i] = f.x;
      out[2 * i + 1] = f.y;
    }
  }
}

template <GpuWeightType WT>
__device__ __forceinline__ float WidenOne(const void* w, int64_t i) {
  if constexpr (WT == GpuWeightType::kF32) {
    return static_cast<const float*>(w)[i];
  } else if constexpr (WT == GpuWeightType::kBF16) {
    return __uint_as_float(static_cast<uint32_t>(static_cast<const uint16_t*>(w)[i]) << 16);
  } else {
    return __half2float(static_cast<const __half*>(w)[i]);
  }
}

// One warp per output row n, all M (<= kGemvMaxRows) rows of x at once, so W
// is read exactly once; 16-byte loads when the row is 16-byte aligned.
template <GpuWeightType WT, int kM>
__global__ void GemvKernel(const float* __restrict__ x, int64_t ldx, const void* __restrict__ w,
                           int64_t N, int64_t K, const float* __restrict__ bias, float* __restrict__ y,
                           int64_t ldy) {
  const int64_t n = blockIdx.x * static_cast<int64_t>(kWarps) + threadIdx.x / 32;
  const int lane = threadIdx.x & 31;
  if (n >= N) return;
  constexpr int kElemBytes = WT == GpuWeightType::kF32 ? 4 : 2;
  constexpr int kPer = 16 / kElemBytes;  // elements per 16-byte load
  const char* row = static_cast<const char*>(w) + n * K * kElemBytes;
  float acc[kM];
#pragma unroll
  for (int m = 0; m < kM; ++m) acc[m] = 0.0f;
  int64_t k0 = 0;
  const bool vec = (reinterpret_cast<uintptr_t>(row) % 16 == 0) && (ldx % 4 == 0) &&
                   (reinterpret_cast<uintptr_t>(x) % 16 == 0);
  if (vec) {
    const int64_t n_vec = K / kPer;
    // Lane-strided 16-byte loads, kUnroll in flight per lane before their
    // FMAs (one at a time left the loads latency-bound: 2.2 TB/s on 8192x2048).
    const auto accumulate = [&](const uint4& raw, int64_t v) {
      float wf[8];
      if constexpr (WT == GpuWeightType::kF32) {
        wf[0] = __uint_as_float(raw.x);
        wf[1] = __uint_as_float(raw.y);
        wf[2] = __uint_as_float(raw.z);
        wf[3] = __uint_as_float(raw.w);
      } else {
        Widen8<WT>(raw, wf);
      }
      const int64_t kk = v * kPer;
#pragma unroll
      for (int m = 0; m < kM; ++m) {
        const float4* xv = reinterpret_cast<const float4*>(x + m * ldx + kk);
#pragma unroll
        for (int q = 0; q < kPer / 4; ++q) {
          const float4 f = __ldg(xv + q);
          acc[m] = fmaf(wf[4 * q], f.x, acc[m]);
          acc[m] = fmaf(wf[4 * q + 1], f.y, acc[m]);
          acc[m] = fmaf(wf[4 * q + 2], f.z, acc[m]);
          acc[m] = fmaf(wf[4 * q + 3], f.w, acc[m]);
        }
      }
    };
    constexpr int kUnroll = 4;
    const uint4* wv = reinterpret_cast<const uint4*>(row);
    int64_t v = lane;
    for (; v + 32 * (kUnroll - 1) < n_vec; v += 32 * kUnroll) {
      uint4 raw[kUnroll];
#pragma unroll
      for (int u = 0; u < kUnroll; ++u) raw[u] = __ldg(wv + v + 32 * u);
#pragma unroll
      for (int u = 0; u < kUnroll; ++u) accumulate(raw[u], v + 32 * u);
    }
    for (; v < n_vec; v += 32) accumulate(__ldg(wv + v), v);
    k0 = n_vec * kPer;
  }
  for (int64_t k = k0 + lane; k < K; k += 32) {
    const float wv = WidenOne<WT>(row, k);
#pragma unroll
    for (int m = 0; m < kM; ++m) acc[m] = fmaf(wv, x[m * ldx + k], acc[m]);
  }
#pragma unroll
  for (int m = 0; m < kM; ++m) {
    float v = acc[m];
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    if (lane == 0) y[m * ldy + n] = bias != nullptr ? v + bias[n] : v;
  }
}

template <GpuWeightType WT>
cudaError_t LaunchGemv(const float* x, int64_t M, int64_t ldx, const GpuWeight& w, const float* bias, float* y,
                       int64_t ldy, cudaStream_t stream) {
  const dim3 grid(static_cast<unsigned>((w.n + kWarps - 1) / kWarps));
  const int threads = kWarps * 32;
  switch (M) {
#define RS_GEMV_CASE(m)                                                                                    \
  case m:                                                                                                  \
    GemvKernel<WT, m><<<grid, threads, 0, stream>>>(x, ldx, w.data, w.n, w.k, bias, y, ldy);               \
    break;
    RS_GEMV_CASE(1)
    RS_GEMV_CASE(2)
    RS_GEMV_CASE(3)
    RS_GEMV_CASE(4)
    RS_GEMV_CASE(5)
    RS_GEMV_CASE(6)
    RS_GEMV_CASE(7)
    RS_GEMV_CASE(8)
#undef RS_GEMV_CASE
    default:
      return cudaErrorInvalidValue;
  }
  return cudaGetLastError();
}

template <typename T>
__global__ void RoundRowsKernel(const float* x, int64_t M, int64_t K, int64_t ldx, T* out) {
  const int64_t total = M * K;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const float v = x[(i / K) * ldx + i % K];
    if constexpr (sizeof(T) == 2 && std::is_same_v<T, __nv_bfloat16>) {
      out[i] = __float2bfloat16_rn(v);
    } else {
      out[i] = __float2half_rn(v);
    }
  }
}

__global__ void AddBiasKernel(float* y, int64_t M, int64_t N, int64_t ldy, const float* bias) {
  const int64_t total = M * N;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    y[(i / N) * ldy + i % N] += bias[i % N];
  }
}

int Blocks(int64_t total) {
  const int64_t b = (total + 255) / 256;
  return static_cast<int>(b < (1 << 20) ? b : (1 << 20));
}

}  // namespace

GpuGemm::~GpuGemm() {
  if (handle_ != nullptr) cublasDestroy(static_cast<cublasHandle_t>(handle_));
  if (scratch_ != nullptr) cudaFree(scratch_);
  if (workspace_ != nullptr) cudaFree(workspace_);
}

cudaError_t GpuGemm::Init(cudaStream_t stream) {
  stream_ = stream;
  cublasHandle_t h = nullptr;
  if (cublasCreate(&h) != CUBLAS_STATUS_SUCCESS) return cudaErrorUnknown;
  handle_ = h;
  if (cublasSetStream(h, stream) != CUBLAS_STATUS_SUCCESS) return cudaErrorUnknown;
  // Plain fp32 math: never TF32 for F32 weights.
  if (cublasSetMathMode(h, CUBLAS_DEFAULT_MATH) != CUBLAS_STATUS_SUCCESS) return cudaErrorUnknown;
  // A workspace of our own, so cuBLAS allocates nothing inside a CUDA graph
  // capture (32 MiB: NVIDIA's recommendation for Hopper).
  constexpr size_t kWorkspace = 32u << 20;
  const cudaError_t e = cudaMalloc(&workspace_, kWorkspace);
  if (e != cudaSuccess) return e;
  if (cublasSetWorkspace(h, workspace_, kWorkspace) != CUBLAS_STATUS_SUCCESS) return cudaErrorUnknown;
  return cudaSuccess;
}

cudaError_t GpuGemm::EnsureScratch(size_t bytes) {
  if (bytes <= scratch_bytes_) return cudaSuccess;
  if (scratch_ != nullptr) cudaFree(scratch_);
  scratch_ = nullptr;
  scratch_bytes_ = 0;
  const cudaError_t e = cudaMalloc(&scratch_, bytes);
  if (e == cudaSuccess) scratch_bytes_ = bytes;
  return e;
}

cudaError_t GpuGemm::RunGemv(const float* x, int64_t M, int64_t ldx, const GpuWeight& w, const float* bias,
                             float* y, int64_t ldy) {
  if (M <= 0 || w.n <= 0) return cudaSuccess;
  switch (w.type) {
    case GpuWeightType::kF32:
      return LaunchGemv<GpuWeightType::kF32>(x, M, ldx, w, bias, y, ldy, stream_);
    case GpuWeightType::kF16:
      return LaunchGemv<GpuWeightType::kF16>(x, M, ldx, w, bias, y, ldy, stream_);
    case GpuWeightType::kBF16:
      return LaunchGemv<GpuWeightType::kBF16>(x, M, ldx, w, bias, y, ldy, stream_);
  }
  return cudaErrorInvalidValue;
}

cudaError_t GpuGemm::RunBlas(const float* x, int64_t M, int64_t ldx, const GpuWeight& w, const float* bias,
                             float* y, int64_t ldy) {
  if (M <= 0 || w.n <= 0) return cudaSuccess;
  auto h = static_cast<cublasHandle_t>(handle_);
  // Row-major y (M, N) = x (M, K) · Wᵀ is column-major yᵀ (N, M) = W (N,K as
  // col-major K x N, transposed) · xᵀ: C = op(A) B with A = W (lda K), op = T.
  const float one = 1.0f, zero = 0.0f;
  const void* b = x;
  cudaDataType_t ab_type = CUDA_R_32F;
  int64_t ldb = ldx;
  if (w.type != GpuWeightType::kF32) {
    const cudaError_t e = EnsureScratch(static_cast<size_t>(M * w.k) * 2);
    if (e != cudaSuccess) return e;
    if (w.type == GpuWeightType::kBF16) {
      RoundRowsKernel<__nv_bfloat16><<<Blocks(M * w.k), 256, 0, stream_>>>(x, M, w.k, ldx,
                                                                            static_cast<__nv_bfloat16*>(scratch_));
      ab_type = CUDA_R_16BF;
    } else {
      RoundRowsKernel<__half><<<Blocks(M * w.k), 256, 0, stream_>>>(x, M, w.k, ldx, static_cast<__half*>(scratch_));
      ab_type = CUDA_R_16F;
    }
    const cudaError_t le = cudaGetLastError();
    if (le != cudaSuccess) return le;
    b = scratch_;
    ldb = w.k;
  }
  const cublasStatus_t st =
      cublasGemmEx(h, CUBLAS_OP_T, CUBLAS_OP_N, static_cast<int>(w.n), static_cast<int>(M), static_cast<int>(w.k),
                   &one, w.data, ab_type, static_cast<int>(w.k), b, ab_type, static_cast<int>(ldb), &zero, y,
                   CUDA_R_32F, static_cast<int>(ldy), CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
  if (st != CUBLAS_STATUS_SUCCESS) return cudaErrorUnknown;
  if (bias != nullptr) {
    AddBiasKernel<<<Blocks(M * w.n), 256, 0, stream_>>>(y, M, w.n, ldy, bias);
    return cudaGetLastError();
  }
  return cudaSuccess;
}

cudaError_t GpuGemm::RunKMajor(const float* x, int64_t M, int64_t ldx, const float* w, int64_t K, int64_t N,
                               float* y, int64_t ldy) {
  if (M <= 0 || N <= 0) return cudaSuccess;
  // Column-major: yᵀ (N, M) = W (N, K; ld N) · xᵀ (K, M; ld ldx).
  const float one = 1.0f, zero = 0.0f;
  const cublasStatus_t st = cublasGemmEx(static_cast<cublasHandle_t>(handle_), CUBLAS_OP_N, CUBLAS_OP_N,
                                         static_cast<int>(N), static_cast<int>(M), static_cast<int>(K), &one, w,
                                         CUDA_R_32F, static_cast<int>(N), x, CUDA_R_32F, static_cast<int>(ldx), &zero,
                                         y, CUDA_R_32F, static_cast<int>(ldy), CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
  return st == CUBLAS_STATUS_SUCCESS ? cudaSuccess : cudaErrorUnknown;
}

cudaError_t GpuGemm::Run(const float* x, int64_t M, int64_t ldx, const GpuWeight& w, const float* bias, float* y,
                         int64_t ldy) {
  return M <= kGemvMaxRows ? RunGemv(x, M, ldx, w, bias, y, ldy) : RunBlas(x, M, ldx, w, bias, y, ldy);
}

}  // namespace rs::kernels::cuda
