// Internal to kernels/cpu: a 16-float vector written with GCC vector
// extensions, and vectorized exp / sigmoid / tanh on it. The same source
// compiles to one zmm register in *_avx512.cc files, two ymm in *_avx2.cc
// files and four xmm elsewhere, so an op written once against V16 serves
// every dispatch level (include it from an *_impl.h that each level's
// translation unit includes inside its own namespace; never from a header
// shared across levels, or the ODR would merge copies compiled with
// different flags).
//
// Arithmetic is plain IEEE mul/add (the build disables contraction), so a
// result depends only on the inputs and the dispatch level.
//
// Accuracy: Exp <= 2 ulp for results >= 2^-126 (smaller results flush to 0;
// x > 88.72 gives +inf; NaN propagates); Sigmoid and Tanh to a few 1e-7
// absolute.
#pragma once

// Vector arguments of static inline helpers never cross an ABI boundary.
#pragma GCC diagnostic ignored "-Wpsabi"

#include <cstdint>
#include <cstring>
#include <utility>

namespace rs::kernels::vec16 {

typedef float V16 __attribute__((vector_size(64)));
typedef int32_t I16 __attribute__((vector_size(64)));

// A true broadcast (V16{} + v would cost a scalar add per call: +0 + v is
// not foldable, as it turns -0 into +0).
static inline V16 Splat(float v) { return V16{v, v, v, v, v, v, v, v, v, v, v, v, v, v, v, v}; }
static inline V16 Load(const float* p) {
  V16 v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}
static inline void Store(float* p, V16 v) { std::memcpy(p, &v, sizeof(v)); }
// Loads n < 16 floats, the rest zero.
static inline V16 LoadPartial(const float* p, int64_t n) {
  float tmp[16] = {};
  std::memcpy(tmp, p, static_cast<size_t>(n) * sizeof(float));
  return Load(tmp);
}
static inline void StorePartial(float* p, V16 v, int64_t n) {
  float tmp[16];
  Store(tmp, v);
  std::memcpy(p, tmp, static_cast<size_t>(n) * sizeof(float));
}
static inline V16 Max(V16 a, V16 b) { return a > b ? a : b; }
static inline V16 Min(V16 a, V16 b) { return a < b ? a : b; }
// Lane sum in a fixed tree: 16 -> 8 -> 4 -> (s0 + s1) + (s2 + s3).
static inline float Sum(V16 v) {
  float s8[8], s4[4];
  for (int i = 0; i < 8; ++i) s8[i] = v[i] + v[i + 8];
  for (int i = 0; i < 4; ++i) s4[i] = s8[i] + s8[i + 4];
  return (s4[0] + s4[1]) + (s4[2] + s4[3]);
}

// Sixteen lane sums at once: lane i of the result is bitwise Sum(v[i]) (the
// same adds on the same operands in the same tree), in 30 shuffles and 15
// vector adds instead of 16 horizontal reductions.
static inline V16 SumEach(const V16 v[16]) {
  // 16 -> 8: c[j] = [s8 of v[2j], s8 of v[2j+1]].
  V16 c[8];
  for (int j = 0; j < 8; ++j) {
    c[j] = __builtin_shufflevector(v[2 * j], v[2 * j + 1], 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19,
                                   20, 21, 22, 23) +
           __builtin_shufflevector(v[2 * j], v[2 * j + 1], 8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26,
                                   27, 28, 29, 30, 31);
  }
  // 8 -> 4: e[m] = [s4 of v[4m], v[4m+1], v[4m+2], v[4m+3]].
  V16 e[4];
  for (int m = 0; m < 4; ++m) {
    e[m] = __builtin_shufflevector(c[2 * m], c[2 * m + 1], 0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19,
                                   24, 25, 26, 27) +
           __builtin_shufflevector(c[2 * m], c[2 * m + 1], 4, 5, 6, 7, 12, 13, 14, 15, 20, 21, 22,
                                   23, 28, 29, 30, 31);
  }
  // s4[0] + s4[1] and s4[2] + s4[3]: g[u] lanes 4q.. = [P, Q of v[8u+q], P, Q of v[8u+4+q]].
  V16 g[2];
  for (int u = 0; u < 2; ++u) {
    g[u] = __builtin_shufflevector(e[2 * u], e[2 * u + 1], 0, 2, 16, 18, 4, 6, 20, 22, 8, 10, 24,
                                   26, 12, 14, 28, 30) +
           __builtin_shufflevector(e[2 * u], e[2 * u + 1], 1, 3, 17, 19, 5, 7, 21, 23, 9, 11, 25,
                                   27, 13, 15, 29, 31);
  }
  // P + Q: lane 4q + l holds Sum(v[4l + q]); then put lane i at i.
  const V16 h = __builtin_shufflevector(g[0], g[1], 0, 2, 16, 18, 4, 6, 20, 22, 8, 10, 24, 26, 12,
                                        14, 28, 30) +
                __builtin_shufflevector(g[0], g[1], 1, 3, 17, 19, 5, 7, 21, 23, 9, 11, 25, 27, 13,
                                        15, 29, 31);
  return __builtin_shufflevector(h, h, 0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
}

namespace detail {
// One stage of Transpose16: swaps bit M of the row index with bit M of the
// lane index between rows a (bit M clear) and b = a | M.
template <int M, int... J>
static inline V16 SwapLow(V16 a, V16 b, std::integer_sequence<int, J...>) {
  return __builtin_shufflevector(a, b, ((J & M) ? 16 + (J ^ M) : J)...);
}
template <int M, int... J>
static inline V16 SwapHigh(V16 a, V16 b, std::integer_sequence<int, J...>) {
  return __builtin_shufflevector(a, b, ((J & M) ? 16 + J : (J ^ M))...);
}
template <int M>
static inline void TransposeStage(V16 r[16]) {
  for (int i = 0; i < 16; ++i) {
    if (i & M) continue;
    const V16 a = r[i], b = r[i | M];
    r[i] = SwapLow<M>(a, b, std::make_integer_sequence<int, 16>{});
    r[i | M] = SwapHigh<M>(a, b, std::make_integer_sequence<int, 16>{});
  }
}
}  // namespace detail

// In-register 16x16 transpose: afterwards r[i][j] is the old r[j][i]
// (4 stages of 16 two-source shuffles; values are moved, never changed).
static inline void Transpose16(V16 r[16]) {
  detail::TransposeStage<1>(r);
  detail::TransposeStage<2>(r);
  detail::TransposeStage<4>(r);
  detail::TransposeStage<8>(r);
}

// Cephes expf: exp(x) = 2^n * exp(r), r = x - n ln2 in [-ln2/2, ln2/2].
static inline V16 Exp(V16 x) {
  const V16 xc = Min(Max(x, Splat(-87.33654f)), Splat(88.3762626647949f));
  // Round to nearest by the 1.5 * 2^23 trick (exact for |v| < 2^22).
  const V16 magic = Splat(12582912.0f);
  const V16 n = (xc * Splat(1.44269504088896341f) + magic) - magic;
  V16 r = xc - n * Splat(0.693359375f);
  r = r - n * Splat(-2.12194440e-4f);
  V16 p = Splat(1.9875691500e-4f);
  p = p * r + Splat(1.3981999507e-3f);
  p = p * r + Splat(8.3334519073e-3f);
  p = p * r + Splat(4.1665795894e-2f);
  p = p * r + Splat(1.6666665459e-1f);
  p = p * r + Splat(5.0000001201e-1f);
  p = p * (r * r) + r;
  p = p + Splat(1.0f);
  // 2^n for n in [-126, 127], n + 127 in [1, 254].
  const I16 bits = (__builtin_convertvector(n, I16) + 127) << 23;
  V16 pow2;
  std::memcpy(&pow2, &bits, sizeof(pow2));
  V16 res = p * pow2;
  res = x < Splat(-87.33654f) ? Splat(0.0f) : res;
  res = x > Splat(88.72283935546875f) ? Splat(__builtin_inff()) : res;
  return x != x ? x : res;
}

// 1 / (1 + exp(-x)).
static inline V16 Sigmoid(V16 x) { return Splat(1.0f) / (Splat(1.0f) + Exp(-x)); }

// tanh(x) = sign(x) * (1 - 2 / (exp(2|x|) + 1)); exp saturates to inf for
// |x| > 44, giving exactly +-1.
static inline V16 Tanh(V16 x) {
  const V16 ax = x < Splat(0.0f) ? -x : x;
  // For small |x| the subtraction cancels: use the odd series x - x^3/3 +
  // 2x^5/15 - 17x^7/315 below 0.0625 (error < 1e-9 relative).
  const V16 e = Exp(ax + ax);
  const V16 t = Splat(1.0f) - Splat(2.0f) / (e + Splat(1.0f));
  const V16 x2 = ax * ax;
  const V16 series =
      ax *
      (Splat(1.0f) + x2 * (Splat(-1.0f / 3) + x2 * (Splat(2.0f / 15) + x2 * Splat(-17.0f / 315))));
  const V16 r = ax < Splat(0.0625f) ? series : t;
  return x < Splat(0.0f) ? -r : r;
}

}  // namespace rs::kernels::vec16
