// Counter-based randomness for sampling: one uniform double per
// (seed, position), with no generator state anywhere.
//
// Because the value depends only on the request's seed and the index of the
// token being generated, a request's output does not depend on what else
// shares its batch, on how steps are grouped, on preemption/resume, or on
// which thread samples it. CHANGING THESE FUNCTIONS CHANGES EVERY SEEDED
// OUTPUT: random_test.cc pins their values.
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>

namespace rs::engine {

// SplitMix64's output function applied to z + golden ratio (Steele, Lea &
// Flood 2014): a bijective 64-bit mixer with full avalanche.
constexpr uint64_t SplitMix64(uint64_t z) {
  z += 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// 64 random bits for (seed, position). For a fixed seed it is a bijection of
// position (no two positions of one request collide).
constexpr uint64_t SamplingBits(uint64_t seed, uint64_t position) {
  return SplitMix64(SplitMix64(seed) ^ position);
}

// Uniform double in [0, 1): the top 53 bits of SamplingBits, times 2^-53.
constexpr double SamplingUniform(uint64_t seed, uint64_t position) {
  return static_cast<double>(SamplingBits(seed, position) >> 11) * 0x1.0p-53;
}

}  // namespace rs::engine
