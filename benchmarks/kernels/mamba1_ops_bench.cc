// Conv1d+SiLU and selective scan at the mamba-130m mixer shape (E = 1536,
// N = 16, K = 4), channels split across the pool as the model does.
// Counters: us_per_token (one layer) and model_ms_per_token (x 24 layers).
// Args: T (tokens per call), threads. (Google Benchmark prints inverted rates
// with an "s" suffix: read us_per_token in microseconds, model_ms_per_token in ms.)
#include <benchmark/benchmark.h>

#include <cmath>
#include <random>
#include <vector>

#include "kernels/cpu/mamba1_ops.h"
#include "kernels/cpu/rmsnorm.h"
#include "benchmarks/kernels/bench_util.h"
#include "kernels/cpu/thread_pool.h"

namespace rs::kernels {
namespace {

constexpr int64_t kE = 1536, kN = 16, kDtRank = 48, kLayers = 24;
constexpr int kK = 4;

using bench::Random;

void BM_ConvScan(benchmark::State& state) {
  const int64_t T = state.range(0);
  const int threads = static_cast<int>(state.range(1));
  const int64_t ldbc = kDtRank + 2 * kN;
  std::vector<float> x = Random(T * kE, -2, 2, 1), w = Random(kK * kE, -1, 1, 2),
                     bias = Random(kE, -1, 1, 3), conv_state(size_t{kK - 1} * kE, 0.0f), u(T * kE),
                     dt = Random(T * kE, -6, 1, 4), dt_bias = Random(kE, -1, 1, 5),
                     A = Random(kE * kN, 0, 3, 6), bc = Random(T * ldbc, -1, 1, 7),
                     D = Random(kE, 0.5f, 1.5f, 8), z = Random(T * kE, -3, 3, 9), h(kE * kN, 0.0f),
                     y(T * kE);
  for (float& a : A) a = -std::exp(a);
  ThreadPool pool(threads);
  for (auto _ : state) {
    pool.ParallelFor(threads, [&](int part) {
      long e0, e1;
      SplitRange(kE, threads, part, 16, &e0, &e1);
      CausalConv1dSilu(x.data(), T, kE, kE, kK, w.data(), bias.data(), conv_state.data(), u.data(),
                       kE, e0, e1);
      SelectiveScan(u.data(), kE, dt.data(), kE, dt_bias.data(), A.data(), bc.data() + kDtRank,
                    bc.data() + kDtRank + kN, ldbc, D.data(), z.data(), kE, T, kE, kN, h.data(),
                    y.data(), kE, e0, e1);
    });
    benchmark::DoNotOptimize(y.data());
  }
  bench::PerTokenCounters(state, T, kLayers);
}
BENCHMARK(BM_ConvScan)
    ->ArgNames({"T", "threads"})
    ->ArgsProduct({{1, 16, 256}, {1, 2}})
    ->UseRealTime()
    ->MinTime(0.3);

void BM_RmsNorm(benchmark::State& state) {
  const int64_t M = state.range(0), C = 768;
  std::vector<float> x = Random(M * C, -2, 2, 1), w = Random(C, 0.5f, 1.5f, 2), y(M * C);
  for (auto _ : state) {
    RmsNorm(x.data(), M, C, C, w.data(), 1e-5f, y.data(), C);
    benchmark::DoNotOptimize(y.data());
  }
  state.counters["GBps"] = benchmark::Counter(
      static_cast<double>(state.iterations()) * 2.0 * M * C * 4 / 1e9, benchmark::Counter::kIsRate);
}
BENCHMARK(BM_RmsNorm)->Arg(1)->Arg(64)->MinTime(0.2);

}  // namespace
}  // namespace rs::kernels
