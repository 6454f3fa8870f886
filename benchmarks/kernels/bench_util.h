// Shared by the kernel benchmarks: seeded uniform random inputs.
#pragma once

#include <benchmark/benchmark.h>

#include <cstddef>
#include <cstdint>
#include <random>
#include <vector>

namespace rs::kernels::bench {

inline std::vector<float> Random(size_t n, float lo, float hi, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(n);
  for (float& f : v) f = d(rng);
  return v;
}

// Counters of a per-layer op run on T tokens per iteration: us_per_token
// (one layer) and model_ms_per_token (x layers). Google Benchmark prints
// inverted rates with an "s" suffix.
inline void PerTokenCounters(benchmark::State& state, int64_t T, int64_t layers) {
  const double tokens = static_cast<double>(state.iterations()) * static_cast<double>(T);
  state.counters["us_per_token"] =
      benchmark::Counter(tokens / 1e6, benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
  state.counters["model_ms_per_token"] = benchmark::Counter(
      tokens / (1e3 * static_cast<double>(layers)), benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

}  // namespace rs::kernels::bench
