// The RWKV-7 WKV recurrence at the 0.1B shape (12 heads of 64, 12 layers),
// heads split across the pool as the model does. Counters: us_per_token
// (one layer) and model_ms_per_token (x 12 layers). Args: T (tokens per
// call), threads. (Google Benchmark prints inverted rates with an "s"
// suffix: read us_per_token in microseconds, model_ms_per_token in ms.)
#include <benchmark/benchmark.h>

#include <cmath>
#include <random>
#include <vector>

#include "kernels/cpu/rwkv_ops.h"
#include "benchmarks/kernels/bench_util.h"
#include "kernels/cpu/thread_pool.h"

namespace rs::kernels {
namespace {

constexpr int64_t kH = 12, kN = 64, kC = kH * kN, kLayers = 12;

using bench::Random;

void BM_Wkv7(benchmark::State& state) {
  const int64_t T = state.range(0);
  const int threads = static_cast<int>(state.range(1));
  const size_t n = static_cast<size_t>(T * kC);
  std::vector<float> r = Random(n, -1, 1, 1), k = Random(n, -1, 1, 2), v = Random(n, -1, 1, 3);
  std::vector<float> w = Random(n, 0.5f, 1.0f, 4), a = Random(n, -0.1f, 0.1f, 5),
                     b = Random(n, -0.1f, 0.1f, 6);
  std::vector<float> s(static_cast<size_t>(kH * kN * kN), 0.0f), y(n);
  ThreadPool pool(threads);
  for (auto _ : state) {
    pool.ParallelFor(static_cast<int>(kH), [&](int h) {
      Wkv7(T, kN, r.data(), w.data(), k.data(), v.data(), a.data(), b.data(), kC, s.data(),
           y.data(), kC, h, h + 1);
    });
    benchmark::DoNotOptimize(y.data());
  }
  bench::PerTokenCounters(state, T, kLayers);
}

BENCHMARK(BM_Wkv7)
    ->ArgNames({"T", "threads"})
    ->Args({1, 1})
    ->Args({512, 1})
    ->Args({512, 2})
    ->UseRealTime();

}  // namespace
}  // namespace rs::kernels
