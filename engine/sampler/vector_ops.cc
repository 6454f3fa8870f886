#include "engine/sampler/vector_ops.h"

#include <cstring>
#include <limits>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define RS_SAMPLER_HAVE_AVX512_PATH 1
#endif

// Multi-versioning: the loops below are compiled for AVX-512, AVX2 and the
// baseline ISA, chosen at load time (GCC/Clang ifunc on x86-64 ELF). Results
// are identical across versions (see vector_ops.h).
#if defined(__x86_64__) && defined(__ELF__) && (defined(__GNUC__) || defined(__clang__)) && \
    !defined(RS_SAMPLER_NO_MULTIVERSION)
#define RS_SAMPLER_MULTIVERSION __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define RS_SAMPLER_MULTIVERSION
#endif

namespace rs::engine::sampler_internal {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr float kMaxFinite = std::numeric_limits<float>::max();
constexpr size_t kLanes = 16;

}  // namespace

RS_SAMPLER_MULTIVERSION
void SanitizeCopy(const float* src, float* dst, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    float v = src[i];
    v = v == v ? v : -kInf;
    v = v == kInf ? kMaxFinite : v;
    dst[i] = v;
  }
}

#if defined(__GNUC__) || defined(__clang__)
// 16 floats as one value (GCC/Clang vector extensions), lowered to whatever the
// clone's ISA offers: a reduction the auto-vectorizer does not attempt.
typedef float Float16 __attribute__((vector_size(64)));
typedef int32_t Int16 __attribute__((vector_size(64)));

RS_SAMPLER_MULTIVERSION
float MaxValue(const float* x, size_t n) {
  Float16 acc = Float16{} - kInf;
  size_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    Float16 v;
    std::memcpy(&v, x + i, sizeof(v));
    acc = v > acc ? v : acc;  // NaN v never wins
  }
  float m = -kInf;
  for (size_t j = 0; j < kLanes; ++j) m = acc[j] > m ? acc[j] : m;
  for (; i < n; ++i) m = x[i] > m ? x[i] : m;
  return m;
}

RS_SAMPLER_MULTIVERSION
size_t FirstIndexOf(const float* x, size_t n, float value) {
  size_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    Float16 v;
    std::memcpy(&v, x + i, sizeof(v));
    const Int16 mask = v == value;
    int32_t lanes[kLanes];
    std::memcpy(lanes, &mask, sizeof(lanes));
    int32_t any = 0;
    for (size_t j = 0; j < kLanes; ++j) any |= lanes[j];
    if (any != 0) break;  // then find the exact lane below
  }
  for (; i < n; ++i) {
    if (x[i] == value) return i;
  }
  return n;
}
#else
float MaxValue(const float* x, size_t n) {
  float m = -kInf;
  for (size_t i = 0; i < n; ++i) m = x[i] > m ? x[i] : m;
  return m;
}

size_t FirstIndexOf(const float* x, size_t n, float value) {
  for (size_t i = 0; i < n; ++i) {
    if (x[i] == value) return i;
  }
  return n;
}
#endif

RS_SAMPLER_MULTIVERSION
double ExpShifted(const float* x, float* w, size_t n, float shift, float inv_temperature) {
  for (size_t i = 0; i < n; ++i) w[i] = ExpNonPositive((x[i] - shift) * inv_temperature);
  double acc[8] = {};
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    for (size_t j = 0; j < 8; ++j) acc[j] += static_cast<double>(w[i + j]);
  }
  double sum = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
  for (; i < n; ++i) sum += static_cast<double>(w[i]);
  return sum;
}

RS_SAMPLER_MULTIVERSION
double SumExpShifted(const float* x, size_t n, float shift) {
  // Blocks of exponentials into a small buffer (a loop the compiler
  // vectorizes), then a fixed 8-lane double sum, as in ExpShifted.
  constexpr size_t kBlock = 256;
  float buf[kBlock];
  double acc[8] = {};
  double tail = 0.0;
  for (size_t start = 0; start < n; start += kBlock) {
    const size_t len = n - start < kBlock ? n - start : kBlock;
    const float* src = x + start;
    for (size_t i = 0; i < len; ++i) {
      const float v = src[i];
      buf[i] = ExpNonPositive(v == v ? v - shift : -kInf);
    }
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
      for (size_t j = 0; j < 8; ++j) acc[j] += static_cast<double>(buf[i + j]);
    }
    for (; i < len; ++i) tail += static_cast<double>(buf[i]);
  }
  return (((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]))) + tail;
}

RS_SAMPLER_MULTIVERSION
void LogBinIndices(const float* w, size_t n, int shift, uint16_t max_bin, uint16_t* out) {
  constexpr uint32_t kOneBits = 0x3F800000u;
  const uint32_t max = max_bin;
  for (size_t i = 0; i < n; ++i) {
    uint32_t bits;
    std::memcpy(&bits, w + i, sizeof(bits));
    const uint32_t d = (kOneBits - bits) >> shift;
    out[i] = static_cast<uint16_t>(d < max ? d : max);
  }
}

namespace {

size_t IndicesEqualScalar(const uint16_t* bin, size_t n, uint16_t want, int32_t* out) {
  size_t k = 0;
  for (size_t i = 0; i < n; ++i) {
    out[k] = static_cast<int32_t>(i);
    k += bin[i] == want ? 1 : 0;
  }
  return k;
}

#ifdef RS_SAMPLER_HAVE_AVX512_PATH
// Whole blocks of 16 only: n is a multiple of 16.
__attribute__((target("avx512f"))) size_t IndicesEqualAvx512(const uint16_t* bin, size_t n,
                                                              uint16_t want, int32_t* out) {
  const __m512i target = _mm512_set1_epi32(want);
  const __m512i step = _mm512_set1_epi32(16);
  __m512i ids = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  size_t k = 0;
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m256i b16 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(bin + i));
    const __mmask16 hit = _mm512_cmpeq_epi32_mask(_mm512_maskz_cvtepu16_epi32(0xFFFF, b16), target);
    if (hit != 0) {
      _mm512_mask_compressstoreu_epi32(out + k, hit, ids);
      k += static_cast<size_t>(__builtin_popcount(hit));
    }
    ids = _mm512_add_epi32(ids, step);
  }
  return k;
}
#endif

}  // namespace

size_t IndicesEqual(const uint16_t* bin, size_t n, uint16_t want, int32_t* out) {
#ifdef RS_SAMPLER_HAVE_AVX512_PATH
  static const bool avx512 = __builtin_cpu_supports("avx512f");
  if (avx512) {
    const size_t body = n - n % 16;
    const size_t k = IndicesEqualAvx512(bin, body, want, out);
    const size_t t = IndicesEqualScalar(bin + body, n - body, want, out + k);
    for (size_t j = k; j < k + t; ++j) out[j] += static_cast<int32_t>(body);
    return k + t;
  }
#endif
  return IndicesEqualScalar(bin, n, want, out);
}

}  // namespace rs::engine::sampler_internal
