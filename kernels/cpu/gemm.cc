// Gemm: dispatch, work split across the pool, the scalar level and the
// reference. The SIMD block functions live in gemm_avx512.cc / gemm_avx2.cc.
#include "kernels/cpu/gemm.h"

#include <algorithm>
#include <cstring>

#include "kernels/cpu/cpu_level.h"
#include "kernels/cpu/gemm_internal.h"

namespace rs::kernels {
namespace internal {

void WidenWeights(const WeightMatrix& w, int64_t row, int64_t col, int64_t count, float* out) {
  const int64_t offset = row * w.k + col;
  switch (w.type) {
    case WeightType::kF32:
      // count == 0 may come with null data (K = 0): memcpy must not see it.
      if (count > 0) std::memcpy(out, static_cast<const float*>(w.data) + offset, count * sizeof(float));
      return;
    case WeightType::kF16: {
      const auto* p = static_cast<const unsigned char*>(w.data) + offset * 2;
      for (int64_t i = 0; i < count; ++i) {
        uint16_t h;
        std::memcpy(&h, p + 2 * i, 2);
        out[i] = HalfToFloat(h);
      }
      return;
    }
    case WeightType::kBF16: {
      const auto* p = static_cast<const unsigned char*>(w.data) + offset * 2;
      for (int64_t i = 0; i < count; ++i) {
        uint16_t h;
        std::memcpy(&h, p + 2 * i, 2);
        out[i] = Bf16ToFloat(h);
      }
      return;
    }
  }
}

namespace {

constexpr int kScalarLanes = 8;

// The scalar level's dot product: 8 lanes (lane j sums k ≡ j mod 8, plain
// multiply then add), then the fixed tree.
float ScalarDot(const float* x, const float* w, int64_t K) {
  float acc[kScalarLanes] = {};
  int64_t k = 0;
  for (; k + kScalarLanes <= K; k += kScalarLanes) {
    for (int j = 0; j < kScalarLanes; ++j) acc[j] += x[k + j] * w[k + j];
  }
  for (int j = 0; k + j < K; ++j) acc[j] += x[k + j] * w[k + j];
  float s4[4];
  for (int i = 0; i < 4; ++i) s4[i] = acc[i] + acc[i + 4];
  return (s4[0] + s4[1]) + (s4[2] + s4[3]);
}

}  // namespace

void GemmBlockScalar(const float* x, int64_t ldx, int64_t m0, int64_t m1, const WeightMatrix& w,
                     int64_t n0, int64_t n1, const float* bias, float* y, int64_t ldy) {
  const int64_t K = w.k;
  float* row = new float[K > 0 ? K : 1];
  for (int64_t n = n0; n < n1; ++n) {
    WidenWeights(w, n, 0, K, row);
    for (int64_t m = m0; m < m1; ++m) {
      const float s = ScalarDot(x + m * ldx, row, K);
      y[m * ldy + n] = bias != nullptr ? s + bias[n] : s;
    }
  }
  delete[] row;
}

}  // namespace internal

namespace {

internal::GemmBlockFn SelectBlockFn() {
  switch (GetCpuLevel()) {
    case CpuLevel::kAvx512:
      return &internal::GemmBlockAvx512;
    case CpuLevel::kAvx2:
      return &internal::GemmBlockAvx2;
    case CpuLevel::kScalar:
      break;
  }
  return &internal::GemmBlockScalar;
}

// Below this many multiply-adds a region costs more than it saves.
constexpr int64_t kMinParallelMacs = 1 << 16;
// N ranges are multiples of this (a multiple of every kernel's row block).
constexpr int64_t kNAlign = 24;
constexpr int64_t kMAlign = 4;

}  // namespace

namespace {

// How Gemm splits one product: nt ranges of N times mt ranges of M (1 x 1:
// run inline). Split N first (each thread streams its own part of W); split
// M as well when N alone does not give every thread work. Large problems get
// a few tasks per thread so a descheduled thread does not stall the region.
struct Split {
  int64_t nt = 1, mt = 1;
};

Split PlanSplit(const GemmJob& j, int threads) {
  const int64_t N = j.w->n, M = j.M;
  const int64_t macs = M * N * std::max<int64_t>(j.w->k, 1);
  if (threads == 1 || macs < kMinParallelMacs) return {};
  const int64_t n_units = (N + kNAlign - 1) / kNAlign;
  const int64_t m_units = (M + kMAlign - 1) / kMAlign;
  Split s;
  s.nt = std::min<int64_t>(n_units, macs >= (int64_t{1} << 24) ? 4 * threads : threads);
  if (s.nt < threads) s.mt = std::min<int64_t>(m_units, (threads + s.nt - 1) / s.nt);
  return s;
}

void RunTask(internal::GemmBlockFn block, const GemmJob& j, const Split& s, int64_t task) {
  long n0, n1, m0, m1;
  SplitRange(j.w->n, static_cast<int>(s.nt), static_cast<int>(task % s.nt), kNAlign, &n0, &n1);
  SplitRange(j.M, static_cast<int>(s.mt), static_cast<int>(task / s.nt), kMAlign, &m0, &m1);
  if (n0 < n1 && m0 < m1) block(j.x, j.ldx, m0, m1, *j.w, n0, n1, j.bias, j.y, j.ldy);
}

}  // namespace

void Gemm(const float* x, int64_t M, int64_t ldx, const WeightMatrix& w, const float* bias,
          float* y, int64_t ldy, ThreadPool* pool) {
  const GemmJob job{x, M, ldx, &w, bias, y, ldy};
  GemmMany(std::span<const GemmJob>(&job, 1), pool);
}

void GemmMany(std::span<const GemmJob> jobs, ThreadPool* pool) {
  const internal::GemmBlockFn block = SelectBlockFn();
  const int threads = pool != nullptr ? pool->size() : 1;
  // Every job's tasks, numbered consecutively; one parallel region for all.
  Split splits[8];
  int64_t first[9] = {0};
  const size_t n = jobs.size();
  if (n > 8) {
    for (size_t i = 0; i < n; i += 8) GemmMany(jobs.subspan(i, std::min<size_t>(8, n - i)), pool);
    return;
  }
  for (size_t i = 0; i < n; ++i) {
    const GemmJob& j = jobs[i];
    splits[i] = j.M > 0 && j.w->n > 0 ? PlanSplit(j, threads) : Split{0, 0};
    first[i + 1] = first[i] + splits[i].nt * splits[i].mt;
  }
  const int64_t total = first[n];
  if (total == 0) return;
  if (threads == 1 || total == 1) {
    for (size_t i = 0; i < n; ++i) {
      for (int64_t t = 0; t < splits[i].nt * splits[i].mt; ++t) RunTask(block, jobs[i], splits[i], t);
    }
    return;
  }
  pool->ParallelFor(static_cast<int>(total), [&](int task) {
    size_t i = 0;
    while (task >= first[i + 1]) ++i;
    RunTask(block, jobs[i], splits[i], task - first[i]);
  });
}

void GemmReference(const float* x, int64_t M, int64_t ldx, const WeightMatrix& w, const float* bias,
                   float* y, int64_t ldy) {
  const int64_t N = w.n, K = w.k;
  float* row = new float[K > 0 ? K : 1];
  for (int64_t n = 0; n < N; ++n) {
    internal::WidenWeights(w, n, 0, K, row);
    for (int64_t m = 0; m < M; ++m) {
      // y[m, n] = sum_k x[m, k] * W[n, k] + bias[n]
      float acc = 0.0f;
      for (int64_t k = 0; k < K; ++k) acc += x[m * ldx + k] * row[k];
      y[m * ldy + n] = bias != nullptr ? acc + bias[n] : acc;
    }
  }
  delete[] row;
}

void WeightRowToF32(const WeightMatrix& w, int64_t row, float* out) {
  internal::WidenWeights(w, row, 0, w.k, out);
}

}  // namespace rs::kernels
