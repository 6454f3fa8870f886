// Gemm: y = x · Wᵀ (+ bias), the linear layer of every model, with weights
// in the PyTorch nn.Linear layout (N rows of K inputs) as stored in the
// checkpoint (F32, F16 or BF16, read in place: no repacking, so weights can
// stay memory-mapped). Activations and accumulation are always fp32.
//
// Determinism contract (what makes batched == unbatched bitwise): each
// y[m, n] is reduced over k in an order that depends only on K and on the
// CPU dispatch level (AVX-512 / AVX2 / scalar), never on M, N, the thread
// count or the blocking. F16/BF16 weights are widened exactly to fp32, so
// Gemm on BF16 weights equals Gemm on the same weights converted to F32.
//
// Thread-safety: reentrant; parallelizes over N (and M when M is large) on
// `pool` (may be null for single-threaded).
#pragma once

#include <cstdint>
#include <span>

#include "kernels/cpu/thread_pool.h"

namespace rs::kernels {

enum class WeightType { kF32, kF16, kBF16 };

// Row-major N×K matrix: row n holds the K weights of output n.
struct WeightMatrix {
  WeightType type = WeightType::kF32;
  const void* data = nullptr;
  int64_t n = 0;  // rows (outputs)
  int64_t k = 0;  // columns (inputs)
};

// x: (M, K) with row stride ldx; y: (M, N) with row stride ldy;
// bias: N floats or null. y[m, n] = sum_k x[m, k] * W[n, k] + bias[n].
// REQUIRES: ldx >= K, ldy >= N, x and y do not overlap.
void Gemm(const float* x, int64_t M, int64_t ldx, const WeightMatrix& w,
          const float* bias, float* y, int64_t ldy, ThreadPool* pool);

// A row stride (floats) for activation matrices of k columns that feed Gemm:
// k, or k + 16 when k floats are a multiple of 4 KiB. Rows 4 KiB apart map
// to the same L1 sets, so the micro-kernel's x rows evict each other (K=3072:
// 140 -> 180 GFLOP/s with the padded stride, 2 threads, M=512).
inline int64_t ActivationStride(int64_t k) { return (k * 4) % 4096 == 0 ? k + 16 : k; }

// Several independent products (e.g. the r, k and v projections of a layer)
// in one parallel region: each job is split exactly as Gemm would split it,
// so results equal separate Gemm calls bitwise; only the barriers between
// them go. REQUIRES: no job's y overlaps another job's x or y.
struct GemmJob {
  const float* x;
  int64_t M, ldx;
  const WeightMatrix* w;
  const float* bias;
  float* y;
  int64_t ldy;
};
void GemmMany(std::span<const GemmJob> jobs, ThreadPool* pool);

// Plain reference (llm.c style): the same result up to reduction order.
void GemmReference(const float* x, int64_t M, int64_t ldx, const WeightMatrix& w,
                   const float* bias, float* y, int64_t ldy);

// Widens one row of a weight matrix to fp32 (embedding lookup).
void WeightRowToF32(const WeightMatrix& w, int64_t row, float* out);

// "avx512", "avx2" or "scalar": the dispatch level chosen for this CPU
// (overridable with RS_CPU_LEVEL=avx2|scalar for tests).
const char* CpuLevelName();

// "prefetch" or "touch": how Gemm streams DRAM-resident weights for batched
// decode on this CPU (kernels/cpu/cpu_level.h; RS_GEMM_STREAM overrides it).
const char* GemmWeightStreamName();

}  // namespace rs::kernels
