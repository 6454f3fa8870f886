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

namespace rs::kernels::vec16 {

typedef float V16 __attribute__((vector_size(64)));
typedef int32_t I16 __attribute__((vector_size(64)));

static inline V16 Splat(float v) { return V16{} + v; }
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
