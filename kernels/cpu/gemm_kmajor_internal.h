// Internal to kernels/cpu: the per-level GemmKMajor block functions (see
// gemm_kmajor.h): y[m, n] for m in [m0, m1), n in [n0, n1), single-threaded.
#pragma once

#include <cstdint>

namespace rs::kernels::internal {

#define RS_KMAJOR_DECLARE(level)                                                                  \
  namespace level {                                                                               \
  void GemmKMajorBlock(const float* x, int64_t ldx, int64_t m0, int64_t m1, const float* w,       \
                       int64_t K, int64_t N, int64_t n0, int64_t n1, const float* bias, float* y, \
                       int64_t ldy);                                                              \
  }
RS_KMAJOR_DECLARE(avx512)
RS_KMAJOR_DECLARE(avx2)
RS_KMAJOR_DECLARE(scalar)
#undef RS_KMAJOR_DECLARE

}  // namespace rs::kernels::internal
