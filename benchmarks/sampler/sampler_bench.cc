// Micro-benchmarks of Sampler::Sample on one thread, vocab 50280 (GPT-NeoX /
// Mamba): greedy, temperature only, top_k=40, top_p=0.9, min_p=0.05, and with
// penalties over a 1024-token history. The Time column is microseconds per
// sample; items_per_second counts vocabulary entries scanned.
//
// Logits are synthetic: i.i.d. Gaussian with standard deviation `sigma` (the
// second argument, tenths). sigma=3 gives a flat distribution (top_p=0.9 keeps
// ~2600 tokens: a hard case for top-p), sigma=5 a more peaked one (~130 kept),
// closer to a trained LM's typical step.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <random>
#include <vector>

#include "engine/sampler/sampler.h"

namespace rs::engine {
namespace {

constexpr int kVocab = 50280;

std::vector<float> MakeLogits(double sigma) {
  std::mt19937_64 rng(42);
  std::normal_distribution<float> normal(0.0f, static_cast<float>(sigma));
  std::vector<float> logits(kVocab);
  for (float& v : logits) v = normal(rng);
  return logits;
}

void Run(benchmark::State& state, SamplingParams params, bool with_history) {
  const std::vector<float> logits = MakeLogits(state.range(0) / 10.0);
  TokenHistory history;
  if (with_history) {
    std::mt19937 rng(7);
    for (int i = 0; i < 1024; ++i) history.Add(static_cast<int32_t>(rng() % kVocab), i < 512);
  }
  SamplerScratch scratch;
  uint64_t position = 0;
  int64_t checksum = 0;
  for (auto _ : state) {
    SampleResult r = Sampler::Sample(logits, params, history, position++, &scratch);
    checksum += r.token;
    benchmark::DoNotOptimize(checksum);
  }
  // Vocabulary entries scanned per second (each sample reads the whole row).
  state.SetItemsProcessed(state.iterations() * kVocab);
}

void BM_Greedy(benchmark::State& state) {
  SamplingParams p;
  p.temperature = 0.0f;
  Run(state, p, false);
}
void BM_Temperature(benchmark::State& state) {
  SamplingParams p;
  p.temperature = 0.8f;
  Run(state, p, false);
}
void BM_TopK40(benchmark::State& state) {
  SamplingParams p;
  p.temperature = 0.8f;
  p.top_k = 40;
  Run(state, p, false);
}
void BM_TopP09(benchmark::State& state) {
  SamplingParams p;
  p.top_p = 0.9f;
  Run(state, p, false);
}
void BM_MinP005(benchmark::State& state) {
  SamplingParams p;
  p.min_p = 0.05f;
  Run(state, p, false);
}
void BM_TopK2000(benchmark::State& state) {  // above the heap limit: the binned path
  SamplingParams p;
  p.top_k = 2000;
  Run(state, p, false);
}
void BM_AllOptionsWithPenalties(benchmark::State& state) {
  SamplingParams p;
  p.temperature = 0.7f;
  p.top_k = 50;
  p.top_p = 0.95f;
  p.min_p = 0.02f;
  p.repetition_penalty = 1.1f;
  p.presence_penalty = 0.5f;
  p.frequency_penalty = 0.3f;
  p.logit_bias = {{11, -100.0f}, {12, 5.0f}};
  Run(state, p, true);
}

BENCHMARK(BM_Greedy)->Arg(5)->Arg(30)->Arg(50)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_Temperature)->Arg(5)->Arg(30)->Arg(50)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_TopK40)->Arg(30)->Arg(50)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_TopP09)->Arg(30)->Arg(50)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_MinP005)->Arg(30)->Arg(50)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_TopK2000)->Arg(30)->Arg(50)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_AllOptionsWithPenalties)->Arg(30)->Arg(50)->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace rs::engine
