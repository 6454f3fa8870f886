// Internal to rs_sampler: the O(vocab) loops of the sampler, written so the
// compiler vectorizes them (element-wise IEEE operations only, sums over a
// fixed set of lanes in a fixed order). On x86-64 each is compiled for
// AVX-512, AVX2 and baseline SSE2 and picked at load time; all three give
// bit-identical results, since no operation is reassociated or contracted.
//
// Thread-safety: pure functions over caller-owned buffers.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>

namespace rs::engine::sampler_internal {

// exp(x) for x <= 0 (Cephes expf's range reduction and polynomial, with
// round-to-nearest by the 1.5*2^23 trick): relative error < 2^-22 for
// x >= -87.3, exactly 1 at x = 0, and exactly 0 below -87.33 (results that
// would be subnormal are flushed) and at -inf. REQUIRES: x <= 0, not NaN.
// Our own rather than std::exp so results do not depend on the libm version.
inline float ExpNonPositive(float x) {
  constexpr float kLo = -87.33654f;  // ln(FLT_MIN)
  const float xc = x < kLo ? kLo : x;
  const float t = xc * 1.44269504088896341f + 12582912.0f;  // 1.5 * 2^23
  const float n = t - 12582912.0f;                          // round(x / ln 2)
  float r = xc - n * 0.693359375f;                          // ln 2, high part
  r = r - n * -2.12194440e-4f;                              // ln 2, low part
  float y = 1.9875691500e-4f;
  y = y * r + 1.3981999507e-3f;
  y = y * r + 8.3334519073e-3f;
  y = y * r + 4.1665795894e-2f;
  y = y * r + 1.6666665459e-1f;
  y = y * r + 5.0000001201e-1f;
  y = y * r * r + r + 1.0f;
  // 2^n, n in [-126, 0]: the low bits of t hold n + 0x400000.
  const uint32_t scale_bits = (std::bit_cast<uint32_t>(t) - 0x4B400000u + 127u) << 23;
  const float res = y * std::bit_cast<float>(scale_bits);
  return x < kLo ? 0.0f : res;
}

// dst[i] = src[i], except NaN -> -inf and +inf -> the largest finite float.
void SanitizeCopy(const float* src, float* dst, size_t n);

// max_i x[i], ignoring NaN; -inf when n == 0 or every x[i] is -inf or NaN.
float MaxValue(const float* x, size_t n);

// The first i with x[i] == value, or n if none.
size_t FirstIndexOf(const float* x, size_t n, float value);

// w[i] = ExpNonPositive((x[i] - shift) * inv_temperature); returns sum_i w[i]
// (as doubles, in a fixed order). w may equal x. REQUIRES: x sanitized (no NaN
// or +inf), shift finite and >= every x[i], inv_temperature > 0.
double ExpShifted(const float* x, float* w, size_t n, float shift, float inv_temperature);

// sum_i ExpNonPositive(x[i] - shift), with NaN x[i] counted as -inf. REQUIRES:
// shift finite and >= every non-NaN x[i].
double SumExpShifted(const float* x, size_t n, float shift);

// Logarithmic bin of each weight: out[i] = min((bits(1.0f) - bits(w[i])) >>
// shift, max_bin), so larger weights get smaller bins and each bin spans a
// 2^-(23 - shift) fraction of an octave. REQUIRES: every w[i] in [0, 1],
// 0 <= shift < 32.
void LogBinIndices(const float* w, size_t n, int shift, uint16_t max_bin, uint16_t* out);

// Writes the indices i with bin[i] == want, ascending, to out; returns how
// many. REQUIRES: out has room for n entries, n < 2^31. (AVX-512: 16 entries
// per compress-store; elsewhere a branch-free scalar loop.)
size_t IndicesEqual(const uint16_t* bin, size_t n, uint16_t want, int32_t* out);

}  // namespace rs::engine::sampler_internal
