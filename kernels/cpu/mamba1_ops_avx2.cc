// AVX2 Mamba-1 conv/scan: the AVX-512 design with 8 lanes (see
// mamba1_ops_internal.h).
#include <immintrin.h>

#include <algorithm>

#include "kernels/cpu/mamba1_ops_internal.h"
#include "kernels/cpu/simd_math_avx2.h"

namespace rs::kernels::internal {
namespace {

constexpr int kL = 8;
constexpr int64_t kTokenChunk = 16;

inline __m256i CountMask(int64_t count) {
  alignas(32) static const int32_t kMask[16] = {-1, -1, -1, -1, -1, -1, -1, -1,
                                                0,  0,  0,  0,  0,  0,  0,  0};
  const int64_t c = std::clamp<int64_t>(count, 0, kL);
  return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(kMask + 8 - c));
}

}  // namespace

void VectorMathAvx2(int op, const float* x, int64_t n, float* y) {
  for (int64_t i = 0; i < n; i += kL) {
    const __m256i m = CountMask(n - i);
    const __m256 v = _mm256_maskload_ps(x + i, m);
    const __m256 r = op == 0 ? simd256::Exp(v) : op == 1 ? simd256::Softplus(v) : simd256::Silu(v);
    _mm256_maskstore_ps(y + i, m, r);
  }
}

void CausalConv1dSiluAvx2(const float* x, int64_t T, int64_t ldx, int64_t E, int K, const float* w,
                          const float* bias, float* state, float* out, int64_t ldo, int64_t e0,
                          int64_t e1) {
  for (int64_t t0 = 0; t0 < T; t0 += kTokenChunk) {
    const int64_t t1 = std::min(T, t0 + kTokenChunk);
    for (int64_t eb = e0; eb < e1; eb += kL) {
      const __m256i m = CountMask(e1 - eb);
      const __m256 bv = bias != nullptr ? _mm256_maskload_ps(bias + eb, m) : _mm256_setzero_ps();
      for (int64_t t = t0; t < t1; ++t) {
        __m256 acc = bv;
        for (int j = 0; j < K; ++j) {
          const int64_t i = t - (K - 1) + j;
          const float* src = i >= 0 ? x + i * ldx : state + (K - 1 + i) * E;
          acc = _mm256_fmadd_ps(_mm256_maskload_ps(w + j * E + eb, m),
                                _mm256_maskload_ps(src + eb, m), acc);
        }
        _mm256_maskstore_ps(out + t * ldo + eb, m, simd256::Silu(acc));
      }
    }
  }
  for (int64_t eb = e0; eb < e1; eb += kL) {
    const __m256i m = CountMask(e1 - eb);
    for (int r = 0; r < K - 1; ++r) {
      const int64_t p = T - (K - 1) + r;
      const float* src = p >= 0 ? x + p * ldx : state + (T + r) * E;
      _mm256_maskstore_ps(state + r * E + eb, m, _mm256_maskload_ps(src + eb, m));
    }
  }
}

void SelectiveScanAvx2(const float* u, int64_t ldu, const float* dt, int64_t ldd,
                       const float* dt_bias, const float* A, const float* B, const float* C,
                       int64_t ldbc, const float* D, const float* z, int64_t ldz, int64_t T,
                       int64_t E, int64_t N, float* h, float* y, int64_t ldy, int64_t e0,
                       int64_t e1) {
  alignas(32) float hT[64 * kL], aT[64 * kL];  // [n][lane = channel], tails zeroed
  for (int64_t t0 = 0; t0 < T; t0 += kTokenChunk) {
    const int64_t t1 = std::min(T, t0 + kTokenChunk);
    for (int64_t eb = e0; eb < e1; eb += kL) {
      const int cnt = static_cast<int>(std::min<int64_t>(kL, e1 - eb));
      const __m256i cmask = CountMask(cnt);
      for (int64_t n = 0; n < N; ++n) {
        for (int l = 0; l < kL; ++l) {
          hT[n * kL + l] = l < cnt ? h[n * E + eb + l] : 0.0f;
          aT[n * kL + l] = l < cnt ? A[n * E + eb + l] : 0.0f;
        }
      }
      const __m256 dtb = _mm256_maskload_ps(dt_bias + eb, cmask);
      const __m256 dv = _mm256_maskload_ps(D + eb, cmask);
      for (int64_t t = t0; t < t1; ++t) {
        const __m256 delta =
            simd256::Softplus(_mm256_add_ps(_mm256_maskload_ps(dt + t * ldd + eb, cmask), dtb));
        const __m256 uv = _mm256_maskload_ps(u + t * ldu + eb, cmask);
        const __m256 du = _mm256_mul_ps(delta, uv);
        const float* Bt = B + t * ldbc;
        const float* Ct = C + t * ldbc;
        __m256 acc = _mm256_setzero_ps();
        for (int64_t n = 0; n < N; ++n) {
          const __m256 dA = simd256::Exp(_mm256_mul_ps(delta, _mm256_load_ps(aT + n * kL)));
          const __m256 hn = _mm256_fmadd_ps(dA, _mm256_load_ps(hT + n * kL),
                                            _mm256_mul_ps(du, _mm256_set1_ps(Bt[n])));
          _mm256_store_ps(hT + n * kL, hn);
          acc = _mm256_fmadd_ps(hn, _mm256_set1_ps(Ct[n]), acc);
        }
        const __m256 zs = simd256::Silu(_mm256_maskload_ps(z + t * ldz + eb, cmask));
        const __m256 out = _mm256_mul_ps(_mm256_add_ps(acc, _mm256_mul_ps(dv, uv)), zs);
        _mm256_maskstore_ps(y + t * ldy + eb, cmask, out);
      }
      for (int64_t n = 0; n < N; ++n) {
        for (int l = 0; l < cnt; ++l) h[n * E + eb + l] = hT[n * kL + l];
      }
    }
  }
}

}  // namespace rs::kernels::internal
