// recurrent bench --serving --model PATH [--threads N] [--json]
//   [--scenario targets|workload]           (default: targets)
//   targets:    [--runs 3] [--streams 32] [--long-prompt 2000] [--long-rate 0.2]
//   scheduler:  [--max-seqs 64] [--max-step-tokens 96]
//   workload:   [--rate R] [--concurrency C] [--requests N]
//               [--prompt-len A[-B]] [--gen A[-B]] [--seed S]
//
// Drives the scheduler (scheduler/) with simulated clients and reports
// throughput, time to first token, inter-token latency and queue time
// (p50/p99). Arrivals are Poisson at --rate requests/s, or (--rate 0) a
// closed loop of --concurrency clients that each send the next request when
// the previous one ends. Lengths are uniform in [A, B] (A alone: fixed).
//
// `--scenario targets` runs the scheduler issue's three measurements in one
// process (same model, same machine, side by side):
//   1. one stream vs 32 concurrent streams (16-token prompts, 256-token
//      replies), alternated --runs times: the aggregate / single-stream
//      throughput ratio (median of the pairs);
//   2. 32 decoding streams while 2,000-token prompts keep arriving: inter-token
//      latency p99 / p50;
//   3. a 2,000-token conversation turn, then its next turn continued from the
//      kept state: time to first token, warm / cold.
#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "cli/commands.h"
#include "cli/common.h"
#include "engine/util/json.h"
#include "scheduler/scheduler.h"

namespace rs::cli {
namespace {

using scheduler::Clock;

double Seconds(Clock::time_point a, Clock::time_point b) { return std::chrono::duration<double>(b - a).count(); }


// Collects the scheduler's latency observations (engine thread) for one run.
class Collector : public scheduler::Metrics {
 public:
  void SetGauges(const scheduler::Gauges& g) override { max_running = std::max(max_running, g.running); }
  void ObserveStep(double s, int64_t n, int64_t b) override {
    step_seconds.push_back(s);
    step_tokens += n;
    ++steps;
    (void)b;
  }
  void ObserveQueueTime(double s) override { queue.push_back(s); }
  void ObserveTimeToFirstToken(double s) override { ttft.push_back(s); }
  void ObserveInterTokenLatency(double s) override { itl.push_back(s); }
  void ObserveEndToEnd(double s, engine::FinishReason) override { e2e.push_back(s); }
  void AddPromptTokens(int64_t) override {}
  void AddCachedTokens(int64_t) override {}
  void AddGenerationTokens(int64_t n) override { generated += n; }
  void CountCacheQuery(bool) override {}
  void CountSwap(bool) override {}
  void AddRejected(int64_t n) override { rejected += n; }

  std::vector<double> queue, ttft, itl, e2e, step_seconds;
  int64_t generated = 0, step_tokens = 0, steps = 0, rejected = 0, max_running = 0;
};

// Counts finished requests so the driver can wait for them.
struct Finished {
  std::mutex mu;
  std::condition_variable cv;
  int64_t n = 0;
  std::vector<scheduler::Result> results;
};

class CountingSink : public scheduler::Sink {
 public:
  explicit CountingSink(Finished* f) : f_(f) {}
  void OnChunk(const scheduler::TokenChunk&) override {}
  void OnFinish(const scheduler::Result& r) override {
    std::lock_guard<std::mutex> l(f_->mu);
    ++f_->n;
    f_->results.push_back(r);
    f_->cv.notify_all();
  }

 private:
  Finished* f_;
};

struct Workload {
  double rate = 0;      // requests/s (Poisson); 0: closed loop
  int concurrency = 1;  // closed loop clients
  int64_t requests = 32;
  Range prompt{16, 16}, gen{64, 64};
  uint64_t seed = 1;
};

struct RunReport {
  double seconds = 0;
  int64_t requests = 0, generated = 0;
  double tok_s = 0;
  double ttft_p50 = 0, ttft_p99 = 0, itl_p50 = 0, itl_p99 = 0, queue_p50 = 0, queue_p99 = 0;
  double step_p50 = 0;
  int64_t max_running = 0;

  json::Value Json() const {
    json::Value o = json::Value::MakeObject();
    o.Set("seconds", json::Value::Number(seconds));
    o.Set("requests", json::Value::Int(requests));
    o.Set("generated_tokens", json::Value::Int(generated));
    o.Set("throughput_tok_s", json::Value::Number(tok_s));
    o.Set("ttft_p50_s", json::Value::Number(ttft_p50));
    o.Set("ttft_p99_s", json::Value::Number(ttft_p99));
    o.Set("itl_p50_s", json::Value::Number(itl_p50));
    o.Set("itl_p99_s", json::Value::Number(itl_p99));
    o.Set("queue_p50_s", json::Value::Number(queue_p50));
    o.Set("queue_p99_s", json::Value::Number(queue_p99));
    o.Set("max_running", json::Value::Int(max_running));
    return o;
  }
  void Print(const char* name) const {
    std::printf("%-26s %7.1f tok/s  %4lld req %6.2f s | TTFT p50 %7.1f p99 %7.1f ms | ITL p50 %6.1f p99 %6.1f ms"
                " | queue p50 %6.1f p99 %6.1f ms | max running %lld\n",
                name, tok_s, static_cast<long long>(requests), seconds, ttft_p50 * 1e3, ttft_p99 * 1e3,
                itl_p50 * 1e3, itl_p99 * 1e3, queue_p50 * 1e3, queue_p99 * 1e3,
                static_cast<long long>(max_running));
  }
};

std::vector<int32_t> RandomTokens(std::mt19937_64& rng, int64_t n, int64_t vocab) {
  std::vector<int32_t> t(static_cast<size_t>(n));
  for (auto& x : t) x = static_cast<int32_t>(rng() % static_cast<uint64_t>(vocab));
  return t;
}

scheduler::Request MakeRequest(std::mt19937_64& rng, const Workload& w, int64_t vocab) {
  scheduler::Request r;
  r.prompt = RandomTokens(rng, w.prompt.Draw(rng), vocab);
  r.params.temperature = 0;  // greedy: lengths stay what the workload says
  r.params.max_tokens = static_cast<int32_t>(w.gen.Draw(rng));
  r.use_prefix_cache = false;
  return r;
}

// Runs `w` (plus, if `background` is set, that workload beside it whose
// latencies are measured together) on a fresh scheduler.
StatusOr<RunReport> RunWorkload(engine::Model& model, const scheduler::Options& opts, const Workload& w,
                                const Workload* background = nullptr) {
  auto collector = std::make_shared<Collector>();
  RS_ASSIGN_OR_RETURN(auto sched, scheduler::Scheduler::Create(&model, nullptr, opts, collector));
  const int64_t V = model.spec().vocab_size;
  Finished fin;
  std::mt19937_64 rng(w.seed);
  int64_t submitted = 0;
  const Clock::time_point t0 = Clock::now();
  auto submit = [&](const scheduler::Request& r) -> Status {
    auto h = sched->Submit(r, std::make_shared<CountingSink>(&fin));
    if (!h.ok()) return h.status();
    ++submitted;
    return OkStatus();
  };
  // Background: Poisson arrivals on their own thread until the main load ends.
  std::atomic<bool> stop_background{false};
  std::thread bg;
  if (background != nullptr) {
    bg = std::thread([&, b = *background] {
      std::mt19937_64 brng(b.seed);
      std::exponential_distribution<double> gap(b.rate);
      Clock::time_point next = Clock::now();
      while (!stop_background.load()) {
        next += std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(gap(brng)));
        while (Clock::now() < next && !stop_background.load()) std::this_thread::sleep_for(std::chrono::milliseconds(2));
        if (stop_background.load()) break;
        (void)sched->Submit(MakeRequest(brng, b, V), std::make_shared<CountingSink>(&fin));
      }
    });
  }
  if (w.rate > 0) {
    std::exponential_distribution<double> gap(w.rate);
    Clock::time_point next = t0;
    for (int64_t i = 0; i < w.requests; ++i) {
      std::this_thread::sleep_until(next);
      RS_RETURN_IF_ERROR(submit(MakeRequest(rng, w, V)));
      next += std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(gap(rng)));
    }
  } else {
    for (int i = 0; i < w.concurrency && submitted < w.requests; ++i) RS_RETURN_IF_ERROR(submit(MakeRequest(rng, w, V)));
    while (submitted < w.requests) {
      std::unique_lock<std::mutex> l(fin.mu);
      fin.cv.wait(l, [&] { return fin.n > submitted - w.concurrency; });
      l.unlock();
      RS_RETURN_IF_ERROR(submit(MakeRequest(rng, w, V)));
    }
  }
  {
    std::unique_lock<std::mutex> l(fin.mu);
    fin.cv.wait(l, [&] { return fin.n >= submitted; });
  }
  const Clock::time_point t1 = Clock::now();
  stop_background = true;
  if (bg.joinable()) bg.join();
  sched->Stop();
  for (const auto& r : fin.results) {
    if (r.finish_reason == engine::FinishReason::kError) return r.error;
  }
  RunReport rep;
  rep.seconds = Seconds(t0, t1);
  rep.requests = submitted;
  rep.generated = collector->generated;
  rep.tok_s = static_cast<double>(collector->generated) / rep.seconds;
  rep.ttft_p50 = Percentile(collector->ttft, 0.5);
  rep.ttft_p99 = Percentile(collector->ttft, 0.99);
  rep.itl_p50 = Percentile(collector->itl, 0.5);
  rep.itl_p99 = Percentile(collector->itl, 0.99);
  rep.queue_p50 = Percentile(collector->queue, 0.5);
  rep.queue_p99 = Percentile(collector->queue, 0.99);
  rep.step_p50 = Percentile(collector->step_seconds, 0.5);
  rep.max_running = collector->max_running;
  return rep;
}

// Cold 2,000-token turn, then a short next turn from the kept state.
struct SessionReport {
  double cold_ttft = 0, warm_ttft = 0;
  int64_t warm_cached = 0;
};

StatusOr<SessionReport> RunSessionTurns(engine::Model& model, scheduler::Options opts, int64_t first_len,
                                        int runs) {
  opts.max_step_tokens = std::max<int64_t>(opts.max_step_tokens, first_len);  // nothing else runs
  RS_ASSIGN_OR_RETURN(auto sched, scheduler::Scheduler::Create(&model, nullptr, opts));
  const int64_t V = model.spec().vocab_size;
  std::mt19937_64 rng(7);
  std::vector<double> cold, warm;
  SessionReport rep;
  for (int run = 0; run < runs; ++run) {
    const std::string id = "bench-" + std::to_string(run);
    for (int turn = 0; turn < 2; ++turn) {
      Finished fin;
      scheduler::Request r;
      r.prompt = RandomTokens(rng, turn == 0 ? first_len : 16, V);
      r.params.temperature = 0;
      r.params.max_tokens = 8;
      r.session_id = id;
      r.use_prefix_cache = false;
      RS_RETURN_IF_ERROR(sched->Submit(r, std::make_shared<CountingSink>(&fin)).status());
      std::unique_lock<std::mutex> l(fin.mu);
      fin.cv.wait(l, [&] { return fin.n == 1; });
      const scheduler::Result& res = fin.results[0];
      if (res.finish_reason == engine::FinishReason::kError) return res.error;
      (turn == 0 ? cold : warm).push_back(res.ttft_seconds);
      if (turn == 1) rep.warm_cached = res.cached_tokens;
    }
  }
  rep.cold_ttft = Percentile(cold, 0.5);
  rep.warm_ttft = Percentile(warm, 0.5);
  return rep;
}

}  // namespace

int RunBenchServing(int argc, char** argv) {
  Flags flags({"model", "threads", "device", "scenario", "max-seqs", "max-step-tokens", "rate", "concurrency",
               "requests", "prompt-len", "gen", "seed", "streams", "long-prompt", "long-rate", "runs"},
              {"serving", "json"});
  if (Status s = flags.Parse(argc, argv, 2); !s.ok()) return Fail("bench", s);
  if (!flags.Has("model")) return Fail("bench", InvalidArgumentError("--model PATH is required"));
  auto max_seqs = flags.GetInt("max-seqs", 64);
  auto step_tokens = flags.GetInt("max-step-tokens", 96);
  auto streams = flags.GetInt("streams", 32);
  auto long_prompt = flags.GetInt("long-prompt", 2000);
  auto long_rate = flags.GetDouble("long-rate", 0.2);
  auto runs = flags.GetInt("runs", 3);
  for (const auto* st : {&max_seqs, &step_tokens, &streams, &long_prompt, &runs}) {
    if (!st->ok()) return Fail("bench", st->status());
  }
  if (!long_rate.ok()) return Fail("bench", long_rate.status());
  if (*runs < 1 || *streams < 1 || *long_prompt < 1 || *long_rate <= 0) {
    return Fail("bench", InvalidArgumentError("--runs, --streams, --long-prompt and --long-rate must be positive"));
  }
  const std::string path = flags.Get("model");
  auto loaded = LoadModelFromFlags(flags, path);
  if (!loaded.ok()) return Fail("bench", loaded.status());
  engine::Model& model = **loaded;
  scheduler::Options opts;
  opts.max_seqs = static_cast<int>(*max_seqs);
  opts.max_queue = 100000;
  opts.max_step_tokens = *step_tokens;
  const bool as_json = flags.Has("json");
  json::Value out = json::Value::MakeObject();
  out.Set("model", json::Value::String(path));
  out.Set("arch", json::Value::String(engine::ArchName(model.spec().arch)));
  out.Set("weight_dtype", json::Value::String(model.spec().weight_dtype));
  out.Set("max_seqs", json::Value::Int(*max_seqs));
  out.Set("max_step_tokens", json::Value::Int(*step_tokens));
  if (!as_json) {
    std::printf("model %s (%s, %s weights); scheduler: %lld slots (%.1f MiB of states), %lld tokens per step\n",
                path.c_str(), engine::ArchName(model.spec().arch), model.spec().weight_dtype.c_str(),
                static_cast<long long>(*max_seqs),
                static_cast<double>(model.spec().state.bytes_per_sequence()) * static_cast<double>(*max_seqs) / 1048576.0,
                static_cast<long long>(*step_tokens));
  }

  const std::string scenario = flags.Get("scenario", "targets");
  if (scenario == "workload") {
    Workload w;
    auto rate = flags.GetDouble("rate", 0);
    auto conc = flags.GetInt("concurrency", 8);
    auto reqs = flags.GetInt("requests", 64);
    auto seed = flags.GetInt("seed", 1);
    auto prompt = ParseRange(flags.Get("prompt-len", "64"), "--prompt-len", 1 << 24);
    auto gen = ParseRange(flags.Get("gen", "64"), "--gen", 1 << 24);
    if (!rate.ok()) return Fail("bench", rate.status());
    for (const auto* st : {&conc, &reqs, &seed}) {
      if (!st->ok()) return Fail("bench", st->status());
    }
    if (!prompt.ok()) return Fail("bench", prompt.status());
    if (!gen.ok()) return Fail("bench", gen.status());
    if (*rate < 0 || *conc < 1 || *reqs < 1) {
      return Fail("bench", InvalidArgumentError("--rate must be >= 0, --concurrency and --requests >= 1"));
    }
    w.rate = *rate;
    w.concurrency = static_cast<int>(*conc);
    w.requests = *reqs;
    w.prompt = *prompt;
    w.gen = *gen;
    w.seed = static_cast<uint64_t>(*seed);
    auto rep = RunWorkload(model, opts, w);
    if (!rep.ok()) return Fail("bench", rep.status());
    if (as_json) {
      out.Set("workload", rep->Json());
      std::printf("%s\n", out.Dump().c_str());
    } else {
      rep->Print("workload");
    }
    return 0;
  }
  if (scenario != "targets") return Fail("bench", InvalidArgumentError("--scenario must be targets or workload"));

  // 1. Single stream vs --streams concurrent streams (one wave each: 16-token
  // prompts, 256-token replies), alternated --runs times; medians.
  Workload single;
  single.concurrency = 1;
  single.requests = 1;
  single.prompt = {16, 16};
  single.gen = {256, 256};
  Workload many = single;
  many.concurrency = static_cast<int>(*streams);
  many.requests = *streams;
  std::vector<RunReport> singles, manys;
  std::vector<double> pair_ratios;
  for (int64_t run = 0; run < *runs; ++run) {
    single.seed = many.seed = static_cast<uint64_t>(run + 1);
    auto a = RunWorkload(model, opts, single);
    if (!a.ok()) return Fail("bench", a.status());
    auto b = RunWorkload(model, opts, many);
    if (!b.ok()) return Fail("bench", b.status());
    singles.push_back(*a);
    manys.push_back(*b);
    pair_ratios.push_back(b->tok_s / a->tok_s);
  }
  auto median_run = [](std::vector<RunReport> v) {
    std::sort(v.begin(), v.end(), [](const RunReport& x, const RunReport& y) { return x.tok_s < y.tok_s; });
    return v[v.size() / 2];
  };
  auto r1 = StatusOr<RunReport>(median_run(singles));
  auto r32 = StatusOr<RunReport>(median_run(manys));
  // 2. --streams decoding streams while long prompts arrive (Poisson).
  Workload decoders = single;
  decoders.concurrency = static_cast<int>(*streams);
  decoders.requests = 2 * *streams;
  decoders.gen = {128, 128};
  Workload longs;
  longs.rate = *long_rate;
  longs.prompt = {*long_prompt, *long_prompt};
  longs.gen = {8, 8};
  longs.seed = 99;
  auto mixed = RunWorkload(model, opts, decoders, &longs);
  if (!mixed.ok()) return Fail("bench", mixed.status());
  // 3. Conversation turns.
  auto turns = RunSessionTurns(model, opts, *long_prompt, 3);
  if (!turns.ok()) return Fail("bench", turns.status());

  const double ratio_tput = Percentile(pair_ratios, 0.5);
  const double ratio_itl = mixed->itl_p99 / mixed->itl_p50;
  const double ratio_ttft = turns->warm_ttft / turns->cold_ttft;
  if (as_json) {
    out.Set("single_stream", r1->Json());
    out.Set("concurrent_streams", r32->Json());
    out.Set("streams_with_long_prompts", mixed->Json());
    json::Value t = json::Value::MakeObject();
    t.Set("cold_ttft_s", json::Value::Number(turns->cold_ttft));
    t.Set("warm_ttft_s", json::Value::Number(turns->warm_ttft));
    t.Set("warm_cached_tokens", json::Value::Int(turns->warm_cached));
    out.Set("session_turns", std::move(t));
    out.Set("throughput_ratio", json::Value::Number(ratio_tput));
    out.Set("itl_p99_over_p50", json::Value::Number(ratio_itl));
    out.Set("warm_over_cold_ttft", json::Value::Number(ratio_ttft));
    std::printf("%s\n", out.Dump().c_str());
    return 0;
  }
  r1->Print("single stream");
  r32->Print((std::to_string(*streams) + " streams").c_str());
  mixed->Print((std::to_string(*streams) + " streams + long prompts").c_str());
  std::printf("session turns              cold TTFT (%lld-token turn) %.1f ms, next turn from the kept state %.1f ms"
              " (%lld tokens cached)\n",
              static_cast<long long>(*long_prompt), turns->cold_ttft * 1e3, turns->warm_ttft * 1e3,
              static_cast<long long>(turns->warm_cached));
  std::printf("(1) is the median of %lld alternated runs; its ratio is the median of the per-pair ratios\n",
              static_cast<long long>(*runs));
  std::printf("targets: throughput %lld streams / single %.2fx (>= 8); ITL p99/p50 with long prompts %.2f (<= 3);"
              " warm/cold TTFT 1/%.0f (<= 1/20)\n",
              static_cast<long long>(*streams), ratio_tput, ratio_itl, 1.0 / ratio_ttft);
  return 0;
}

}  // namespace rs::cli
