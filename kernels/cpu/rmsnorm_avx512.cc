// GCC 12 reports its own _mm512_undefined_* idiom inside the intrinsics
// headers as (maybe-)uninitialized (a known false positive).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>

#include <cmath>

#include "kernels/cpu/rmsnorm_internal.h"

namespace rs::kernels::internal {

void RmsNormAvx512(const float* x, int64_t M, int64_t C, int64_t ldx, const float* w, float eps,
                   float* y, int64_t ldy) {
  for (int64_t m = 0; m < M; ++m) {
    const float* xr = x + m * ldx;
    float* yr = y + m * ldy;
    __m512 acc = _mm512_setzero_ps();
    int64_t c = 0;
    for (; c + 16 <= C; c += 16) {
      const __m512 v = _mm512_loadu_ps(xr + c);
      acc = _mm512_fmadd_ps(v, v, acc);
    }
    const __mmask16 tail = static_cast<__mmask16>((1u << (C - c)) - 1u);
    if (c < C) {
      const __m512 v = _mm512_maskz_loadu_ps(tail, xr + c);
      acc = _mm512_fmadd_ps(v, v, acc);
    }
    const __m256 s8 = _mm256_add_ps(_mm512_castps512_ps256(acc), _mm512_extractf32x8_ps(acc, 1));
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(s8), _mm256_extractf128_ps(s8, 1));
    s = _mm_hadd_ps(s, s);
    s = _mm_hadd_ps(s, s);
    const float sum = _mm_cvtss_f32(s);
    const __m512 r = _mm512_set1_ps(1.0f / std::sqrt(sum / static_cast<float>(C) + eps));
    for (c = 0; c + 16 <= C; c += 16) {
      const __m512 v = _mm512_mul_ps(_mm512_loadu_ps(xr + c), r);
      _mm512_storeu_ps(yr + c, _mm512_mul_ps(v, _mm512_loadu_ps(w + c)));
    }
    if (c < C) {
      const __m512 v = _mm512_mul_ps(_mm512_maskz_loadu_ps(tail, xr + c), r);
      _mm512_mask_storeu_ps(yr + c, tail, _mm512_mul_ps(v, _mm512_maskz_loadu_ps(tail, w + c)));
    }
  }
}

}  // namespace rs::kernels::internal
