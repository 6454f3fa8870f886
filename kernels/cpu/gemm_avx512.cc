// AVX-512 GEMM block: "dot-product" micro-kernels over MB rows of x and NB
// rows of W, one zmm accumulator per (m, n) (lane j sums k ≡ j mod 16, the K
// tail through masked loads), then the fixed tree of gemm_internal.h.
// Compiled with AVX-512 flags; only reached through the dispatch in gemm.cc.
// GCC 12 reports its own _mm512_undefined_* idiom inside the intrinsics
// headers as (maybe-)uninitialized (a known false positive).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>

#include <algorithm>
#include <vector>

#include "kernels/cpu/cpu_level.h"
#include "kernels/cpu/gemm_internal.h"

namespace rs::kernels::internal {
namespace {

constexpr int kLanes = 16;

// Weight loads: 16 elements widened exactly to fp32 (unaligned is fine).
template <WeightType WT>
inline __m512 LoadW(const void* base, int64_t i) {
  if constexpr (WT == WeightType::kF32) {
    return _mm512_loadu_ps(static_cast<const float*>(base) + i);
  } else if constexpr (WT == WeightType::kF16) {
    return _mm512_cvtph_ps(_mm256_loadu_si256(
        reinterpret_cast<const __m256i*>(static_cast<const uint16_t*>(base) + i)));
  } else {
    const __m256i h = _mm256_loadu_si256(
        reinterpret_cast<const __m256i*>(static_cast<const uint16_t*>(base) + i));
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
  }
}

template <WeightType WT>
inline __m512 LoadWMasked(const void* base, int64_t i, __mmask16 mask) {
  if constexpr (WT == WeightType::kF32) {
    return _mm512_maskz_loadu_ps(mask, static_cast<const float*>(base) + i);
  } else if constexpr (WT == WeightType::kF16) {
    return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(mask, static_cast<const uint16_t*>(base) + i));
  } else {
    const __m256i h = _mm256_maskz_loadu_epi16(mask, static_cast<const uint16_t*>(base) + i);
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
  }
}

// 16 lanes -> 4: s8[i] = v[i] + v[i+8]; s4[i] = s8[i] + s8[i+4].
inline __m128 Sum16To4(__m512 v) {
  const __m256 s8 = _mm256_add_ps(_mm512_castps512_ps256(v), _mm512_extractf32x8_ps(v, 1));
  return _mm_add_ps(_mm256_castps256_ps128(s8), _mm256_extractf128_ps(s8, 1));
}

// Four reductions at once; lane i of the result is (s0 + s1) + (s2 + s3) of
// input i, bitwise the same as ReduceOne.
inline __m128 ReduceFour(__m512 a, __m512 b, __m512 c, __m512 d) {
  return _mm_hadd_ps(_mm_hadd_ps(Sum16To4(a), Sum16To4(b)), _mm_hadd_ps(Sum16To4(c), Sum16To4(d)));
}

inline float ReduceOne(__m512 a) {
  __m128 s = Sum16To4(a);
  s = _mm_hadd_ps(s, s);  // [s0+s1, s2+s3, ...]
  s = _mm_hadd_ps(s, s);  // [(s0+s1)+(s2+s3), ...]
  return _mm_cvtss_f32(s);
}

// y[i, j] = dot(x row i, W row j) (+ bias[j]) for i < MB, j < NB.
// x: MB rows at stride ldx; w: NB rows at stride ldw elements of type WT.
// pf, pf_bytes: a range to prefetch into L2 (the next W panel), spread over
// the k loop a line or two per step so the DRAM stream overlaps the FMAs
// (issued in one burst, the prefetches stalled the core once the fill
// buffers were full). Prefetches never change results.
template <int MB, int NB, WeightType WT>
void Kernel(const float* x, int64_t ldx, const void* w, int64_t ldw, int64_t K, const float* bias,
            float* y, int64_t ldy, const char* pf, int64_t pf_bytes) {
  const char* pf_end = pf + pf_bytes;
  const int64_t steps = K / kLanes > 0 ? K / kLanes : 1;
  const int64_t pf_per_step = (pf_bytes / 64 + steps - 1) / steps;
  __m512 acc[MB][NB];
#pragma GCC unroll 8
  for (int i = 0; i < MB; ++i) {
#pragma GCC unroll 8
    for (int j = 0; j < NB; ++j) acc[i][j] = _mm512_setzero_ps();
  }
  int64_t k = 0;
  for (; k + kLanes <= K; k += kLanes) {
    for (int64_t q = 0; q < pf_per_step && pf < pf_end; ++q, pf += 64) _mm_prefetch(pf, _MM_HINT_T1);
    __m512 xv[MB];
#pragma GCC unroll 8
    for (int i = 0; i < MB; ++i) xv[i] = _mm512_loadu_ps(x + i * ldx + k);
#pragma GCC unroll 8
    for (int j = 0; j < NB; ++j) {
      const __m512 wv = LoadW<WT>(w, j * ldw + k);
#pragma GCC unroll 8
      for (int i = 0; i < MB; ++i) acc[i][j] = _mm512_fmadd_ps(xv[i], wv, acc[i][j]);
    }
  }
  if (k < K) {
    const __mmask16 mask = static_cast<__mmask16>((1u << (K - k)) - 1u);
    __m512 xv[MB];
#pragma GCC unroll 8
    for (int i = 0; i < MB; ++i) xv[i] = _mm512_maskz_loadu_ps(mask, x + i * ldx + k);
#pragma GCC unroll 8
    for (int j = 0; j < NB; ++j) {
      const __m512 wv = LoadWMasked<WT>(w, j * ldw + k, mask);
#pragma GCC unroll 8
      for (int i = 0; i < MB; ++i) acc[i][j] = _mm512_fmadd_ps(xv[i], wv, acc[i][j]);
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

// Reads every cache line of [p, p + bytes) in a tight loop of independent
// loads whose values are discarded: the hardware prefetcher then streams the
// range from DRAM at full rate (WeightStream::kTouch in cpu_level.h).
inline void TouchBytes(const unsigned char* p, int64_t bytes) {
  __m512i any = _mm512_setzero_si512();
  int64_t i = 0;
  for (; i + 64 <= bytes; i += 64) any = _mm512_or_si512(any, _mm512_loadu_si512(p + i));
  if (i < bytes) any = _mm512_or_si512(any, _mm512_set1_epi32(p[bytes - 1]));
  asm volatile("" : : "v"(any));
}

using KernelFn = void (*)(const float*, int64_t, const void*, int64_t, int64_t, const float*,
                          float*, int64_t, const char*, int64_t);

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
      return &Kernel<MB, 5, WT>;
    case 6:
      return &Kernel<MB, 6, WT>;
    case 7:
      if constexpr (MB < 4) return &Kernel<MB, 7, WT>;
      break;
    case 8:
      if constexpr (MB < 4) return &Kernel<MB, 8, WT>;
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
    case 4:
      return SelectNb<4, WT>(nb);
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

constexpr int kMainMb = 4;                    // rows of x per micro-kernel when M >= 4
constexpr int kMainNb = 6;                    // rows of W per micro-kernel when M >= 4
// Rows of W per micro-kernel when M < 4: ONE, so each thread reads W as a
// single sequential stream. Interleaving 8 rows (8 short streams) halved the
// DRAM rate of BF16/F16 GEMV (gemm_bench, N=65536 K=768, 2 threads: BF16
// 21 -> 37 GB/s, F16 20 -> 35, F32 unchanged at 29). Results do not depend
// on it: each output's reduction is the same.
constexpr int kSmallNb = 1;
constexpr int64_t kXBlockBytes = 192 * 1024;  // x rows kept in L2 per pass
// WeightStream::kTouch applies from 2 micro-kernel calls per panel (with one,
// that call streams the panel itself) up to the batched-decode sizes where
// it was measured (RWKV-7 0.1B step GEMMs, Zen 5: M = 8 +28 %, 16 +8 %,
// 32 even, 64 +8 %; M = 512 even).
constexpr int64_t kTouchMinRows = 2 * kMainMb;
constexpr int64_t kTouchMaxRows = 64;

int64_t ElementBytes(WeightType t) { return t == WeightType::kF32 ? 4 : 2; }

}  // namespace

void GemmBlockAvx512(const float* x, int64_t ldx, int64_t m0, int64_t m1, const WeightMatrix& w,
                     int64_t n0, int64_t n1, const float* bias, float* y, int64_t ldy) {
  const int64_t K = w.k;
  const int64_t rows = m1 - m0;
  const auto* wbytes = static_cast<const unsigned char*>(w.data);
  const int64_t esize = ElementBytes(w.type);
  if (rows < kMainMb) {
    // Few rows (decode GEMV): stream W once, widening on the fly.
    const int mb = static_cast<int>(rows);
    for (int64_t n = n0; n < n1; n += kSmallNb) {
      const int nb = static_cast<int>(std::min<int64_t>(kSmallNb, n1 - n));
      Select(w.type, mb, nb)(x + m0 * ldx, ldx, wbytes + n * K * esize, K, K,
                             bias != nullptr ? bias + n : nullptr, y + m0 * ldy + n, ldy, nullptr, 0);
    }
    return;
  }
  // Many rows: for each block of x rows (kept in L2), walk panels of kMainNb
  // W rows (kept in L1, widened to fp32 once per block) over the block.
  // How the W panels stream from DRAM (cpu_level.h). kTouch replaces the
  // prefetches only where it was measured to pay: F32 panels, kTouchMinRows
  // to kTouchMaxRows rows. F16/BF16 panels are read in one tight pass by
  // their widening below anyway, and there the prefetches still pay on Zen 5
  // (RWKV-7 BF16, 16 sequences: 648-736 tok/s with them, 555-607 without).
  const bool touch = GetWeightStream() == WeightStream::kTouch && w.type == WeightType::kF32 &&
                     rows >= kTouchMinRows && rows <= kTouchMaxRows;
  const bool prefetch = !touch;
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
        // Widen exactly with the same conversion as the on-the-fly kernels.
        for (int j = 0; j < nb; ++j) {
          float* dst = panel.data() + j * K;
          int64_t k = 0;
          if (w.type == WeightType::kF16) {
            for (; k + 16 <= K; k += 16)
              _mm512_storeu_ps(dst + k, LoadW<WeightType::kF16>(wp, j * K + k));
            if (k < K) {
              const __mmask16 mask = static_cast<__mmask16>((1u << (K - k)) - 1u);
              _mm512_mask_storeu_ps(dst + k, mask,
                                    LoadWMasked<WeightType::kF16>(wp, j * K + k, mask));
            }
          } else {
            for (; k + 16 <= K; k += 16)
              _mm512_storeu_ps(dst + k, LoadW<WeightType::kBF16>(wp, j * K + k));
            if (k < K) {
              const __mmask16 mask = static_cast<__mmask16>((1u << (K - k)) - 1u);
              _mm512_mask_storeu_ps(dst + k, mask,
                                    LoadWMasked<WeightType::kBF16>(wp, j * K + k, mask));
            }
          }
        }
        wp = panel.data();
      }
      if (touch) TouchBytes(static_cast<const unsigned char*>(wp), nb * K * esize);
      const float* bn = bias != nullptr ? bias + n : nullptr;
      const KernelFn main = Select<WeightType::kF32>(kMainMb, nb);
      // Software-prefetch the W panel two ahead into L2 while this one
      // computes, spread over the micro-kernel calls and inside each over its
      // k loop: with few x rows (batched decode) the W stream from DRAM and
      // the FMAs then overlap instead of taking turns. Harness, all GEMMs of
      // an RWKV-7 0.1B step at M = 16, 2 threads: 33.5-35.4 ms with one burst
      // per call for the next panel -> 27.5-29.1 ms. Prefetches never change
      // results. (WeightStream::kPrefetch only.)
      const int64_t next_n = prefetch ? n + 2 * kMainNb : n1;
      const char* next = next_n < n1 ? reinterpret_cast<const char*>(wbytes + next_n * K * esize) : nullptr;
      const int64_t next_bytes = next ? std::min<int64_t>(kMainNb, n1 - next_n) * K * esize : 0;
      const int64_t calls = std::max<int64_t>(1, (mb1 - mb0) / kMainMb);
      const int64_t per_call = ((next_bytes + 63) / 64 + calls - 1) / calls * 64;
      int64_t prefetched = 0;
      int64_t m = mb0;
      for (; m + kMainMb <= mb1; m += kMainMb) {
        const int64_t chunk = std::max<int64_t>(0, std::min(next_bytes, prefetched + per_call) - prefetched);
        main(x + m * ldx, ldx, wp, K, K, bn, y + m * ldy + n, ldy, next + prefetched, chunk);
        prefetched += chunk;
      }
      if (m < mb1) {
        Select<WeightType::kF32>(static_cast<int>(mb1 - m), nb)(x + m * ldx, ldx, wp, K, K, bn,
                                                                y + m * ldy + n, ldy, nullptr, 0);
      }
    }
  }
}

}  // namespace rs::kernels::internal
