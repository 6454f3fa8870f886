// AVX2 GEMM block: the same design as gemm_avx512.cc with 8 lanes (lane j
// sums k ≡ j mod 8; the K tail is one zero-padded chunk), sized for 16 ymm
// registers. Compiled with AVX2/FMA/F16C; only reached through gemm.cc.
#include <immintrin.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "kernels/cpu/gemm_internal.h"

namespace rs::kernels::internal {
namespace {

constexpr int kLanes = 8;

template <WeightType WT>
inline __m256 Widen8(__m128i h) {
  if constexpr (WT == WeightType::kF16) {
    return _mm256_cvtph_ps(h);
  } else {
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
  }
}

template <WeightType WT>
inline __m256 LoadW(const void* base, int64_t i) {
  if constexpr (WT == WeightType::kF32) {
    return _mm256_loadu_ps(static_cast<const float*>(base) + i);
  } else {
    return Widen8<WT>(
        _mm_loadu_si128(reinterpret_cast<const __m128i*>(static_cast<const uint16_t*>(base) + i)));
  }
}

// The final chunk of `count` < 8 elements, zero-padded.
template <WeightType WT>
inline __m256 LoadWTail(const void* base, int64_t i, int count, __m256i mask) {
  if constexpr (WT == WeightType::kF32) {
    return _mm256_maskload_ps(static_cast<const float*>(base) + i, mask);
  } else {
    uint16_t tmp[8] = {};
    std::memcpy(tmp, static_cast<const uint16_t*>(base) + i, count * sizeof(uint16_t));
    return Widen8<WT>(_mm_loadu_si128(reinterpret_cast<const __m128i*>(tmp)));
  }
}

inline __m256i TailMask(int count) {
  alignas(32) static const int32_t kMask[16] = {-1, -1, -1, -1, -1, -1, -1, -1,
                                                0,  0,  0,  0,  0,  0,  0,  0};
  return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(kMask + 8 - count));
}

// 8 lanes -> 4: s4[i] = v[i] + v[i+4].
inline __m128 Sum8To4(__m256 v) {
  return _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
}

inline __m128 ReduceFour(__m256 a, __m256 b, __m256 c, __m256 d) {
  return _mm_hadd_ps(_mm_hadd_ps(Sum8To4(a), Sum8To4(b)), _mm_hadd_ps(Sum8To4(c), Sum8To4(d)));
}

inline float ReduceOne(__m256 a) {
  __m128 s = Sum8To4(a);
  s = _mm_hadd_ps(s, s);
  s = _mm_hadd_ps(s, s);
  return _mm_cvtss_f32(s);
}

template <int MB, int NB, WeightType WT>
void Kernel(const float* x, int64_t ldx, const void* w, int64_t ldw, int64_t K, const float* bias,
            float* y, int64_t ldy) {
  __m256 acc[MB][NB];
#pragma GCC unroll 8
  for (int i = 0; i < MB; ++i) {
#pragma GCC unroll 8
    for (int j = 0; j < NB; ++j) acc[i][j] = _mm256_setzero_ps();
  }
  int64_t k = 0;
  for (; k + kLanes <= K; k += kLanes) {
    __m256 xv[MB];
#pragma GCC unroll 8
    for (int i = 0; i < MB; ++i) xv[i] = _mm256_loadu_ps(x + i * ldx + k);
#pragma GCC unroll 8
    for (int j = 0; j < NB; ++j) {
      const __m256 wv = LoadW<WT>(w, j * ldw + k);
#pragma GCC unroll 8
      for (int i = 0; i < MB; ++i) acc[i][j] = _mm256_fmadd_ps(xv[i], wv, acc[i][j]);
    }
  }
  if (k < K) {
    const int count = static_cast<int>(K - k);
    const __m256i mask = TailMask(count);
    __m256 xv[MB];
#pragma GCC unroll 8
    for (int i = 0; i < MB; ++i) xv[i] = _mm256_maskload_ps(x + i * ldx + k, mask);
#pragma GCC unroll 8
    for (int j = 0; j < NB; ++j) {
      const __m256 wv = LoadWTail<WT>(w, j * ldw + k, count, mask);
#pragma GCC unroll 8
      for (int i = 0; i < MB; ++i) acc[i][j] = _mm256_fmadd_ps(xv[i], wv, acc[i][j]);
    }
  }
#pragma GCC unroll 8
  for (int i = 0; i < MB; ++i) {
    float r[NB];
    int j = 0;
#pragma GCC unroll 8
    for (; j + 4 <= NB; j += 4) {
      _mm_storeu_ps(r + j, ReduceFour(acc[i][j], acc[i][j + 1], acc[i][j + 2], acc[i][j + 3]));
    }
#pragma GCC unroll 8
    for (; j < NB; ++j) r[j] = ReduceOne(acc[i][j]);
#pragma GCC unroll 8
    for (j = 0; j < NB; ++j) y[i * ldy + j] = bias != nullptr ? r[j] + bias[j] : r[j];
  }
}

using KernelFn = void (*)(const float*, int64_t, const void*, int64_t, int64_t, const float*,
                          float*, int64_t);

template <int MB, WeightType WT>
KernelFn SelectNb(int nb) {
  switch (nb) {
    case 1:
      return &Kernel<MB, 1, WT>;
    case 2:
      return &Kernel<MB, 2, WT>;
    case 3:
      return &Kernel<MB, 3, WT>;
    case 4:
      return &Kernel<MB, 4, WT>;
    case 5:
      if constexpr (MB < 3) return &Kernel<MB, 5, WT>;
      break;
    case 6:
      if constexpr (MB < 3) return &Kernel<MB, 6, WT>;
      break;
  }
  return nullptr;
}

template <WeightType WT>
KernelFn Select(int mb, int nb) {
  switch (mb) {
    case 1:
      return SelectNb<1, WT>(nb);
    case 2:
      return SelectNb<2, WT>(nb);
    case 3:
      return SelectNb<3, WT>(nb);
  }
  return nullptr;
}

KernelFn Select(WeightType wt, int mb, int nb) {
  switch (wt) {
    case WeightType::kF32:
      return Select<WeightType::kF32>(mb, nb);
    case WeightType::kF16:
      return Select<WeightType::kF16>(mb, nb);
    case WeightType::kBF16:
      return Select<WeightType::kBF16>(mb, nb);
  }
  return nullptr;
}

constexpr int kMainMb = 3;
constexpr int kMainNb = 4;
constexpr int kSmallNb = 1;  // one sequential W stream per thread (see gemm_avx512.cc)
constexpr int64_t kXBlockBytes = 192 * 1024;

}  // namespace

void GemmBlockAvx2(const float* x, int64_t ldx, int64_t m0, int64_t m1, const WeightMatrix& w,
                   int64_t n0, int64_t n1, const float* bias, float* y, int64_t ldy) {
  const int64_t K = w.k;
  const int64_t rows = m1 - m0;
  const auto* wbytes = static_cast<const unsigned char*>(w.data);
  const int64_t esize = w.type == WeightType::kF32 ? 4 : 2;
  if (rows < kMainMb) {
    const int mb = static_cast<int>(rows);
    for (int64_t n = n0; n < n1; n += kSmallNb) {
      const int nb = static_cast<int>(std::min<int64_t>(kSmallNb, n1 - n));
      Select(w.type, mb, nb)(x + m0 * ldx, ldx, wbytes + n * K * esize, K, K,
                             bias != nullptr ? bias + n : nullptr, y + m0 * ldy + n, ldy);
    }
    return;
  }
  thread_local std::vector<float> panel;
  if (w.type != WeightType::kF32)
    panel.resize(static_cast<size_t>(kMainNb * std::max<int64_t>(K, 1)));
  const int64_t mc =
      std::max<int64_t>(kMainMb, kXBlockBytes / (std::max<int64_t>(K, 1) * 4) / kMainMb * kMainMb);
  for (int64_t mb0 = m0; mb0 < m1; mb0 += mc) {
    const int64_t mb1 = std::min(m1, mb0 + mc);
    for (int64_t n = n0; n < n1; n += kMainNb) {
      const int nb = static_cast<int>(std::min<int64_t>(kMainNb, n1 - n));
      const void* wp = wbytes + n * K * esize;
      if (w.type != WeightType::kF32) {
        for (int j = 0; j < nb; ++j) {
          float* dst = panel.data() + j * K;
          int64_t k = 0;
          if (w.type == WeightType::kF16) {
            for (; k + 8 <= K; k += 8)
              _mm256_storeu_ps(dst + k, LoadW<WeightType::kF16>(wp, j * K + k));
          } else {
            for (; k + 8 <= K; k += 8)
              _mm256_storeu_ps(dst + k, LoadW<WeightType::kBF16>(wp, j * K + k));
          }
          if (k < K) WidenWeights(w, n + j, k, K - k, dst + k);  // exact either way
        }
        wp = panel.data();
      }
      const float* bn = bias != nullptr ? bias + n : nullptr;
      const KernelFn main = Select<WeightType::kF32>(kMainMb, nb);
      int64_t m = mb0;
      for (; m + kMainMb <= mb1; m += kMainMb)
        main(x + m * ldx, ldx, wp, K, K, bn, y + m * ldy + n, ldy);
      if (m < mb1) {
        Select<WeightType::kF32>(static_cast<int>(mb1 - m), nb)(x + m * ldx, ldx, wp, K, K, bn,
                                                                y + m * ldy + n, ldy);
      }
    }
  }
}

}  // namespace rs::kernels::internal
