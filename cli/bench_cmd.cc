// recurrent bench --model PATH --threads N [--prompt-len 512] [--gen 128]
//                 [--batch 1,4,16,64] [--runs 3] [--json]
//
// Measures, on the engine directly (no sampling beyond argmax):
//   prefill tok/s     one sequence, --prompt-len tokens in one step
//   decode tok/s      one sequence, --gen single-token steps after the prompt
//   batched tok/s     B sequences decoding together, B * gen / time
// each the median of --runs runs; peak RSS after the single-stream phases
// and after the batched ones (the bandwidth probe comes last);
// state bytes per sequence; and the arithmetic: weight bytes read per decode
// step and FLOPs per token against the machine's measured read bandwidth.
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <thread>
#include <vector>

#include "cli/commands.h"
#include "cli/common.h"
#include "engine/util/json.h"
#include "kernels/cpu/gemm.h"
#if RS_HAVE_CUDA
#include "kernels/cuda/cuda_probe.h"
#endif

namespace rs::cli {
namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

int32_t Argmax(const float* row, int64_t n) {
  return static_cast<int32_t>(std::max_element(row, row + n) - row);
}

// Deterministic pseudo-random prompt tokens.
std::vector<int32_t> PromptTokens(size_t n, int64_t vocab, uint64_t salt) {
  std::vector<int32_t> t(n);
  uint64_t x = 0x243F6A8885A308D3ull ^ salt;
  for (auto& v : t) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    v = static_cast<int32_t>(x % static_cast<uint64_t>(vocab));
  }
  return t;
}

size_t PeakRssBytes() {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<size_t>(ru.ru_maxrss) * 1024;
}

// Read bandwidth of `threads` threads streaming over 512 MiB (>> L3).
double MeasureReadBandwidth(int threads) {
  const size_t n = (512ull << 20) / sizeof(uint64_t);
  std::vector<uint64_t> buf(n, 1);
  std::vector<double> runs;
  for (int r = 0; r < 3; ++r) {
    std::atomic<uint64_t> sink{0};
    auto t0 = Clock::now();
    std::vector<std::thread> ts;
    for (int t = 0; t < threads; ++t) {
      ts.emplace_back([&, t] {
        const size_t b = n * t / threads, e = n * (t + 1) / threads;
        uint64_t acc[8] = {0};
        for (size_t i = b; i + 8 <= e; i += 8) {
          for (int j = 0; j < 8; ++j) acc[j] ^= buf[i + j];
        }
        uint64_t x = 0;
        for (uint64_t a : acc) x ^= a;
        sink += x;
      });
    }
    for (auto& th : ts) th.join();
    runs.push_back(static_cast<double>(n * sizeof(uint64_t)) / Seconds(t0, Clock::now()));
  }
  return Median(runs);
}

}  // namespace

int RunBench(int argc, char** argv) {
  for (int i = 2; i < argc; ++i) {
    if (std::strcmp(argv[i], "--serving") == 0) return RunBenchServing(argc, argv);
#ifdef RS_HAVE_SERVICE
    if (std::strcmp(argv[i], "--sessions") == 0) return RunBenchSessions(argc, argv);
#endif
  }
  Flags flags({"model", "threads", "prompt-len", "gen", "batch", "runs", "device", "mamba2-ssd-min-tokens"}, {"json"});
  if (Status s = flags.Parse(argc, argv, 2); !s.ok()) return Fail("bench", s);
  if (!flags.Has("model")) return Fail("bench", InvalidArgumentError("--model PATH is required"));
  auto prompt_len = flags.GetInt("prompt-len", 512);
  auto gen = flags.GetInt("gen", 128);
  auto runs = flags.GetInt("runs", 3);
  auto threads = flags.GetInt("threads", 0);
  auto batches = ParseIntList(flags.Get("batch", "1,4,16,64"));
  for (const auto* st : {&prompt_len, &gen, &runs, &threads}) {
    if (!st->ok()) return Fail("bench", st->status());
  }
  if (!batches.ok()) return Fail("bench", batches.status());
  if (*prompt_len < 1 || *gen < 1 || *runs < 1) {
    return Fail("bench", InvalidArgumentError("--prompt-len, --gen and --runs must be positive"));
  }
  const std::string path = flags.Get("model");
  auto loaded = LoadModelFromFlags(flags, path);
  if (!loaded.ok()) return Fail("bench", loaded.status());
  engine::Model& model = **loaded;
  const engine::ModelSpec& spec = model.spec();
  const int64_t V = spec.vocab_size;
  const int n_threads = *threads > 0 ? static_cast<int>(*threads)
                                     : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  int max_batch = 1;
  for (int32_t b : *batches) {
    if (b < 1 || b > 4096) return Fail("bench", InvalidArgumentError("batch sizes must be in [1, 4096]"));
    max_batch = std::max(max_batch, b);
  }
  // One slot for the single-stream phases; the batched phases get their own
  // pool afterwards, so the single-stream peak RSS is measured on its own.
  auto pool = model.NewStatePool(1);
  std::vector<int> slots = {pool->Acquire().value()};

  // Prefill and single-stream decode.
  std::vector<double> prefill_runs, decode_runs;
  const std::vector<int32_t> prompt = PromptTokens(static_cast<size_t>(*prompt_len), V, 1);
  engine::Logits logits;
  for (int64_t r = 0; r < *runs; ++r) {
    pool->Reset(slots[0]);
    engine::Batch b;
    b.seqs.push_back({slots[0], prompt, false});
    auto t0 = Clock::now();
    if (Status s = model.Forward(b, *pool, &logits); !s.ok()) return Fail("bench", s);
    prefill_runs.push_back(static_cast<double>(prompt.size()) / Seconds(t0, Clock::now()));
    int32_t tok = Argmax(logits.Row(0), V);
    t0 = Clock::now();
    for (int64_t g = 0; g < *gen; ++g) {
      engine::Batch step;
      step.seqs.push_back({slots[0], std::span<const int32_t>(&tok, 1), false});
      if (Status s = model.Forward(step, *pool, &logits); !s.ok()) return Fail("bench", s);
      tok = Argmax(logits.Row(0), V);
    }
    decode_runs.push_back(static_cast<double>(*gen) / Seconds(t0, Clock::now()));
  }

  const size_t peak_rss = PeakRssBytes();

  // Aggregate decode at each batch size (each sequence primed with 8 tokens).
  pool = model.NewStatePool(max_batch);
  slots.clear();
  for (int i = 0; i < max_batch; ++i) slots.push_back(pool->Acquire().value());
  std::vector<std::pair<int, double>> batched;
  for (int32_t B : *batches) {
    std::vector<double> tps;
    for (int64_t r = 0; r < *runs; ++r) {
      std::vector<std::vector<int32_t>> primes;
      engine::Batch b;
      for (int i = 0; i < B; ++i) {
        pool->Reset(slots[static_cast<size_t>(i)]);
        primes.push_back(PromptTokens(8, V, 100 + static_cast<uint64_t>(i)));
      }
      for (int i = 0; i < B; ++i) b.seqs.push_back({slots[static_cast<size_t>(i)], primes[static_cast<size_t>(i)], false});
      if (Status s = model.Forward(b, *pool, &logits); !s.ok()) return Fail("bench", s);
      std::vector<int32_t> next(static_cast<size_t>(B));
      for (int i = 0; i < B; ++i) next[static_cast<size_t>(i)] = Argmax(logits.Row(i), V);
      auto t0 = Clock::now();
      for (int64_t g = 0; g < *gen; ++g) {
        engine::Batch step;
        for (int i = 0; i < B; ++i) {
          step.seqs.push_back({slots[static_cast<size_t>(i)], std::span<const int32_t>(&next[static_cast<size_t>(i)], 1), false});
        }
        if (Status s = model.Forward(step, *pool, &logits); !s.ok()) return Fail("bench", s);
        for (int i = 0; i < B; ++i) next[static_cast<size_t>(i)] = Argmax(logits.Row(i), V);
      }
      tps.push_back(static_cast<double>(B) * static_cast<double>(*gen) / Seconds(t0, Clock::now()));
    }
    batched.push_back({B, Median(tps)});
  }

  const size_t peak_rss_batched = PeakRssBytes();
  // The roofline's bandwidth: the GPU's copy rate (read + write) for a CUDA
  // model, else the host's read rate.
#if RS_HAVE_CUDA
  const double bandwidth =
      spec.device == "cuda" ? kernels::cuda::DeviceCopyBandwidth() : MeasureReadBandwidth(n_threads);
#else
  const double bandwidth = MeasureReadBandwidth(n_threads);
#endif
  const double prefill = Median(prefill_runs), decode = Median(decode_runs);
  const double flops_per_token = 2.0 * static_cast<double>(spec.matmul_params_per_token);
  const double roofline = bandwidth / static_cast<double>(spec.decode_bytes_per_step);

  if (flags.Has("json")) {
    json::Value out = json::Value::MakeObject();
    out.Set("model", json::Value::String(path));
    out.Set("arch", json::Value::String(engine::ArchName(spec.arch)));
    out.Set("weight_dtype", json::Value::String(spec.weight_dtype));
    out.Set("device", json::Value::String(spec.device));
    out.Set("threads", json::Value::Int(n_threads));
    out.Set("cpu_level", json::Value::String(kernels::CpuLevelName()));
    out.Set("gemm_weight_stream", json::Value::String(kernels::GemmWeightStreamName()));
    out.Set("prompt_len", json::Value::Int(*prompt_len));
    out.Set("gen", json::Value::Int(*gen));
    out.Set("runs", json::Value::Int(*runs));
    out.Set("prefill_tok_s", json::Value::Number(prefill));
    out.Set("decode_tok_s", json::Value::Number(decode));
    json::Value arr = json::Value::MakeArray();
    for (auto [B, t] : batched) {
      json::Value e = json::Value::MakeObject();
      e.Set("batch", json::Value::Int(B));
      e.Set("tok_s", json::Value::Number(t));
      arr.Push(std::move(e));
    }
    out.Set("batched", std::move(arr));
    out.Set("peak_rss_bytes", json::Value::Int(static_cast<int64_t>(peak_rss)));
    out.Set("peak_rss_batched_bytes", json::Value::Int(static_cast<int64_t>(peak_rss_batched)));
    out.Set("weight_bytes", json::Value::Int(static_cast<int64_t>(spec.weight_bytes)));
    out.Set("state_bytes", json::Value::Int(static_cast<int64_t>(spec.state.bytes_per_sequence())));
    out.Set("decode_bytes_per_step", json::Value::Int(static_cast<int64_t>(spec.decode_bytes_per_step)));
    out.Set("flops_per_token", json::Value::Number(flops_per_token));
    out.Set("read_bandwidth_bytes_s", json::Value::Number(bandwidth));
    out.Set("decode_roofline_tok_s", json::Value::Number(roofline));
    std::printf("%s\n", out.Dump().c_str());
    return 0;
  }
  std::printf("model            %s (%s, %s weights, %s)\n", path.c_str(), engine::ArchName(spec.arch),
              spec.weight_dtype.c_str(), spec.details.c_str());
  std::printf("device           %s\n", spec.device.c_str());
  std::printf("threads          %d (%s kernels, weight stream: %s), median of %lld runs\n",
              n_threads, kernels::CpuLevelName(), kernels::GemmWeightStreamName(),
              static_cast<long long>(*runs));
  std::printf("prefill          %8.1f tok/s  (%lld tokens, %.1f GFLOP/s)\n", prefill,
              static_cast<long long>(*prompt_len), prefill * flops_per_token / 1e9);
  std::printf("decode           %8.1f tok/s  (%.2f GB/s of weights; roofline %.1f tok/s at %.1f GB/s read)\n",
              decode, decode * static_cast<double>(spec.decode_bytes_per_step) / 1e9, roofline, bandwidth / 1e9);
  for (auto [B, t] : batched) {
    std::printf("decode batch %-4d %8.1f tok/s  (%.1f GFLOP/s)\n", B, t, t * flops_per_token / 1e9);
  }
  std::printf("weights          %.1f MiB in memory; %.1f MiB read per decode step; %.1f MFLOP per token\n",
              static_cast<double>(spec.weight_bytes) / 1048576.0,
              static_cast<double>(spec.decode_bytes_per_step) / 1048576.0, flops_per_token / 1e6);
  std::printf("peak RSS         %.1f MiB single stream (%.1f%% of weights); %.1f MiB with %d states\n",
              static_cast<double>(peak_rss) / 1048576.0,
              100.0 * static_cast<double>(peak_rss) / static_cast<double>(spec.weight_bytes),
              static_cast<double>(peak_rss_batched) / 1048576.0, max_batch);
  std::printf("state            %zu bytes per sequence\n", spec.state.bytes_per_sequence());
  return 0;
}

}  // namespace rs::cli
