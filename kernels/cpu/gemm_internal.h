// Internal to kernels/cpu: the per-dispatch-level GEMM block functions and
// the scalar weight conversions shared by them.
//
// A block function computes y[m, n] (+ bias[n]) for m in [m0, m1) and n in
// [n0, n1) and is single-threaded; Gemm() splits the work into blocks and
// runs them on the pool. Each y[m, n] is a lane-wise dot product over k
// (lane j sums k ≡ j mod L in increasing k, L = 16 for AVX-512, 8 for AVX2
// and scalar) followed by a fixed horizontal tree
//   s[i] = v[i] + v[i + L/2] ... down to 4 lanes, then (s0 + s1) + (s2 + s3),
// so the value depends only on K and the level, never on the block.
#pragma once

#include <cstdint>
#include <cstring>

#include "kernels/cpu/gemm.h"

namespace rs::kernels::internal {

using GemmBlockFn = void (*)(const float* x, int64_t ldx, int64_t m0, int64_t m1,
                             const WeightMatrix& w, int64_t n0, int64_t n1, const float* bias,
                             float* y, int64_t ldy);

void GemmBlockScalar(const float* x, int64_t ldx, int64_t m0, int64_t m1, const WeightMatrix& w,
                     int64_t n0, int64_t n1, const float* bias, float* y, int64_t ldy);
void GemmBlockAvx2(const float* x, int64_t ldx, int64_t m0, int64_t m1, const WeightMatrix& w,
                   int64_t n0, int64_t n1, const float* bias, float* y, int64_t ldy);
void GemmBlockAvx512(const float* x, int64_t ldx, int64_t m0, int64_t m1, const WeightMatrix& w,
                     int64_t n0, int64_t n1, const float* bias, float* y, int64_t ldy);

// Exact IEEE binary16 -> binary32 (subnormals, inf and NaN included).
inline float HalfToFloat(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1fu;
  uint32_t mant = h & 0x3ffu;
  uint32_t bits;
  if (exp == 0x1f) {
    bits = sign | 0x7f800000u | (mant << 13);
  } else if (exp != 0) {
    bits = sign | ((exp + 112) << 23) | (mant << 13);
  } else if (mant == 0) {
    bits = sign;
  } else {  // subnormal: normalize
    exp = 113;
    while ((mant & 0x400u) == 0) {
      mant <<= 1;
      --exp;
    }
    bits = sign | (exp << 23) | ((mant & 0x3ffu) << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

inline float Bf16ToFloat(uint16_t h) {
  const uint32_t bits = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

// Widens `count` elements of row `row` (starting at column `col`) to fp32.
// Unaligned source pointers are fine.
void WidenWeights(const WeightMatrix& w, int64_t row, int64_t col, int64_t count, float* out);

}  // namespace rs::kernels::internal
