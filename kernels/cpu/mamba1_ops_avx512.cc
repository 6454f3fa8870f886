// AVX-512 Mamba-1 conv/scan (see mamba1_ops_internal.h for the layout).
// GCC 12 reports its own _mm512_undefined_* idiom inside the intrinsics
// headers as (maybe-)uninitialized (a known false positive).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>

#include <algorithm>

#include "kernels/cpu/mamba1_ops_internal.h"
#include "kernels/cpu/simd_math_avx512.h"

namespace rs::kernels::internal {
namespace {

constexpr int kL = 16;
constexpr int64_t kTokenChunk = 16;

inline __mmask16 CountMask(int64_t count) {
  return count >= kL ? static_cast<__mmask16>(0xffff) : static_cast<__mmask16>((1u << count) - 1u);
}

// One token for a block of 16 channels (lanes); hT[n] / aT[n] hold
// h[e, n] / A[e, n] of the block's channels. The arithmetic of every lane is
// the same whatever the block, the token count or the storage of hT.
// kFixedN > 0 fixes N at compile time (full unroll); 0 uses `n_state`.
template <int kFixedN>
inline __m512 ScanToken(const __m512 delta, const __m512 uv, const float* Bt, const float* Ct,
                        int64_t n_state, __m512* hT, const __m512* aT) {
  const int64_t N = kFixedN > 0 ? kFixedN : n_state;
  const __m512 du = _mm512_mul_ps(delta, uv);
  __m512 acc = _mm512_setzero_ps();
#pragma GCC unroll 16
  for (int64_t n = 0; n < N; ++n) {
    const __m512 dA = simd512::Exp(_mm512_mul_ps(delta, aT[n]));
    hT[n] = _mm512_fmadd_ps(dA, hT[n], _mm512_mul_ps(du, _mm512_set1_ps(Bt[n])));
    acc = _mm512_fmadd_ps(hT[n], _mm512_set1_ps(Ct[n]), acc);
  }
  return acc;
}

}  // namespace

void VectorMathAvx512(int op, const float* x, int64_t n, float* y) {
  for (int64_t i = 0; i < n; i += kL) {
    const __mmask16 m = CountMask(n - i);
    const __m512 v = _mm512_maskz_loadu_ps(m, x + i);
    const __m512 r = op == 0 ? simd512::Exp(v) : op == 1 ? simd512::Softplus(v) : simd512::Silu(v);
    _mm512_mask_storeu_ps(y + i, m, r);
  }
}

void CausalConv1dSiluAvx512(const float* x, int64_t T, int64_t ldx, int64_t E, int K,
                            const float* w, const float* bias, float* state, float* out,
                            int64_t ldo, int64_t e0, int64_t e1) {
  for (int64_t t0 = 0; t0 < T; t0 += kTokenChunk) {
    const int64_t t1 = std::min(T, t0 + kTokenChunk);
    for (int64_t eb = e0; eb < e1; eb += kL) {
      const __mmask16 m = CountMask(e1 - eb);
      const __m512 bv = bias != nullptr ? _mm512_maskz_loadu_ps(m, bias + eb) : _mm512_setzero_ps();
      if (eb + kL < e1) {
        for (int64_t t = t0; t < t1; ++t) {
          _mm_prefetch(reinterpret_cast<const char*>(x + t * ldx + eb + kL), _MM_HINT_T0);
        }
      }
      for (int64_t t = t0; t < t1; ++t) {
        __m512 acc = bv;
        for (int j = 0; j < K; ++j) {
          const int64_t i = t - (K - 1) + j;
          const float* src = i >= 0 ? x + i * ldx : state + (K - 1 + i) * E;
          acc = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, w + j * E + eb),
                                _mm512_maskz_loadu_ps(m, src + eb), acc);
        }
        _mm512_mask_storeu_ps(out + t * ldo + eb, m, simd512::Silu(acc));
      }
    }
  }
  // The new state: the last K-1 inputs (rows of the old state are read
  // before they are overwritten: row T + r > r).
  for (int64_t eb = e0; eb < e1; eb += kL) {
    const __mmask16 m = CountMask(e1 - eb);
    for (int r = 0; r < K - 1; ++r) {
      const int64_t p = T - (K - 1) + r;
      const float* src = p >= 0 ? x + p * ldx : state + (T + r) * E;
      _mm512_mask_storeu_ps(state + r * E + eb, m, _mm512_maskz_loadu_ps(m, src + eb));
    }
  }
}

void SelectiveScanAvx512(const float* u, int64_t ldu, const float* dt, int64_t ldd,
                         const float* dt_bias, const float* A, const float* B, const float* C,
                         int64_t ldbc, const float* D, const float* z, int64_t ldz, int64_t T,
                         int64_t E, int64_t N, float* h, float* y, int64_t ldy, int64_t e0,
                         int64_t e1) {
  alignas(64) __m512 aT[64];
  alignas(64) __m512 hT[64];  // state of the block (lanes = channels)
  // Tokens in chunks so that a chunk's rows of u/dt/z/y stay in L2 while the
  // channel blocks walk over them (the state is stored back exactly).
  for (int64_t t0 = 0; t0 < T; t0 += kTokenChunk) {
    const int64_t t1 = std::min(T, t0 + kTokenChunk);
    for (int64_t eb = e0; eb < e1; eb += kL) {
      const int cnt = static_cast<int>(std::min<int64_t>(kL, e1 - eb));
      const __mmask16 cmask = CountMask(cnt);
      // h and A are (N, E): each n is one masked vector of channels.
      for (int64_t n = 0; n < N; ++n) {
        hT[n] = _mm512_maskz_loadu_ps(cmask, h + n * E + eb);
        aT[n] = _mm512_maskz_loadu_ps(cmask, A + n * E + eb);
      }
      const __m512 dtb = _mm512_maskz_loadu_ps(cmask, dt_bias + eb);
      const __m512 dv = _mm512_maskz_loadu_ps(cmask, D + eb);
      if (eb + kL < e1) {
        // The rows are a stride apart: prefetch the next block's lines.
        for (int64_t t = t0; t < t1; ++t) {
          _mm_prefetch(reinterpret_cast<const char*>(dt + t * ldd + eb + kL), _MM_HINT_T0);
          _mm_prefetch(reinterpret_cast<const char*>(u + t * ldu + eb + kL), _MM_HINT_T0);
          _mm_prefetch(reinterpret_cast<const char*>(z + t * ldz + eb + kL), _MM_HINT_T0);
        }
      }
      for (int64_t t = t0; t < t1; ++t) {
        const __m512 delta =
            simd512::Softplus(_mm512_add_ps(_mm512_maskz_loadu_ps(cmask, dt + t * ldd + eb), dtb));
        const __m512 uv = _mm512_maskz_loadu_ps(cmask, u + t * ldu + eb);
        const float* Bt = B + t * ldbc;
        const float* Ct = C + t * ldbc;
        __m512 acc;
        if (N == kL) {
          acc = ScanToken<kL>(delta, uv, Bt, Ct, N, hT, aT);
        } else {
          acc = ScanToken<0>(delta, uv, Bt, Ct, N, hT, aT);
        }
        const __m512 zs = simd512::Silu(_mm512_maskz_loadu_ps(cmask, z + t * ldz + eb));
        const __m512 out = _mm512_mul_ps(_mm512_add_ps(acc, _mm512_mul_ps(dv, uv)), zs);
        _mm512_mask_storeu_ps(y + t * ldy + eb, cmask, out);
      }
      for (int64_t n = 0; n < N; ++n) _mm512_mask_storeu_ps(h + n * E + eb, cmask, hT[n]);
    }
  }
}

}  // namespace rs::kernels::internal
