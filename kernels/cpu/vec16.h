// Internal to kernels/cpu: a 16-float vector written with GCC vector
// extensions, and vectorized exp / sigmoid / tanh on it. V16 is one 64-byte
// vector (one zmm register) in *_avx512.cc files, and elsewhere a struct of
// two ymm (*_avx2.cc files) or four xmm (the baseline) with the same
// operators, lane access, comparisons and Select (use Select(a < b, x, y),
// not a vector ternary), so an op written once against V16 serves every
// dispatch level (include it from an *_impl.h that each level's translation
// unit includes inside its own namespace; never from a header shared across
// levels, or the ODR would merge copies compiled with different flags).
//
// Arithmetic is plain IEEE mul/add (the build disables contraction), so a
// result depends only on the inputs and the dispatch level; the two forms
// give bitwise the same lanes.
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

#if defined(__AVX512F__)

// One zmm register.
typedef float V16 __attribute__((vector_size(64)));
typedef int32_t I16 __attribute__((vector_size(64)));

// A true broadcast (V16{} + v would cost a scalar add per call: +0 + v is
// not foldable, as it turns -0 into +0).
static inline V16 Splat(float v) { return V16{v, v, v, v, v, v, v, v, v, v, v, v, v, v, v, v}; }
// m ? a : b per lane, m a comparison of V16s (-1 or 0 per lane).
static inline V16 Select(I16 m, V16 a, V16 b) { return m ? a : b; }
// Lane-wise float -> int32, truncating.
static inline I16 ToInt(V16 v) { return __builtin_convertvector(v, I16); }

#else

// Without AVX-512 a 64-byte vector type is not a register type: GCC keeps it
// in memory and moves its pieces through general registers. V16 is then a
// struct of native vectors (two ymm with AVX, four xmm below) whose operators
// apply the same IEEE operation to every part, so every lane's result is
// bitwise that of the vector form.
namespace detail {
#if defined(__AVX__)
constexpr int kLanes = 8;
#else
constexpr int kLanes = 4;
#endif
constexpr int kParts = 16 / kLanes;
typedef float VPart __attribute__((vector_size(4 * kLanes)));
typedef int32_t IPart __attribute__((vector_size(4 * kLanes)));
using Parts = std::make_integer_sequence<int, kParts>;
using Lanes = std::make_integer_sequence<int, kLanes>;
}  // namespace detail

struct V16 {
  detail::VPart p[detail::kParts];
  float operator[](int i) const { return p[i / detail::kLanes][i % detail::kLanes]; }
  // Through the float view of the parts (vector types alias their element
  // type; clang refuses a reference bound to a vector element).
  float& operator[](int i) { return reinterpret_cast<float*>(p)[i]; }
};
struct I16 {
  detail::IPart p[detail::kParts];
};

namespace detail {
template <int... L>
static inline VPart SplatPart(float v, std::integer_sequence<int, L...>) {
  return VPart{(static_cast<void>(L), v)...};
}
template <int... P>
static inline V16 Splat(float v, std::integer_sequence<int, P...>) {
  return V16{{(static_cast<void>(P), SplatPart(v, Lanes{}))...}};
}
template <int... P>
static inline V16 Neg(V16 a, std::integer_sequence<int, P...>) {
  return V16{{(-a.p[P])...}};
}
template <int... P>
static inline V16 Select(I16 m, V16 a, V16 b, std::integer_sequence<int, P...>) {
  return V16{{(m.p[P] ? a.p[P] : b.p[P])...}};
}
template <int... P>
static inline I16 ToInt(V16 v, std::integer_sequence<int, P...>) {
  return I16{{__builtin_convertvector(v.p[P], IPart)...}};
}
// Part-wise binary operators: V16 op V16 -> R, and I16 op int -> I16.
#define RS_VEC16_PARTWISE(R, name, op, A, B)                         \
  template <int... P>                                                \
  static inline R name(A a, B b, std::integer_sequence<int, P...>) { \
    return R{{(a.p[P] op b.p[P])...}};                               \
  }
RS_VEC16_PARTWISE(V16, Add, +, V16, V16)
RS_VEC16_PARTWISE(V16, Sub, -, V16, V16)
RS_VEC16_PARTWISE(V16, Mul, *, V16, V16)
RS_VEC16_PARTWISE(V16, Div, /, V16, V16)
RS_VEC16_PARTWISE(I16, Lt, <, V16, V16)
RS_VEC16_PARTWISE(I16, Gt, >, V16, V16)
RS_VEC16_PARTWISE(I16, Ne, !=, V16, V16)
#undef RS_VEC16_PARTWISE
template <int... P>
static inline I16 AddInt(I16 a, int32_t b, std::integer_sequence<int, P...>) {
  return I16{{(a.p[P] + b)...}};
}
template <int... P>
static inline I16 ShlInt(I16 a, int b, std::integer_sequence<int, P...>) {
  return I16{{(a.p[P] << b)...}};
}
}  // namespace detail

static inline V16 Splat(float v) { return detail::Splat(v, detail::Parts{}); }
static inline V16 Select(I16 m, V16 a, V16 b) { return detail::Select(m, a, b, detail::Parts{}); }
static inline I16 ToInt(V16 v) { return detail::ToInt(v, detail::Parts{}); }

// a * b, multiplied where it is used (it converts to V16). GCC evaluates the
// operands of an overloaded operator right to left but those of a built-in
// one left to right (the language sets no order), and under fp-contract=fast
// (rwkv_ops_impl.h, gemm_kmajor_impl.h) it fuses the first-computed of two
// products added together: a * b + c * d would become fma(c, d, a * b) here
// but is fma(a, b, c * d) in the vector form. The sum and difference of two
// products compute them left to right, as the vector form does.
struct V16Product {
  V16 a, b;
  operator V16() const { return detail::Mul(a, b, detail::Parts{}); }
};

// The operators GCC's vector extension gives the vector form (a float
// operand is broadcast, as there).
static inline V16 operator-(V16 a) { return detail::Neg(a, detail::Parts{}); }
static inline V16 operator+(V16 a, V16 b) { return detail::Add(a, b, detail::Parts{}); }
static inline V16 operator-(V16 a, V16 b) { return detail::Sub(a, b, detail::Parts{}); }
static inline V16Product operator*(V16 a, V16 b) { return {a, b}; }
static inline V16 operator/(V16 a, V16 b) { return detail::Div(a, b, detail::Parts{}); }
static inline V16 operator+(V16Product x, V16Product y) {
  const V16 a = x, b = y;
  return a + b;
}
static inline V16 operator-(V16Product x, V16Product y) {
  const V16 a = x, b = y;
  return a - b;
}
static inline V16 operator+(V16 a, float b) { return a + Splat(b); }
static inline V16 operator-(V16 a, float b) { return a - Splat(b); }
static inline V16Product operator*(V16 a, float b) { return {a, Splat(b)}; }
static inline V16 operator/(V16 a, float b) { return a / Splat(b); }
static inline V16 operator+(float a, V16 b) { return Splat(a) + b; }
static inline V16 operator-(float a, V16 b) { return Splat(a) - b; }
static inline V16Product operator*(float a, V16 b) { return {Splat(a), b}; }
static inline V16 operator/(float a, V16 b) { return Splat(a) / b; }
static inline V16& operator+=(V16& a, V16 b) { return a = a + b; }
static inline V16& operator-=(V16& a, V16 b) { return a = a - b; }
static inline V16& operator*=(V16& a, V16 b) { return a = a * b; }
static inline V16& operator/=(V16& a, V16 b) { return a = a / b; }
static inline I16 operator<(V16 a, V16 b) { return detail::Lt(a, b, detail::Parts{}); }
static inline I16 operator>(V16 a, V16 b) { return detail::Gt(a, b, detail::Parts{}); }
static inline I16 operator!=(V16 a, V16 b) { return detail::Ne(a, b, detail::Parts{}); }
static inline I16 operator+(I16 a, int32_t b) { return detail::AddInt(a, b, detail::Parts{}); }
static inline I16 operator<<(I16 a, int b) { return detail::ShlInt(a, b, detail::Parts{}); }

#endif

static_assert(sizeof(V16) == 64 && sizeof(I16) == 64, "16 lanes of 4 bytes, no padding");

#if defined(__AVX512F__)
static inline V16 Load(const float* p) {
  V16 v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}
static inline void Store(float* p, V16 v) { std::memcpy(p, &v, sizeof(v)); }
#else
// Part by part (one memcpy of the whole struct is an aggregate copy that GCC
// splits into 16-byte pieces through the stack).
namespace detail {
static inline VPart LoadPart(const float* p) {
  VPart v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}
static inline void StorePart(float* p, VPart v) { std::memcpy(p, &v, sizeof(v)); }
template <int... P>
static inline V16 Load(const float* p, std::integer_sequence<int, P...>) {
  return V16{{LoadPart(p + P * kLanes)...}};
}
template <int... P>
static inline void Store(float* p, V16 v, std::integer_sequence<int, P...>) {
  (StorePart(p + P * kLanes, v.p[P]), ...);
}
}  // namespace detail
static inline V16 Load(const float* p) { return detail::Load(p, detail::Parts{}); }
static inline void Store(float* p, V16 v) { detail::Store(p, v, detail::Parts{}); }
#endif
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
static inline V16 Max(V16 a, V16 b) { return Select(a > b, a, b); }
static inline V16 Min(V16 a, V16 b) { return Select(a < b, a, b); }
// Lane sum in a fixed tree: 16 -> 8 -> 4 -> (s0 + s1) + (s2 + s3).
static inline float Sum(V16 v) {
  float s8[8], s4[4];
  for (int i = 0; i < 8; ++i) s8[i] = v[i] + v[i + 8];
  for (int i = 0; i < 4; ++i) s4[i] = s8[i] + s8[i + 4];
  return (s4[0] + s4[1]) + (s4[2] + s4[3]);
}

#if defined(__AVX512F__)

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

#else

// Sixteen lane sums at once: lane i of the result is bitwise Sum(v[i]) (the
// same adds on the same operands in the same tree). Each v[i] is first
// reduced to its 4 s4 sums in its own parts; then groups of four inputs
// finish their trees together in 4-float vectors.
static inline V16 SumEach(const V16 v[16]) {
  typedef float V4 __attribute__((vector_size(16)));
  V4 s4[16];
  for (int i = 0; i < 16; ++i) {
#if defined(__AVX__)
    // s8 = v[i] lanes 0..7 + lanes 8..15; s4 = its lanes 0..3 + 4..7.
    const detail::VPart s8 = v[i].p[0] + v[i].p[1];
    s4[i] =
        __builtin_shufflevector(s8, s8, 0, 1, 2, 3) + __builtin_shufflevector(s8, s8, 4, 5, 6, 7);
#else
    // s8 lanes 0..3 = parts 0 + 2, lanes 4..7 = parts 1 + 3.
    s4[i] = (v[i].p[0] + v[i].p[2]) + (v[i].p[1] + v[i].p[3]);
#endif
  }
  // For inputs a..d: [a0 + a1, a2 + a3, b0 + b1, b2 + b3], the same for c, d,
  // then [(a0 + a1) + (a2 + a3), ...].
  V4 sums[4];
  for (int q = 0; q < 4; ++q) {
    const V4 a = s4[4 * q], b = s4[4 * q + 1], c = s4[4 * q + 2], d = s4[4 * q + 3];
    const V4 ab =
        __builtin_shufflevector(a, b, 0, 2, 4, 6) + __builtin_shufflevector(a, b, 1, 3, 5, 7);
    const V4 cd =
        __builtin_shufflevector(c, d, 0, 2, 4, 6) + __builtin_shufflevector(c, d, 1, 3, 5, 7);
    sums[q] =
        __builtin_shufflevector(ab, cd, 0, 2, 4, 6) + __builtin_shufflevector(ab, cd, 1, 3, 5, 7);
  }
#if defined(__AVX__)
  return V16{{__builtin_shufflevector(sums[0], sums[1], 0, 1, 2, 3, 4, 5, 6, 7),
              __builtin_shufflevector(sums[2], sums[3], 0, 1, 2, 3, 4, 5, 6, 7)}};
#else
  return V16{{sums[0], sums[1], sums[2], sums[3]}};
#endif
}

#endif

namespace detail {
#if defined(__AVX512F__)
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
#else
// The same stages on parts: a lane bit M < kLanes is swapped by shuffles
// within each part, a higher one (a part-index bit) by exchanging parts.
template <int M, int... J>
static inline VPart SwapLow(VPart a, VPart b, std::integer_sequence<int, J...>) {
  return __builtin_shufflevector(a, b, ((J & M) ? kLanes + (J ^ M) : J)...);
}
template <int M, int... J>
static inline VPart SwapHigh(VPart a, VPart b, std::integer_sequence<int, J...>) {
  return __builtin_shufflevector(a, b, ((J & M) ? kLanes + J : (J ^ M))...);
}
template <int M>
static inline void TransposeStage(V16 r[16]) {
  for (int i = 0; i < 16; ++i) {
    if (i & M) continue;
    const V16 a = r[i], b = r[i | M];
    for (int k = 0; k < kParts; ++k) {
      if constexpr (M < kLanes) {
        r[i].p[k] = SwapLow<M>(a.p[k], b.p[k], Lanes{});
        r[i | M].p[k] = SwapHigh<M>(a.p[k], b.p[k], Lanes{});
      } else {
        constexpr int m = M / kLanes;
        r[i].p[k] = (k & m) ? b.p[k ^ m] : a.p[k];
        r[i | M].p[k] = (k & m) ? b.p[k] : a.p[k ^ m];
      }
    }
  }
}
#endif
}  // namespace detail

// In-register 16x16 transpose: afterwards r[i][j] is the old r[j][i]
// (4 stages of two-source shuffles; values are moved, never changed).
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
  const I16 bits = (ToInt(n) + 127) << 23;
  V16 pow2;
  std::memcpy(&pow2, &bits, sizeof(pow2));
  V16 res = p * pow2;
  res = Select(x < Splat(-87.33654f), Splat(0.0f), res);
  res = Select(x > Splat(88.72283935546875f), Splat(__builtin_inff()), res);
  return Select(x != x, x, res);
}

// 1 / (1 + exp(-x)).
static inline V16 Sigmoid(V16 x) { return Splat(1.0f) / (Splat(1.0f) + Exp(-x)); }

// tanh(x) = sign(x) * (1 - 2 / (exp(2|x|) + 1)); exp saturates to inf for
// |x| > 44, giving exactly +-1.
static inline V16 Tanh(V16 x) {
  const V16 ax = Select(x < Splat(0.0f), -x, x);
  // For small |x| the subtraction cancels: use the odd series x - x^3/3 +
  // 2x^5/15 - 17x^7/315 below 0.0625 (error < 1e-9 relative).
  const V16 e = Exp(ax + ax);
  const V16 t = Splat(1.0f) - Splat(2.0f) / (e + Splat(1.0f));
  const V16 x2 = ax * ax;
  const V16 series =
      ax *
      (Splat(1.0f) + x2 * (Splat(-1.0f / 3) + x2 * (Splat(2.0f / 15) + x2 * Splat(-17.0f / 315))));
  const V16 r = Select(ax < Splat(0.0625f), series, t);
  return Select(x < Splat(0.0f), -r, r);
}

}  // namespace rs::kernels::vec16
