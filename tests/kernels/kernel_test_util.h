// Shared helpers for the kernel tests: dispatch levels and random data.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "kernels/cpu/cpu_level.h"

namespace rs::kernels::testing {

// Every level name; tests skip the ones this CPU lacks.
inline std::vector<std::string> AllLevels() { return {"avx512", "avx2", "scalar"}; }

// Forces a dispatch level for the scope of a test; restores on exit.
class ScopedCpuLevel {
 public:
  explicit ScopedCpuLevel(const std::string& level) {
    active_ = CpuLevelToString(SetCpuLevelForTesting(level.c_str())) == level;
  }
  ~ScopedCpuLevel() { SetCpuLevelForTesting(nullptr); }
  // False when the CPU does not support the level (the test should skip).
  bool active() const { return active_; }

 private:
  bool active_ = false;
};

#define RS_REQUIRE_LEVEL(scoped)                                             \
  do {                                                                       \
    if (!(scoped).active()) GTEST_SKIP() << "CPU lacks this dispatch level"; \
  } while (0)

inline std::vector<float> RandomVector(size_t n, uint32_t seed, float lo = -1.0f, float hi = 1.0f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(n);
  for (float& f : v) f = dist(rng);
  return v;
}

inline bool BitwiseEqual(const float* a, const float* b, size_t n) {
  return std::memcmp(a, b, n * sizeof(float)) == 0;
}

// Index of the first bitwise difference, or -1.
inline int64_t FirstDifference(const float* a, const float* b, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    if (std::memcmp(a + i, b + i, sizeof(float)) != 0) return static_cast<int64_t>(i);
  }
  return -1;
}

}  // namespace rs::kernels::testing
