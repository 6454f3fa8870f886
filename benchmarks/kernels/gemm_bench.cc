// GEMV/GEMM throughput at the Mamba-130m shapes. Counters:
//   weight_GBps: bytes of W read per second (the decode ceiling is DRAM
//                bandwidth, ~26 GB/s on the dev machine);
//   GFLOPs:      2*M*N*K per second (Zen 4: ~1 zmm FMA/cycle/core = 32
//                flop/cycle/core).
// Args: M, N, K, weight type (0 F32, 1 F16, 2 BF16), threads.
#include <benchmark/benchmark.h>

#include <cstring>
#include <memory>
#include <random>
#include <vector>

#include "kernels/cpu/gemm.h"
#include "kernels/cpu/thread_pool.h"

namespace rs::kernels {
namespace {

void BM_Gemm(benchmark::State& state) {
  const int64_t M = state.range(0), N = state.range(1), K = state.range(2);
  const auto type = static_cast<WeightType>(state.range(3));
  const int threads = static_cast<int>(state.range(4));
  const size_t esize = type == WeightType::kF32 ? 4 : 2;
  std::vector<unsigned char> wbytes(N * K * esize);
  std::mt19937 rng(1);
  for (size_t i = 0; i < wbytes.size(); i += 2) {
    // Small finite values for every type (high byte of a half/bf16 < 0x3c).
    wbytes[i] = static_cast<unsigned char>(rng());
    wbytes[i + 1] = static_cast<unsigned char>(0x30 + rng() % 8);
  }
  const WeightMatrix w{type, wbytes.data(), N, K};
  std::vector<float> x(M * K, 0.5f), y(M * N);
  ThreadPool pool(threads);
  for (auto _ : state) {
    Gemm(x.data(), M, K, w, nullptr, y.data(), N, &pool);
    benchmark::DoNotOptimize(y.data());
  }
  const double iters = static_cast<double>(state.iterations());
  state.counters["weight_GBps"] =
      benchmark::Counter(iters * N * K * esize / 1e9, benchmark::Counter::kIsRate);
  state.counters["GFLOPs"] =
      benchmark::Counter(iters * 2.0 * M * N * K / 1e9, benchmark::Counter::kIsRate);
}

void GemmArgs(benchmark::internal::Benchmark* b) {
  b->ArgNames({"M", "N", "K", "type", "threads"});
  for (int threads : {1, 2}) {
    for (int type : {0, 1, 2}) {
      b->Args({1, 3072, 768, type, threads});    // in_proj GEMV
      b->Args({1, 50280, 768, type, threads});   // lm_head GEMV
      b->Args({1, 65536, 768, type, threads});   // RWKV head GEMV (DRAM-resident)
      b->Args({3, 65536, 768, type, threads});   // the same, 3 rows
      b->Args({16, 3072, 768, type, threads});   // aggregate decode B=16
      b->Args({64, 3072, 768, type, threads});   // aggregate decode B=64
      b->Args({512, 3072, 768, type, threads});  // prefill
    }
  }
}

BENCHMARK(BM_Gemm)->Apply(GemmArgs)->UseRealTime()->MinTime(0.3);

}  // namespace
}  // namespace rs::kernels
