// Small ops every GPU model needs: the embedding lookup, RMSNorm (HF
// MambaRMSNorm semantics, as kernels/cpu/rmsnorm.h) and the residual add.
// Device pointers; each call enqueues on `stream` and returns the launch error.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "kernels/cuda/gemm.h"

namespace rs::kernels::cuda {

// out[m, :] = fp32(table[tokens[m], :]) for m < M; table is (V, C) of
// table.type (table.n = V, table.k = C); out has row stride C.
cudaError_t GatherRows(const GpuWeight& table, const int32_t* tokens, int64_t M, float* out,
                       cudaStream_t stream);

// y[i, :] = x[r, :] / sqrt(mean(x[r, :]^2) + eps) * w with r = rows[i] (rows
// may be null: r = i), for i < M; rows of C at strides ldx / ldy.
cudaError_t RmsNormRows(const float* x, const int32_t* rows, int64_t M, int64_t C, int64_t ldx,
                        const float* w, float eps, float* y, int64_t ldy, cudaStream_t stream);

// The residual add fused with the next RMSNorm, rows of C (stride C):
//   x[m, :] += d[m, :];  y[m, :] = RMSNorm(x[m, :]) * w
// y may alias d (each element of d is read before its y is written).
cudaError_t AddRmsNormRows(float* x, const float* d, int64_t M, int64_t C, const float* w, float eps,
                           float* y, cudaStream_t stream);

// x += d over n floats.
cudaError_t AddInPlace(float* x, const float* d, int64_t n, cudaStream_t stream);

}  // namespace rs::kernels::cuda
