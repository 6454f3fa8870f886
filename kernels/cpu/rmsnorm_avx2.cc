#include <immintrin.h>

#include <cmath>

#include "kernels/cpu/rmsnorm_internal.h"

namespace rs::kernels::internal {

void RmsNormAvx2(const float* x, int64_t M, int64_t C, int64_t ldx, const float* w, float eps,
                 float* y, int64_t ldy) {
  alignas(32) static const int32_t kMask[16] = {-1, -1, -1, -1, -1, -1, -1, -1,
                                                0,  0,  0,  0,  0,  0,  0,  0};
  const int64_t cfull = C & ~int64_t{7};
  const __m256i tail =
      _mm256_loadu_si256(reinterpret_cast<const __m256i*>(kMask + 8 - (C - cfull)));
  for (int64_t m = 0; m < M; ++m) {
    const float* xr = x + m * ldx;
    float* yr = y + m * ldy;
    __m256 acc = _mm256_setzero_ps();
    int64_t c = 0;
    for (; c < cfull; c += 8) {
      const __m256 v = _mm256_loadu_ps(xr + c);
      acc = _mm256_fmadd_ps(v, v, acc);
    }
    if (c < C) {
      const __m256 v = _mm256_maskload_ps(xr + c, tail);
      acc = _mm256_fmadd_ps(v, v, acc);
    }
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(acc), _mm256_extractf128_ps(acc, 1));
    s = _mm_hadd_ps(s, s);
    s = _mm_hadd_ps(s, s);
    const float sum = _mm_cvtss_f32(s);
    const __m256 r = _mm256_set1_ps(1.0f / std::sqrt(sum / static_cast<float>(C) + eps));
    for (c = 0; c < cfull; c += 8) {
      const __m256 v = _mm256_mul_ps(_mm256_loadu_ps(xr + c), r);
      _mm256_storeu_ps(yr + c, _mm256_mul_ps(v, _mm256_loadu_ps(w + c)));
    }
    if (c < C) {
      const __m256 v = _mm256_mul_ps(_mm256_maskload_ps(xr + c, tail), r);
      _mm256_maskstore_ps(yr + c, tail, _mm256_mul_ps(v, _mm256_maskload_ps(w + c, tail)));
    }
  }
}

}  // namespace rs::kernels::internal
