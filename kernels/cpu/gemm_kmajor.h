// GemmKMajor: y = x · W (+ bias) for small weight matrices stored K-major
// (K rows of N outputs, the `x @ W` layout of BlinkDL's LoRA matrices), F32.
//
// For small K (LoRA up-projections, K = 32..128) the dot-product Gemm of
// gemm.h spends most of its time in horizontal sums; here each output lane
// accumulates over k in order (a broadcast of x[m, k] times a row of W), so
// there are no horizontal sums at all.
//
// Determinism contract: y[m, n] = (...((x[m,0]·W[0,n]) + x[m,1]·W[1,n]) ...)
// in increasing k, fused multiply-adds where the dispatch level has FMA
// (AVX-512, AVX2), separate multiply and add otherwise; the order never
// depends on M, N, the blocking or the thread count.
//
// Thread-safety: reentrant; parallelizes over N and M on `pool` (may be
// null).
#pragma once

#include <cstdint>

#include "kernels/cpu/thread_pool.h"

namespace rs::kernels {

// x: (M, K) with row stride ldx; w: (K, N) row-major; y: (M, N) with row
// stride ldy; bias: N floats or null. REQUIRES: x and y do not overlap.
void GemmKMajor(const float* x, int64_t M, int64_t ldx, const float* w, int64_t K, int64_t N,
                const float* bias, float* y, int64_t ldy, ThreadPool* pool);

}  // namespace rs::kernels
