#include "kernels/cuda/model_ops.h"

#include <cuda_bf16.h>
#include <cuda_fp16.h>

namespace rs::kernels::cuda {
namespace {

__global__ void GatherKernel(GpuWeightType type, const void* table, int64_t C, const int32_t* tokens, int64_t M,
                             float* out) {
  const int64_t total = M * C;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t m = i / C, c = i % C;
    const int64_t src = static_cast<int64_t>(tokens[m]) * C + c;
    float v;
    if (type == GpuWeightType::kF32) {
      v = static_cast<const float*>(table)[src];
    } else if (type == GpuWeightType::kBF16) {
      v = __uint_as_float(static_cast<uint32_t>(static_cast<const uint16_t*>(table)[src]) << 16);
    } else {
      v = __half2float(static_cast<const __half*>(table)[src]);
    }
    out[i] = v;
  }
}

// 1 / sqrt(mean + eps) of a row from each thread's partial sum of squares
// (every thread of the block calls it; blockDim a multiple of 32).
__device__ float RmsScale(float acc, int64_t C, float eps) {
  __shared__ float sh[32];
  for (int o = 16; o > 0; o >>= 1) acc += __shfl_xor_sync(0xffffffffu, acc, o);
  if ((threadIdx.x & 31) == 0) sh[threadIdx.x >> 5] = acc;
  __syncthreads();
  float total = 0.0f;
  for (int k = 0; k < static_cast<int>(blockDim.x >> 5); ++k) total += sh[k];
  return 1.0f / sqrtf(total / static_cast<float>(C) + eps);
}

// One block per row.
__global__ void RmsNormKernel(const float* x, const int32_t* rows, int64_t C, int64_t ldx, const float* w,
                              float eps, float* y, int64_t ldy) {
  const int64_t i = blockIdx.x;
  const int64_t r = rows != nullptr ? rows[i] : i;
  const float* xr = x + r * ldx;
  float acc = 0.0f;
  for (int64_t c = threadIdx.x; c < C; c += blockDim.x) acc = fmaf(xr[c], xr[c], acc);
  const float scale = RmsScale(acc, C, eps);
  float* yr = y + i * ldy;
  for (int64_t c = threadIdx.x; c < C; c += blockDim.x) yr[c] = xr[c] * scale * w[c];
}

// One block per row; thread t owns channels t, t + blockDim, ... in both
// loops, so y may alias d.
__global__ void AddRmsNormKernel(float* x, const float* d, int64_t C, const float* w, float eps, float* y) {
  const int64_t r = blockIdx.x;
  float* xr = x + r * C;
  const float* dr = d + r * C;
  float acc = 0.0f;
  for (int64_t c = threadIdx.x; c < C; c += blockDim.x) {
    const float v = xr[c] + dr[c];
    xr[c] = v;
    acc = fmaf(v, v, acc);
  }
  const float scale = RmsScale(acc, C, eps);
  float* yr = y + r * C;
  for (int64_t c = threadIdx.x; c < C; c += blockDim.x) yr[c] = xr[c] * scale * w[c];
}

__global__ void AddKernel(float* x, const float* d, int64_t n) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    x[i] += d[i];
  }
}

int Blocks(int64_t total) {
  const int64_t b = (total + 255) / 256;
  return static_cast<int>(b < (1 << 20) ? b : (1 << 20));
}

}  // namespace

cudaError_t GatherRows(const GpuWeight& table, const int32_t* tokens, int64_t M, float* out, cudaStream_t stream) {
  if (M <= 0) return cudaSuccess;
  GatherKernel<<<Blocks(M * table.k), 256, 0, stream>>>(table.type, table.data, table.k, tokens, M, out);
  return cudaGetLastError();
}

cudaError_t RmsNormRows(const float* x, const int32_t* rows, int64_t M, int64_t C, int64_t ldx, const float* w,
                        float eps, float* y, int64_t ldy, cudaStream_t stream) {
  if (M <= 0) return cudaSuccess;
  RmsNormKernel<<<static_cast<unsigned>(M), 256, 0, stream>>>(x, rows, C, ldx, w, eps, y, ldy);
  return cudaGetLastError();
}

cudaError_t AddRmsNormRows(float* x, const float* d, int64_t M, int64_t C, const float* w, float eps, float* y,
                           cudaStream_t stream) {
  if (M <= 0) return cudaSuccess;
  AddRmsNormKernel<<<static_cast<unsigned>(M), 256, 0, stream>>>(x, d, C, w, eps, y);
  return cudaGetLastError();
}

cudaError_t AddInPlace(float* x, const float* d, int64_t n, cudaStream_t stream) {
  if (n <= 0) return cudaSuccess;
  AddKernel<<<Blocks(n), 256, 0, stream>>>(x, d, n);
  return cudaGetLastError();
}

}  // namespace rs::kernels::cuda
