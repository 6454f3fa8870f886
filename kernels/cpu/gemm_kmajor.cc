// GemmKMajor: the scalar level's copy of gemm_kmajor_impl.h, dispatch and the
// split across the pool.
#define RS_KMAJOR_LEVEL scalar
#include "kernels/cpu/gemm_kmajor.h"

#include <algorithm>

#include "kernels/cpu/cpu_level.h"
#include "kernels/cpu/gemm_kmajor_impl.h"

namespace rs::kernels {

void GemmKMajor(const float* x, int64_t M, int64_t ldx, const float* w, int64_t K, int64_t N,
                const float* bias, float* y, int64_t ldy, ThreadPool* pool) {
  if (M <= 0 || N <= 0) return;
  auto block = &internal::scalar::GemmKMajorBlock;
  switch (GetCpuLevel()) {
    case CpuLevel::kAvx512:
      block = &internal::avx512::GemmKMajorBlock;
      break;
    case CpuLevel::kAvx2:
      block = &internal::avx2::GemmKMajorBlock;
      break;
    case CpuLevel::kScalar:
      break;
  }
  const int threads = pool != nullptr ? pool->size() : 1;
  const int64_t n_tiles = (N + 63) / 64, m_tiles = (M + 3) / 4;
  if (threads == 1 || M * N * K < (1 << 16)) {
    block(x, ldx, 0, M, w, K, N, 0, N, bias, y, ldy);
    return;
  }
  // Tasks of 64 outputs x (a share of) the rows: N first, then M.
  const int64_t nt = std::min<int64_t>(n_tiles, 4 * threads);
  const int64_t mt = std::min<int64_t>(m_tiles, std::max<int64_t>(1, 4 * threads / nt));
  pool->ParallelFor(static_cast<int>(nt * mt), [&](int task) {
    long n0, n1, m0, m1;
    SplitRange(N, static_cast<int>(nt), static_cast<int>(task % nt), 64, &n0, &n1);
    SplitRange(M, static_cast<int>(mt), static_cast<int>(task / nt), 4, &m0, &m1);
    if (n0 < n1 && m0 < m1) block(x, ldx, m0, m1, w, K, N, n0, n1, bias, y, ldy);
  });
}

}  // namespace rs::kernels
