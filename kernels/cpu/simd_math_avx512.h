// Internal: vectorized exp / log1p / softplus / SiLU on 16 floats. Include
// only from *_avx512.cc files (needs AVX-512F/DQ). Functions are static so
// that each translation unit keeps its own copy compiled with its own flags.
//
// Accuracy (checked by simd_math_test.cc against double precision):
//   Exp: <= 2 ulp for normal results; x < ~-103.97 -> 0, x > ~88.72 -> inf,
//        NaN -> NaN. Cephes expf reduction and polynomial, 2^n by scalef.
//   Log1pPositive: y >= 0 (used by softplus): log(1+y) with Goldberg's
//        correction log(u) * y / (u - 1), u = 1 + y; Cephes logf.
#pragma once

#include <immintrin.h>

namespace rs::kernels::simd512 {

static inline __m512 Exp(__m512 x) {
  // Clamping keeps n in [-150, 128]; max/min return x when x is NaN.
  x = _mm512_max_ps(_mm512_set1_ps(-104.0f), x);
  x = _mm512_min_ps(_mm512_set1_ps(89.0f), x);
  const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
  __m512 p = _mm512_set1_ps(1.9875691500e-4f);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
  p = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), r);
  p = _mm512_add_ps(p, _mm512_set1_ps(1.0f));
  return _mm512_scalef_ps(p, n);
}

// Natural log for finite u >= 1 (normal numbers).
static inline __m512 LogAtLeastOne(__m512 u) {
  const __m512i bits = _mm512_castps_si512(u);
  __m512 e =
      _mm512_cvtepi32_ps(_mm512_sub_epi32(_mm512_srli_epi32(bits, 23), _mm512_set1_epi32(126)));
  __m512 m = _mm512_castsi512_ps(_mm512_or_si512(
      _mm512_and_si512(bits, _mm512_set1_epi32(0x007fffff)), _mm512_set1_epi32(0x3f000000)));
  // m in [0.5, 1): if m < sqrt(1/2): e -= 1, m = 2m - 1, else m = m - 1.
  const __mmask16 small = _mm512_cmp_ps_mask(m, _mm512_set1_ps(0.707106781186547524f), _CMP_LT_OQ);
  e = _mm512_mask_sub_ps(e, small, e, _mm512_set1_ps(1.0f));
  m = _mm512_mask_add_ps(m, small, m, m);
  m = _mm512_sub_ps(m, _mm512_set1_ps(1.0f));
  const __m512 z = _mm512_mul_ps(m, m);
  __m512 y = _mm512_set1_ps(7.0376836292e-2f);
  y = _mm512_fmadd_ps(y, m, _mm512_set1_ps(-1.1514610310e-1f));
  y = _mm512_fmadd_ps(y, m, _mm512_set1_ps(1.1676998740e-1f));
  y = _mm512_fmadd_ps(y, m, _mm512_set1_ps(-1.2420140846e-1f));
  y = _mm512_fmadd_ps(y, m, _mm512_set1_ps(1.4249322787e-1f));
  y = _mm512_fmadd_ps(y, m, _mm512_set1_ps(-1.6668057665e-1f));
  y = _mm512_fmadd_ps(y, m, _mm512_set1_ps(2.0000714765e-1f));
  y = _mm512_fmadd_ps(y, m, _mm512_set1_ps(-2.4999993993e-1f));
  y = _mm512_fmadd_ps(y, m, _mm512_set1_ps(3.3333331174e-1f));
  y = _mm512_mul_ps(_mm512_mul_ps(y, m), z);
  y = _mm512_fmadd_ps(e, _mm512_set1_ps(-2.12194440e-4f), y);
  y = _mm512_fnmadd_ps(z, _mm512_set1_ps(0.5f), y);
  __m512 r = _mm512_add_ps(m, y);
  return _mm512_fmadd_ps(e, _mm512_set1_ps(0.693359375f), r);
}

// log(1 + y) for y >= 0 (or +inf).
static inline __m512 Log1pPositive(__m512 y) {
  const __m512 one = _mm512_set1_ps(1.0f);
  const __m512 u = _mm512_add_ps(one, y);
  const __mmask16 exact = _mm512_cmp_ps_mask(u, one, _CMP_EQ_OQ);
  const __m512 d = _mm512_mask_blend_ps(exact, _mm512_sub_ps(u, one), one);
  const __m512 r = _mm512_mul_ps(LogAtLeastOne(u), _mm512_div_ps(y, d));
  return _mm512_mask_blend_ps(exact, r, y);
}

// torch softplus (beta 1, threshold 20): x > 20 ? x : log1p(exp(x)).
static inline __m512 Softplus(__m512 x) {
  const __mmask16 big = _mm512_cmp_ps_mask(x, _mm512_set1_ps(20.0f), _CMP_GT_OQ);
  const __m512 s = Log1pPositive(Exp(_mm512_min_ps(_mm512_set1_ps(20.0f), x)));
  return _mm512_mask_blend_ps(big, s, x);
}

// x * sigmoid(x) = x / (1 + exp(-x)).
static inline __m512 Silu(__m512 x) {
  const __m512 e = Exp(_mm512_sub_ps(_mm512_setzero_ps(), x));
  return _mm512_div_ps(x, _mm512_add_ps(_mm512_set1_ps(1.0f), e));
}

}  // namespace rs::kernels::simd512
