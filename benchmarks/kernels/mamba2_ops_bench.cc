// The Mamba-2 SSM at the mamba2-130m mixer shape (H = 24 heads of P = 64,
// G = 1 group, N = 128), one sequence of T tokens, heads split across the
// pool as the model does: the recurrence (SsdScan) against the chunked SSD
// form (SsdChunked, chunk 32 and 256). Counters: us_per_token (one layer)
// and model_ms_per_token (x 24 layers). Args: T, threads, chunk (0: the
// recurrence). (Google Benchmark prints inverted rates with an "s" suffix:
// read us_per_token in microseconds, model_ms_per_token in ms.)
#include <benchmark/benchmark.h>

#include <cmath>
#include <vector>

#include "benchmarks/kernels/bench_util.h"
#include "kernels/cpu/mamba2_ops.h"
#include "kernels/cpu/thread_pool.h"

namespace rs::kernels {
namespace {

constexpr int64_t kH = 24, kP = 64, kG = 1, kN = 128, kLayers = 24;
constexpr int64_t kE = kH * kP, kCx = kE + 2 * kG * kN;

using bench::Random;

void BM_Ssd(benchmark::State& state) {
  const int64_t T = state.range(0);
  const int threads = static_cast<int>(state.range(1));
  const int64_t chunk = state.range(2);
  std::vector<float> xbc = Random(T * kCx, -1, 1, 1), dt = Random(T * kH, -3, 1, 2),
                     dt_bias = Random(kH, -4, -1, 3), A = Random(kH, 0, 2, 4), D = Random(kE, 0.5f, 1.5f, 5),
                     S(kH * kP * kN, 0.0f), y(T * kE);
  for (float& a : A) a = -std::exp(a);
  SsdParams q;
  q.H = kH;
  q.P = kP;
  q.G = kG;
  q.N = kN;
  q.dt_bias = dt_bias.data();
  q.A = A.data();
  q.D = D.data();
  q.dt_min = 0.0f;
  q.dt_max = INFINITY;
  SsdInputs in;
  in.T = T;
  in.x = xbc.data();
  in.ldx = kCx;
  in.B = xbc.data() + kE;
  in.C = xbc.data() + kE + kG * kN;
  in.ldbc = kCx;
  in.dt = dt.data();
  in.ldd = kH;
  ThreadPool pool(threads);
  for (auto _ : state) {
    pool.ParallelFor(threads, [&](int part) {
      const int64_t h0 = kH * part / threads, h1 = kH * (part + 1) / threads;
      if (chunk == 0) {
        SsdScan(q, in, S.data(), y.data(), kE, h0, h1);
      } else {
        SsdChunked(q, in, chunk, S.data(), y.data(), kE, h0, h1);
      }
    });
    benchmark::DoNotOptimize(y.data());
  }
  bench::PerTokenCounters(state, T, kLayers);
}
BENCHMARK(BM_Ssd)
    ->ArgNames({"T", "threads", "chunk"})
    ->ArgsProduct({{1, 16, 512}, {1, 2}, {0, 32, 64, 256}})
    ->UseRealTime()
    ->MinTime(0.3);

}  // namespace
}  // namespace rs::kernels
