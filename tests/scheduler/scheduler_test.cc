// Scheduler tests on small random-weight models: every completed request must
// give exactly the tokens of the same request run alone (a plain loop over
// Model::Forward and Sampler::Sample, no scheduler), whatever ran beside it,
// however it was chunked, swapped or restored from a kept state.
#include "scheduler/scheduler.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstring>
#include <map>
#include <mutex>
#include <random>
#include <thread>

#include "engine/models/random_model.h"
#include "engine/sampler/sampler.h"
#include "engine/tokenizer/tokenizer.h"
#include "tests/engine/model_test_util.h"
#include "tests/scheduler/run_alone.h"

namespace rs::scheduler {
namespace {

using engine::FinishReason;
using engine::testing::TempDir;
using engine::testing::Tokens;

// Records everything a request's sink receives.
class RecordingSink : public Sink {
 public:
  void OnChunk(const TokenChunk& c) override {
    std::lock_guard<std::mutex> l(mu_);
    EXPECT_FALSE(finished_) << "chunk after OnFinish";
    tokens_.insert(tokens_.end(), c.token_ids.begin(), c.token_ids.end());
    logprobs_.insert(logprobs_.end(), c.logprobs.begin(), c.logprobs.end());
    text_ += c.text;
    ++chunks_;
    cv_.notify_all();
  }
  void OnFinish(const Result& r) override {
    std::lock_guard<std::mutex> l(mu_);
    EXPECT_FALSE(finished_) << "OnFinish twice";
    finished_ = true;
    result_ = r;
    cv_.notify_all();
  }
  // Waits until at least n chunks arrived or the request finished.
  void WaitChunks(int n) {
    std::unique_lock<std::mutex> l(mu_);
    cv_.wait(l, [&] { return chunks_ >= n || finished_; });
  }
  Result Wait() {
    std::unique_lock<std::mutex> l(mu_);
    cv_.wait(l, [&] { return finished_; });
    return result_;
  }
  std::vector<int32_t> tokens() {
    std::lock_guard<std::mutex> l(mu_);
    return tokens_;
  }
  std::vector<float> logprobs() {
    std::lock_guard<std::mutex> l(mu_);
    return logprobs_;
  }
  std::string text() {
    std::lock_guard<std::mutex> l(mu_);
    return text_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<int32_t> tokens_;
  std::vector<float> logprobs_;
  std::string text_;
  int chunks_ = 0;
  bool finished_ = false;
  Result result_;
};

// A Metrics double that keeps counts and extremes.
class RecordingMetrics : public Metrics {
 public:
  void SetGauges(const Gauges& g) override {
    std::lock_guard<std::mutex> l(mu);
    last = g;
    max_running = std::max(max_running, g.running);
    max_slots_used = std::max(max_slots_used, g.slots_used);
  }
  void ObserveStep(double, int64_t n_tokens, int64_t batch) override {
    std::lock_guard<std::mutex> l(mu);
    ++steps;
    step_tokens.push_back(n_tokens);
    step_batches.push_back(batch);
  }
  void ObserveQueueTime(double) override { ++queue_times; }
  void ObserveTimeToFirstToken(double) override { ++ttfts; }
  void ObserveInterTokenLatency(double) override { ++itls; }
  void ObserveEndToEnd(double, FinishReason) override { ++e2es; }
  void AddPromptTokens(int64_t n) override { prompt_tokens += n; }
  void AddCachedTokens(int64_t n) override { cached_tokens += n; }
  void AddGenerationTokens(int64_t n) override { generated += n; }
  void CountCacheQuery(bool hit) override { (hit ? cache_hits : cache_misses)++; }
  void CountSwap(bool out) override { (out ? swaps_out : swaps_in)++; }
  void AddRejected(int64_t n) override { rejected += n; }

  std::mutex mu;
  Gauges last;
  int64_t max_running = 0, max_slots_used = 0, steps = 0;
  std::vector<int64_t> step_tokens, step_batches;
  std::atomic<int64_t> queue_times{0}, ttfts{0}, itls{0}, e2es{0}, prompt_tokens{0}, cached_tokens{0},
      generated{0}, cache_hits{0}, cache_misses{0}, swaps_out{0}, swaps_in{0}, rejected{0};
};

class SchedulerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir("scheduler");
    engine::RandomMamba1Options o = engine::testing::OddMamba1Shape();
    o.vocab_size = 256;  // the byte tokenizer's, for the stop-string test
    ASSERT_TRUE(engine::WriteRandomMamba1(dir_->path(), o).ok());
    model_ = engine::testing::Load(dir_->path(), 1).release();
    // A Model runs one Forward at a time: the reference runs get their own.
    alone_model_ = engine::testing::Load(dir_->path(), 1).release();
    tokenizer_ = engine::NewByteTokenizer().release();
  }
  static void TearDownTestSuite() {
    delete model_;
    delete alone_model_;
    delete tokenizer_;
    delete dir_;
  }

  static Request MakeRequest(std::vector<int32_t> prompt, int max_tokens, uint64_t seed, float temperature = 0.8f) {
    Request r;
    r.prompt = std::move(prompt);
    r.params.temperature = temperature;
    r.params.top_k = 40;
    r.params.seed = seed;
    r.params.max_tokens = max_tokens;
    r.params.repetition_penalty = 1.1f;
    return r;
  }

  static std::vector<int32_t> RunAlone(const Request& r) { return RunAloneOn(*alone_model_, r); }

  static std::unique_ptr<Scheduler> Make(const Options& o, std::shared_ptr<Metrics> m = nullptr) {
    auto s = Scheduler::Create(model_, tokenizer_, o, std::move(m));
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    return std::move(s).value();
  }

  static void ExpectDrained(Scheduler& s) {
    s.WaitIdle();
    Stats st = s.GetStats();
    EXPECT_EQ(st.gauges.running, 0);
    EXPECT_EQ(st.gauges.waiting, 0);
    EXPECT_EQ(st.gauges.slots_used, 0);
    EXPECT_EQ(st.gauges.swapped, 0);
    EXPECT_EQ(st.gauges.swap_bytes, 0u);
    EXPECT_LE(st.gauges.cache_bytes, st.gauges.cache_capacity_bytes);
  }

  static TempDir* dir_;
  static engine::Model* model_;
  static engine::Model* alone_model_;
  static engine::Tokenizer* tokenizer_;
};
engine::Model* SchedulerTest::alone_model_ = nullptr;
TempDir* SchedulerTest::dir_ = nullptr;
engine::Model* SchedulerTest::model_ = nullptr;
engine::Tokenizer* SchedulerTest::tokenizer_ = nullptr;

bool IsPrefix(const std::vector<int32_t>& a, const std::vector<int32_t>& b) {
  return a.size() <= b.size() && std::equal(a.begin(), a.end(), b.begin());
}

TEST_F(SchedulerTest, OneRequestEqualsTheRequestRunAlone) {
  auto metrics = std::make_shared<RecordingMetrics>();
  Options o;
  o.max_step_tokens = 7;  // the 30-token prompt is prefilled in 5 chunks
  auto s = Make(o, metrics);
  for (float temperature : {0.0f, 0.8f}) {
    Request r = MakeRequest(Tokens(30, 1, 256), 12, 99, temperature);
    auto sink = std::make_shared<RecordingSink>();
    ASSERT_TRUE(s->Submit(r, sink).ok());
    Result res = sink->Wait();
    EXPECT_EQ(res.finish_reason, FinishReason::kLength);
    EXPECT_EQ(res.tokens, RunAlone(r));
    EXPECT_EQ(sink->tokens(), res.tokens);
    EXPECT_EQ(res.prompt_tokens, 30);
    EXPECT_EQ(res.generated_tokens, 12);
    EXPECT_GT(res.ttft_seconds, 0);
    EXPECT_GE(res.total_seconds, res.ttft_seconds);
  }
  ExpectDrained(*s);
  std::lock_guard<std::mutex> l(metrics->mu);
  for (int64_t n : metrics->step_tokens) EXPECT_LE(n, 7);
  EXPECT_EQ(metrics->ttfts.load(), 2);
  EXPECT_EQ(metrics->itls.load(), 22);
  EXPECT_EQ(metrics->generated.load(), 24);
  EXPECT_EQ(metrics->e2es.load(), 2);
  EXPECT_EQ(metrics->queue_times.load(), 2);
}

TEST_F(SchedulerTest, BadRequestsAreRejectedAtSubmit) {
  auto s = Make(Options{});
  auto sink = std::make_shared<RecordingSink>();
  Request empty = MakeRequest({}, 4, 1);
  EXPECT_EQ(s->Submit(empty, sink).status().code(), StatusCode::kInvalidArgument);
  Request oov = MakeRequest({1, 2, 256}, 4, 1);
  auto st = s->Submit(oov, sink).status();
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("vocabulary"), std::string::npos) << st.ToString();
  Request bad_params = MakeRequest({1, 2}, 4, 1);
  bad_params.params.top_p = 0;
  EXPECT_EQ(s->Submit(bad_params, sink).status().code(), StatusCode::kInvalidArgument);
  Options small;
  small.max_prompt_tokens = 8;
  auto s2 = Make(small);
  EXPECT_EQ(s2->Submit(MakeRequest(Tokens(9, 1, 256), 4, 1), sink).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s->Submit(MakeRequest({1}, 4, 1), nullptr).status().code(), StatusCode::kInvalidArgument);
}

TEST_F(SchedulerTest, FullQueueIsOverloaded) {
  auto metrics = std::make_shared<RecordingMetrics>();
  Options o;
  o.max_seqs = 1;
  o.max_queue = 1;
  auto s = Make(o, metrics);
  auto a = std::make_shared<RecordingSink>(), b = std::make_shared<RecordingSink>(),
       c = std::make_shared<RecordingSink>();
  auto ha = s->Submit(MakeRequest({1, 2, 3}, 100000, 1), a);
  ASSERT_TRUE(ha.ok());
  ASSERT_TRUE(s->Submit(MakeRequest({4, 5}, 3, 2), b).ok());
  auto hc = s->Submit(MakeRequest({6}, 3, 3), c);
  EXPECT_EQ(hc.status().code(), StatusCode::kResourceExhausted);
  EXPECT_NE(hc.status().message().find("overloaded"), std::string::npos);
  s->Cancel(*ha);
  EXPECT_EQ(a->Wait().finish_reason, FinishReason::kCancelled);
  EXPECT_EQ(b->Wait().finish_reason, FinishReason::kLength);
  ExpectDrained(*s);
  EXPECT_EQ(s->GetStats().rejected, 1);
}

TEST_F(SchedulerTest, DeadlinesAndCancellation) {
  Options o;
  o.max_seqs = 1;
  auto s = Make(o);
  // A long request holds the only slot.
  Request long_req = MakeRequest(Tokens(5, 2, 256), 1 << 20, 5);
  long_req.deadline = Clock::now() + std::chrono::milliseconds(300);
  auto running = std::make_shared<RecordingSink>();
  ASSERT_TRUE(s->Submit(long_req, running).ok());
  running->WaitChunks(1);
  // This one expires while queued: it never runs.
  Request queued = MakeRequest({7, 8}, 4, 6);
  queued.deadline = Clock::now() + std::chrono::milliseconds(20);
  auto q = std::make_shared<RecordingSink>();
  ASSERT_TRUE(s->Submit(queued, q).ok());
  Result qr = q->Wait();
  EXPECT_EQ(qr.finish_reason, FinishReason::kDeadline);
  EXPECT_TRUE(qr.tokens.empty());
  EXPECT_EQ(qr.generated_tokens, 0);
  // The running one stops at its deadline with a prefix of its alone-run output.
  Result rr = running->Wait();
  EXPECT_EQ(rr.finish_reason, FinishReason::kDeadline);
  Request check = long_req;
  check.params.max_tokens = static_cast<int32_t>(rr.tokens.size());
  if (!rr.tokens.empty()) {
    EXPECT_EQ(rr.tokens, RunAlone(check));
  }

  // Cancellation of a running request frees its slot for the next.
  auto c = std::make_shared<RecordingSink>();
  auto hc = s->Submit(MakeRequest(Tokens(4, 3, 256), 1 << 20, 7), c);
  ASSERT_TRUE(hc.ok());
  c->WaitChunks(3);
  s->Cancel(*hc);
  EXPECT_EQ(c->Wait().finish_reason, FinishReason::kCancelled);
  auto next = std::make_shared<RecordingSink>();
  Request nr = MakeRequest(Tokens(6, 4, 256), 5, 8);
  ASSERT_TRUE(s->Submit(nr, next).ok());
  EXPECT_EQ(next->Wait().tokens, RunAlone(nr));
  s->Cancel(123456);  // unknown: a no-op
  ExpectDrained(*s);
}

TEST_F(SchedulerTest, HigherPrioritySwapsOutAndSwappedOutputIsUnchanged) {
  auto metrics = std::make_shared<RecordingMetrics>();
  Options o;
  o.max_seqs = 2;
  auto s = Make(o, metrics);
  // Long enough to be still running when the high-priority one arrives.
  std::vector<Request> low = {MakeRequest(Tokens(20, 10, 256), 3000, 10), MakeRequest(Tokens(9, 11, 256), 3000, 11)};
  std::vector<std::shared_ptr<RecordingSink>> low_sinks;
  for (auto& r : low) {
    low_sinks.push_back(std::make_shared<RecordingSink>());
    ASSERT_TRUE(s->Submit(r, low_sinks.back()).ok());
  }
  for (auto& k : low_sinks) k->WaitChunks(2);
  Request high = MakeRequest(Tokens(15, 12, 256), 10, 12);
  high.priority = 5;
  auto hs = std::make_shared<RecordingSink>();
  ASSERT_TRUE(s->Submit(high, hs).ok());
  Result hr = hs->Wait();
  EXPECT_EQ(hr.tokens, RunAlone(high));
  int swaps = 0;
  for (size_t i = 0; i < low.size(); ++i) {
    Result r = low_sinks[i]->Wait();
    EXPECT_EQ(r.finish_reason, FinishReason::kLength);
    EXPECT_EQ(r.tokens, RunAlone(low[i])) << "low-priority request " << i;
    swaps += r.swaps;
  }
  // The later of the two low-priority requests was the victim.
  EXPECT_EQ(low_sinks[1]->Wait().swaps, 1);
  EXPECT_EQ(metrics->swaps_out.load(), metrics->swaps_in.load());
  EXPECT_EQ(swaps, metrics->swaps_out.load());
  ExpectDrained(*s);
}

TEST_F(SchedulerTest, NoSwapWhenTheSwapTierIsTooSmall) {
  auto metrics = std::make_shared<RecordingMetrics>();
  Options o;
  o.max_seqs = 1;
  o.swap_bytes = model_->spec().state.bytes_per_sequence() - 1;
  auto s = Make(o, metrics);
  Request low = MakeRequest(Tokens(5, 20, 256), 30, 20);
  auto ls = std::make_shared<RecordingSink>();
  ASSERT_TRUE(s->Submit(low, ls).ok());
  ls->WaitChunks(1);
  Request high = MakeRequest(Tokens(5, 21, 256), 3, 21);
  high.priority = 9;
  auto hs = std::make_shared<RecordingSink>();
  ASSERT_TRUE(s->Submit(high, hs).ok());
  EXPECT_EQ(hs->Wait().tokens, RunAlone(high));
  Result lr = ls->Wait();
  EXPECT_EQ(lr.swaps, 0);
  EXPECT_EQ(lr.tokens, RunAlone(low));
  EXPECT_EQ(metrics->swaps_out.load(), 0);
  ExpectDrained(*s);
}

TEST_F(SchedulerTest, PrefixCacheHitEqualsColdRun) {
  auto metrics = std::make_shared<RecordingMetrics>();
  auto s = Make(Options{}, metrics);
  Request first = MakeRequest(Tokens(40, 30, 256), 8, 30);
  auto a = std::make_shared<RecordingSink>();
  ASSERT_TRUE(s->Submit(first, a).ok());
  Result ra = a->Wait();
  // The kept state covers the prompt and all generated tokens but the last.
  std::vector<int32_t> covered = first.prompt;
  covered.insert(covered.end(), ra.tokens.begin(), ra.tokens.end() - 1);
  std::vector<int32_t> longer = covered;
  longer.push_back(ra.tokens.back());
  for (int32_t t : Tokens(10, 31, 256)) longer.push_back(t);
  Request second = MakeRequest(longer, 9, 31);
  auto b = std::make_shared<RecordingSink>();
  ASSERT_TRUE(s->Submit(second, b).ok());
  Result rb = b->Wait();
  EXPECT_EQ(rb.cached_tokens, static_cast<int64_t>(covered.size()));
  EXPECT_EQ(rb.prompt_tokens, static_cast<int64_t>(longer.size()));
  EXPECT_EQ(rb.tokens, RunAlone(second));
  // A request that opts out is cold.
  Request third = second;
  third.use_prefix_cache = false;
  auto c = std::make_shared<RecordingSink>();
  ASSERT_TRUE(s->Submit(third, c).ok());
  Result rc = c->Wait();
  EXPECT_EQ(rc.cached_tokens, 0);
  EXPECT_EQ(rc.tokens, rb.tokens);
  // Exactly the prompt of an entry: one token is still fed (for its logits).
  Request same = MakeRequest(covered, 4, 32);
  auto d = std::make_shared<RecordingSink>();
  ASSERT_TRUE(s->Submit(same, d).ok());
  Result rd = d->Wait();
  EXPECT_LT(rd.cached_tokens, static_cast<int64_t>(covered.size()));
  EXPECT_EQ(rd.tokens, RunAlone(same));
  EXPECT_EQ(metrics->cache_hits.load() + metrics->cache_misses.load(), 3);
  EXPECT_GE(metrics->cache_hits.load(), 1);
  ExpectDrained(*s);
}

TEST_F(SchedulerTest, SessionModesContinueRequiresAKeptSessionAndStartIgnoresIt) {
  auto s = Make(Options{});
  auto run = [&](std::vector<int32_t> prompt, Request::SessionMode mode, uint64_t seed) {
    Request r = MakeRequest(std::move(prompt), 5, seed);
    r.session_id = "chat-2";
    r.session_mode = mode;
    r.use_prefix_cache = false;
    auto sink = std::make_shared<RecordingSink>();
    EXPECT_TRUE(s->Submit(r, sink).ok());
    return sink->Wait();
  };
  // kContinue on an unknown id: NOT_FOUND, no tokens, nothing kept.
  Result missing = run({1, 2, 3}, Request::SessionMode::kContinue, 1);
  EXPECT_EQ(missing.finish_reason, FinishReason::kError);
  EXPECT_EQ(missing.error.code(), StatusCode::kNotFound);
  EXPECT_TRUE(missing.tokens.empty());
  // kStart starts it; kContinue then continues it.
  Result first = run({1, 2, 3}, Request::SessionMode::kStart, 2);
  ASSERT_EQ(first.finish_reason, FinishReason::kLength);
  Result second = run({4}, Request::SessionMode::kContinue, 3);
  ASSERT_EQ(second.finish_reason, FinishReason::kLength);
  EXPECT_GT(second.cached_tokens, 0);
  // kStart on a kept id starts over: a cold run of its own prompt.
  Result restart = run({7, 8}, Request::SessionMode::kStart, 4);
  EXPECT_EQ(restart.cached_tokens, 0);
  EXPECT_EQ(restart.tokens, RunAlone(MakeRequest({7, 8}, 5, 4)));
  ExpectDrained(*s);
}

TEST_F(SchedulerTest, SessionContinuationEqualsColdRunOverTheWholeHistory) {
  auto s = Make(Options{});
  std::vector<int32_t> history;
  for (int turn = 0; turn < 3; ++turn) {
    std::vector<int32_t> user = Tokens(12 + static_cast<size_t>(turn), 40 + static_cast<uint32_t>(turn), 256);
    Request r = MakeRequest(user, 6, 40 + static_cast<uint64_t>(turn));
    r.session_id = "chat-1";
    r.use_prefix_cache = false;  // only the session may help
    auto sink = std::make_shared<RecordingSink>();
    ASSERT_TRUE(s->Submit(r, sink).ok());
    Result res = sink->Wait();
    ASSERT_EQ(res.finish_reason, FinishReason::kLength);
    // Cold: the whole conversation as one prompt.
    std::vector<int32_t> whole = history;
    whole.insert(whole.end(), user.begin(), user.end());
    Request cold = MakeRequest(whole, 6, 40 + static_cast<uint64_t>(turn));
    EXPECT_EQ(res.tokens, RunAlone(cold)) << "turn " << turn;
    EXPECT_EQ(res.prompt_tokens, static_cast<int64_t>(whole.size()));
    EXPECT_EQ(res.cached_tokens, turn == 0 ? 0 : static_cast<int64_t>(history.size() - 1));
    history = whole;
    history.insert(history.end(), res.tokens.begin(), res.tokens.end());
  }
  // A cancelled turn leaves the session where it was.
  Request r = MakeRequest({1, 2, 3}, 1 << 20, 50);
  r.session_id = "chat-1";
  auto sink = std::make_shared<RecordingSink>();
  auto h = s->Submit(r, sink);
  ASSERT_TRUE(h.ok());
  sink->WaitChunks(1);
  s->Cancel(*h);
  sink->Wait();
  Request next = MakeRequest({9, 9}, 3, 51);
  next.session_id = "chat-1";
  auto ns = std::make_shared<RecordingSink>();
  ASSERT_TRUE(s->Submit(next, ns).ok());
  Result nr = ns->Wait();
  EXPECT_EQ(nr.cached_tokens, static_cast<int64_t>(history.size() - 1));
  std::vector<int32_t> whole = history;
  whole.insert(whole.end(), {9, 9});
  EXPECT_EQ(nr.tokens, RunAlone(MakeRequest(whole, 3, 51)));
  ExpectDrained(*s);
}

TEST_F(SchedulerTest, StopStringEndsTheTextBeforeIt) {
  auto s = Make(Options{});
  Request r = MakeRequest(Tokens(8, 60, 256), 40, 60, 0.0f);
  auto a = std::make_shared<RecordingSink>();
  ASSERT_TRUE(s->Submit(r, a).ok());
  Result full = a->Wait();
  // The byte tokenizer: token i is byte i; take 2 bytes from the middle.
  std::string bytes(full.tokens.begin(), full.tokens.end());
  const std::string stop = bytes.substr(10, 2);
  const size_t at = bytes.find(stop);
  Request rs = r;
  rs.stop.stop_strings = {stop};
  auto b = std::make_shared<RecordingSink>();
  ASSERT_TRUE(s->Submit(rs, b).ok());
  Result res = b->Wait();
  EXPECT_EQ(res.finish_reason, FinishReason::kStop);
  // Text is the decoder's (invalid UTF-8 becomes U+FFFD), so compare through it.
  std::vector<int32_t> before(full.tokens.begin(), full.tokens.begin() + static_cast<ptrdiff_t>(at));
  engine::StreamDecoder dec(tokenizer_);
  std::string expect;
  for (int32_t t : before) expect += dec.Push(t);
  EXPECT_EQ(res.text.substr(0, expect.size()), expect);
  EXPECT_EQ(b->text(), res.text);
  EXPECT_EQ(res.text.find(stop), std::string::npos);
  ExpectDrained(*s);
}

TEST_F(SchedulerTest, TenantCapLimitsConcurrentSlots) {
  auto metrics = std::make_shared<RecordingMetrics>();
  Options o;
  o.max_seqs = 4;
  o.max_slots_per_tenant = 1;
  auto s = Make(o, metrics);
  std::vector<std::shared_ptr<RecordingSink>> sinks;
  std::vector<Request> reqs;
  for (int i = 0; i < 3; ++i) {
    reqs.push_back(MakeRequest(Tokens(6, 70 + static_cast<uint32_t>(i), 256), 6, 70 + static_cast<uint64_t>(i)));
    reqs.back().tenant = "a";
    sinks.push_back(std::make_shared<RecordingSink>());
    ASSERT_TRUE(s->Submit(reqs.back(), sinks.back()).ok());
  }
  for (size_t i = 0; i < reqs.size(); ++i) {
    Result r = sinks[i]->Wait();
    EXPECT_EQ(r.tokens, RunAlone(reqs[i])) << r.cached_tokens << " " << r.prompt_tokens;
  }
  ExpectDrained(*s);
  EXPECT_EQ(metrics->max_running, 1);
}

// Random arrivals, priorities, cancellations, deadlines, swaps, cache hits
// and session turns: completed requests equal their alone-runs over their
// whole history, the others are prefixes of them, and every account returns
// to zero.
TEST_F(SchedulerTest, RandomStormKeepsEveryOutputAndLeaksNothing) {
  auto metrics = std::make_shared<RecordingMetrics>();
  Options o;
  o.max_seqs = 3;
  o.max_queue = 1000;
  o.max_step_tokens = 20;
  const size_t state_bytes = model_->spec().state.bytes_per_sequence();
  o.swap_bytes = 2 * state_bytes;
  o.prefix_cache_bytes = 200 * state_bytes;
  o.session_cache_bytes = 200 * state_bytes;
  auto s = Make(o, metrics);
  std::mt19937 rng(1234);
  struct Sent {
    Request req;
    std::vector<int32_t> history;  // what the state covers before req.prompt (sessions)
    std::shared_ptr<RecordingSink> sink;
    Scheduler::Handle handle = 0;
    Result result;
  };
  // Submits `wave`, cancelling some at random moments; waits for all.
  auto run_wave = [&](std::vector<Sent>& wave) {
    for (size_t i = 0; i < wave.size(); ++i) {
      Sent& x = wave[i];
      if (rng() % 8 == 0) x.req.deadline = Clock::now() + std::chrono::milliseconds(rng() % 30);
      x.sink = std::make_shared<RecordingSink>();
      auto h = s->Submit(x.req, x.sink);
      ASSERT_TRUE(h.ok()) << h.status().ToString();
      x.handle = *h;
      if (rng() % 7 == 0) s->Cancel(wave[rng() % (i + 1)].handle);
      if (rng() % 4 == 0) std::this_thread::sleep_for(std::chrono::microseconds(rng() % 3000));
    }
    int completed = 0;
    for (auto& x : wave) {
      x.result = x.sink->Wait();
      const Result& r = x.result;
      EXPECT_EQ(x.sink->tokens(), r.tokens);
      ASSERT_NE(r.finish_reason, FinishReason::kError) << r.error.ToString();
      std::vector<int32_t> whole = x.history;
      whole.insert(whole.end(), x.req.prompt.begin(), x.req.prompt.end());
      Request alone = x.req;
      alone.prompt = whole;
      const std::vector<int32_t> expect = RunAlone(alone);
      if (r.finish_reason == FinishReason::kLength) {
        ++completed;
        EXPECT_EQ(r.tokens, expect) << "request " << x.handle;
      } else {
        EXPECT_TRUE(IsPrefix(r.tokens, expect)) << "request " << x.handle;
      }
    }
    EXPECT_GT(completed, static_cast<int>(wave.size()) / 2);
    ExpectDrained(*s);
  };

  // Wave 1: fresh prompts, some of them opening sessions.
  std::vector<Sent> first(50);
  for (size_t i = 0; i < first.size(); ++i) {
    first[i].req = MakeRequest(Tokens(1 + rng() % 40, 100 + static_cast<uint32_t>(i), 256),
                               1 + static_cast<int>(rng() % 20), 1000 + i, rng() % 4 == 0 ? 0.0f : 0.9f);
    first[i].req.priority = static_cast<int>(rng() % 3);
    if (i % 5 == 0) first[i].req.session_id = "s" + std::to_string(i);
  }
  run_wave(first);
  // Wave 2: continuations, through the prefix cache (the whole history as the
  // prompt) or the session (only the new tokens), and fresh prompts.
  std::vector<Sent> second;
  for (size_t i = 0; i < first.size(); ++i) {
    const Sent& prev = first[i];
    Sent x;
    std::vector<int32_t> more = Tokens(1 + rng() % 10, 500 + static_cast<uint32_t>(i), 256);
    const bool kept = prev.result.finish_reason == FinishReason::kLength ||
                      prev.result.finish_reason == FinishReason::kStop;
    std::vector<int32_t> whole = prev.history;
    whole.insert(whole.end(), prev.req.prompt.begin(), prev.req.prompt.end());
    whole.insert(whole.end(), prev.result.tokens.begin(), prev.result.tokens.end());
    if (!prev.req.session_id.empty()) {
      x.req = MakeRequest(more, 1 + static_cast<int>(rng() % 10), 3000 + i);
      x.req.session_id = prev.req.session_id;
      if (kept) x.history = whole;  // else the session starts afresh
    } else if (rng() % 2 == 0) {
      whole.insert(whole.end(), more.begin(), more.end());
      x.req = MakeRequest(whole, 1 + static_cast<int>(rng() % 10), 3000 + i);
    } else {
      x.req = MakeRequest(more, 1 + static_cast<int>(rng() % 10), 3000 + i);
    }
    x.req.priority = static_cast<int>(rng() % 3);
    second.push_back(std::move(x));
  }
  std::shuffle(second.begin(), second.end(), rng);
  run_wave(second);
  int64_t cached = 0;
  for (const Sent& x : second) cached += x.result.cached_tokens;
  std::printf("storm: %lld swaps out, %lld in, %lld cache hits, %lld cached tokens\n",
              static_cast<long long>(metrics->swaps_out.load()), static_cast<long long>(metrics->swaps_in.load()),
              static_cast<long long>(metrics->cache_hits.load()), static_cast<long long>(cached));
  EXPECT_GT(metrics->cache_hits.load(), 5);
  EXPECT_EQ(metrics->e2es.load(), 100);
}

// ---- Embedding requests ----------------------------------------------------

// What Request::embed must give, computed at the model level with no
// scheduler: one embed chunk over the whole prompt from a fresh state, its
// sum divided by T, L2-normalized (in double).
std::vector<double> ModelEmbedding(engine::Model& model, const std::vector<int32_t>& prompt) {
  auto pool = model.NewStatePool(1);
  const std::vector<float> sum =
      engine::testing::RunEmbed(model, *pool, pool->Acquire().value(), prompt);
  std::vector<double> mean(sum.begin(), sum.end());
  double norm2 = 0;
  for (double& x : mean) {
    x /= static_cast<double>(prompt.size());
    norm2 += x * x;
  }
  for (double& x : mean) x /= std::sqrt(norm2);
  return mean;
}

double MaxAbsDiff(const std::vector<float>& a, const std::vector<double>& b) {
  EXPECT_EQ(a.size(), b.size());
  double m = 0;
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) m = std::max(m, std::fabs(a[i] - b[i]));
  return m;
}

Request EmbedRequest(std::vector<int32_t> prompt) {
  Request r;
  r.prompt = std::move(prompt);
  r.embed = true;
  return r;
}

TEST_F(SchedulerTest, EmbedRequestIsTheNormalizedMeanOfTheModelsEmbedding) {
  auto metrics = std::make_shared<RecordingMetrics>();
  auto s = Make(Options{}, metrics);
  const std::vector<int32_t> text = Tokens(30, 70, 256);
  const std::vector<double> expect = ModelEmbedding(*alone_model_, text);
  auto sink = std::make_shared<RecordingSink>();
  ASSERT_TRUE(s->Submit(EmbedRequest(text), sink).ok());
  Result r = sink->Wait();
  ASSERT_EQ(r.finish_reason, FinishReason::kStop) << r.error.ToString();
  ASSERT_EQ(static_cast<int64_t>(r.embedding.size()), model_->spec().d_model);
  // One chunk, as the reference: only the final normalization may round.
  EXPECT_LE(MaxAbsDiff(r.embedding, expect), 1e-7);
  double norm2 = 0;
  for (float x : r.embedding) norm2 += static_cast<double>(x) * x;
  EXPECT_NEAR(norm2, 1.0, 1e-6);
  EXPECT_TRUE(r.tokens.empty());
  EXPECT_TRUE(sink->tokens().empty());  // nothing streamed
  EXPECT_EQ(r.generated_tokens, 0);
  EXPECT_EQ(r.prompt_tokens, 30);
  EXPECT_EQ(r.cached_tokens, 0);
  EXPECT_EQ(r.ttft_seconds, 0);
  EXPECT_EQ(r.session_state, nullptr);
  // Another text has another embedding.
  const std::vector<double> other = ModelEmbedding(*alone_model_, Tokens(30, 71, 256));
  EXPECT_GT(MaxAbsDiff(r.embedding, other), 1e-3);
  ExpectDrained(*s);
  EXPECT_EQ(metrics->prompt_tokens.load(), 30);
  EXPECT_EQ(metrics->generated.load(), 0);
  EXPECT_EQ(metrics->cache_hits.load() + metrics->cache_misses.load(), 0);  // no cache use
  EXPECT_EQ(s->GetStats().gauges.cache_entries, 0);
}

TEST_F(SchedulerTest, EmbedRequestsAreIndependentOfBatchingAndChunking) {
  auto metrics = std::make_shared<RecordingMetrics>();
  Options o;
  o.max_step_tokens = 7;  // long texts are read in many chunks beside decodes
  o.max_seqs = 4;
  auto s = Make(o, metrics);
  std::vector<Request> gens = {MakeRequest(Tokens(11, 80, 256), 25, 80),
                               MakeRequest(Tokens(3, 81, 256), 30, 81)};
  std::vector<std::shared_ptr<RecordingSink>> gen_sinks;
  for (const Request& g : gens) {
    gen_sinks.push_back(std::make_shared<RecordingSink>());
    ASSERT_TRUE(s->Submit(g, gen_sinks.back()).ok());
  }
  const std::vector<std::vector<int32_t>> texts = {Tokens(45, 82, 256), Tokens(1, 83, 256),
                                                   Tokens(17, 84, 256), Tokens(45, 82, 256)};
  std::vector<std::shared_ptr<RecordingSink>> sinks;
  for (const auto& t : texts) {
    sinks.push_back(std::make_shared<RecordingSink>());
    Request r = EmbedRequest(t);
    r.params.top_p = 0;  // invalid, but ignored: nothing is sampled
    ASSERT_TRUE(s->Submit(r, sinks.back()).ok());
  }
  std::vector<std::vector<float>> got;
  for (size_t i = 0; i < texts.size(); ++i) {
    Result r = sinks[i]->Wait();
    ASSERT_EQ(r.finish_reason, FinishReason::kStop) << r.error.ToString();
    // Chunked differently from the reference: fp32 sums in another grouping.
    EXPECT_LE(MaxAbsDiff(r.embedding, ModelEmbedding(*alone_model_, texts[i])), 2e-6)
        << "text " << i;
    got.push_back(r.embedding);
  }
  // The same text twice, read in different chunks beside different work.
  EXPECT_LE(MaxAbsDiff(got[0], std::vector<double>(got[3].begin(), got[3].end())), 2e-6);
  // The generations beside them are untouched.
  for (size_t i = 0; i < gens.size(); ++i)
    EXPECT_EQ(gen_sinks[i]->Wait().tokens, RunAlone(gens[i])) << i;
  ExpectDrained(*s);
  std::lock_guard<std::mutex> l(metrics->mu);
  int64_t steps_over_one_token = 0;
  for (int64_t n : metrics->step_tokens) {
    EXPECT_LE(n, 7);
    steps_over_one_token += n > 1;
  }
  EXPECT_GE(steps_over_one_token, (45 + 45 + 17) / 7);  // the texts were read in many chunks
}

// Forwards to another model but has no embeddings (as the CUDA models).
class NoEmbedModel : public engine::Model {
 public:
  explicit NoEmbedModel(engine::Model* inner) : inner_(inner) {}
  const engine::ModelSpec& spec() const override { return inner_->spec(); }
  Status Forward(const engine::Batch& b, engine::StatePool& p, engine::Logits* l) override {
    return inner_->Forward(b, p, l);
  }

 private:
  engine::Model* inner_;
};

TEST_F(SchedulerTest, BadEmbedAndSessionStateRequestsAreRejectedAtSubmit) {
  auto s = Make(Options{});
  auto sink = std::make_shared<RecordingSink>();
  const auto code = [&](const Request& r) { return s->Submit(r, sink).status().code(); };
  EXPECT_EQ(code(EmbedRequest({})), StatusCode::kInvalidArgument);
  EXPECT_EQ(code(EmbedRequest({1, 256})), StatusCode::kInvalidArgument);
  Request with_session = EmbedRequest({1, 2});
  with_session.session_id = "e";
  EXPECT_EQ(code(with_session), StatusCode::kInvalidArgument);
  Request embed_export = EmbedRequest({1, 2});
  embed_export.return_session_state = true;
  EXPECT_EQ(code(embed_export), StatusCode::kInvalidArgument);

  auto state = std::make_shared<SessionState>();
  state->state.model_fingerprint = model_->spec().fingerprint;
  state->state.data.assign(model_->spec().state.floats_per_sequence, 0.0f);
  state->tokens = {1, 2};
  state->pending_token = 3;
  Request no_session = MakeRequest({1}, 2, 1);
  no_session.return_session_state = true;
  EXPECT_EQ(code(no_session), StatusCode::kInvalidArgument);
  no_session.return_session_state = false;
  no_session.keep_session_as = "y";
  EXPECT_EQ(code(no_session), StatusCode::kInvalidArgument);
  no_session.keep_session_as.clear();
  no_session.return_session_state = false;
  no_session.restore_session = state;
  EXPECT_EQ(code(no_session), StatusCode::kInvalidArgument);
  Request start = MakeRequest({1}, 2, 1);
  start.session_id = "x";
  start.session_mode = Request::SessionMode::kStart;
  start.restore_session = state;
  EXPECT_EQ(code(start), StatusCode::kInvalidArgument);
  auto bad_tokens = std::make_shared<SessionState>(*state);
  bad_tokens->tokens = {1, 256};
  Request oov = MakeRequest({1}, 2, 1);
  oov.session_id = "x";
  oov.restore_session = bad_tokens;
  EXPECT_EQ(code(oov), StatusCode::kInvalidArgument);
  auto bad_pending = std::make_shared<SessionState>(*state);
  bad_pending->pending_token = 256;
  oov.restore_session = bad_pending;
  EXPECT_EQ(code(oov), StatusCode::kInvalidArgument);

  // A model without embeddings: UNIMPLEMENTED up front, never a failed step.
  NoEmbedModel no_embed(model_);
  auto s2 = Scheduler::Create(&no_embed, tokenizer_, Options{}).value();
  EXPECT_EQ(s2->Submit(EmbedRequest({1, 2}), sink).status().code(), StatusCode::kUnimplemented);
  ExpectDrained(*s);
}

// ---- Session state export / import ------------------------------------------

// A session turn on `s`; `restore` (may be null) is offered for import.
Result SessionTurn(Scheduler& s, const std::string& id, const Request& base,
                   std::shared_ptr<const SessionState> restore = nullptr,
                   Request::SessionMode mode = Request::SessionMode::kContinueOrStart) {
  Request r = base;
  r.session_id = id;
  r.session_mode = mode;
  r.use_prefix_cache = false;  // only the session may help
  r.return_session_state = true;
  r.restore_session = std::move(restore);
  auto sink = std::make_shared<RecordingSink>();
  EXPECT_TRUE(s.Submit(r, sink).ok());
  return sink->Wait();
}

// Through bytes, as a session store would keep it.
std::shared_ptr<const SessionState> ThroughBytes(const SessionState& st) {
  auto parsed = SessionState::Parse(st.Serialize());
  EXPECT_TRUE(parsed.ok()) << parsed.status().ToString();
  return parsed.ok() ? std::make_shared<SessionState>(std::move(parsed).value()) : nullptr;
}

TEST_F(SchedulerTest, ExportedSessionContinuesAfterARestartAsIfUninterrupted) {
  for (float temperature : {0.0f, 0.8f}) {  // greedy; and sampling with penalties over the history
    SCOPED_TRACE(temperature);
    const Request turn1 = MakeRequest(Tokens(21, 90, 256), 7, 90, temperature);
    const Request turn2 = MakeRequest(Tokens(9, 91, 256), 8, 91, temperature);
    // Uninterrupted: both turns on one scheduler, the session kept in its cache.
    auto a = Make(Options{});
    const Result a1 = SessionTurn(*a, "chat", turn1);
    const Result a2 = SessionTurn(*a, "chat", turn2);
    ASSERT_EQ(a1.finish_reason, FinishReason::kLength);
    ASSERT_EQ(a2.finish_reason, FinishReason::kLength);
    ASSERT_NE(a1.session_state, nullptr);
    ASSERT_NE(a2.session_state, nullptr);
    // The export is what the cache keeps: the state after the prompt and all
    // replies but the last token, which is pending.
    std::vector<int32_t> covered = turn1.prompt;
    covered.insert(covered.end(), a1.tokens.begin(), a1.tokens.end() - 1);
    EXPECT_EQ(a1.session_state->tokens, covered);
    EXPECT_EQ(a1.session_state->pending_token, a1.tokens.back());
    EXPECT_EQ(a1.session_state->state.model_fingerprint, model_->spec().fingerprint);

    // Interrupted: turn 1 on a scheduler that keeps no sessions at all, its
    // export through bytes, then turn 2 on a fresh scheduler ("restart").
    Options no_sessions;
    no_sessions.session_cache_bytes = 0;
    auto b = Make(no_sessions);
    const Result b1 = SessionTurn(*b, "chat", turn1);
    ASSERT_NE(b1.session_state, nullptr);  // exported even though not kept
    EXPECT_EQ(b1.tokens, a1.tokens);
    b.reset();
    auto c = Make(Options{});
    const Result c2 = SessionTurn(*c, "chat", turn2, ThroughBytes(*b1.session_state),
                                  Request::SessionMode::kContinue);
    ASSERT_EQ(c2.finish_reason, FinishReason::kLength) << c2.error.ToString();
    EXPECT_EQ(c2.tokens, a2.tokens);
    EXPECT_EQ(c2.prompt_tokens, a2.prompt_tokens);
    EXPECT_EQ(c2.cached_tokens, a2.cached_tokens);
    EXPECT_EQ(c2.cached_tokens, static_cast<int64_t>(covered.size()));
    // ... and leaves the same session behind, bitwise.
    ASSERT_NE(c2.session_state, nullptr);
    EXPECT_EQ(c2.session_state->tokens, a2.session_state->tokens);
    EXPECT_EQ(c2.session_state->pending_token, a2.session_state->pending_token);
    EXPECT_EQ(c2.session_state->state.data, a2.session_state->state.data);
    // Both equal a cold run over the whole conversation.
    std::vector<int32_t> whole = turn1.prompt;
    whole.insert(whole.end(), a1.tokens.begin(), a1.tokens.end());
    whole.insert(whole.end(), turn2.prompt.begin(), turn2.prompt.end());
    Request cold = turn2;
    cold.prompt = whole;
    EXPECT_EQ(c2.tokens, RunAlone(cold));
    // The restored session is kept by the new scheduler: a third turn
    // continues from its cache.
    const Result c3 = SessionTurn(*c, "chat", MakeRequest({5}, 2, 92, temperature), nullptr,
                                  Request::SessionMode::kContinue);
    EXPECT_EQ(c3.finish_reason, FinishReason::kLength) << c3.error.ToString();
    ExpectDrained(*c);
  }
}

TEST_F(SchedulerTest, RestoringAnotherModelsSessionFailsPrecondition) {
  auto s = Make(Options{});
  const Request turn1 = MakeRequest(Tokens(10, 93, 256), 4, 93);
  const Result r1 = SessionTurn(*s, "mine", turn1);
  ASSERT_NE(r1.session_state, nullptr);
  auto foreign = std::make_shared<SessionState>(*r1.session_state);
  foreign->state.model_fingerprint = "0123456789abcdef";
  auto fresh = Make(Options{});
  const Result r = SessionTurn(*fresh, "mine", MakeRequest({1, 2}, 4, 94), foreign);
  EXPECT_EQ(r.finish_reason, FinishReason::kError);
  EXPECT_EQ(r.error.code(), StatusCode::kFailedPrecondition) << r.error.ToString();
  EXPECT_TRUE(r.tokens.empty());
  EXPECT_EQ(r.session_state, nullptr);
  // Another layout (wrong size) of the right model: the same answer.
  auto wrong_size = std::make_shared<SessionState>(*r1.session_state);
  wrong_size->state.data.pop_back();
  const Result w = SessionTurn(*fresh, "mine", MakeRequest({1, 2}, 4, 94), wrong_size);
  EXPECT_EQ(w.error.code(), StatusCode::kFailedPrecondition) << w.error.ToString();
  // Nothing was kept under the id.
  const Result after = SessionTurn(*fresh, "mine", MakeRequest({1, 2}, 4, 94), nullptr,
                                   Request::SessionMode::kContinue);
  EXPECT_EQ(after.error.code(), StatusCode::kNotFound);
  ExpectDrained(*fresh);
}

TEST_F(SchedulerTest, RestoreIsIgnoredWhenTheSessionIsCached) {
  auto s = Make(Options{});
  const Request turn1 = MakeRequest(Tokens(14, 95, 256), 5, 95);
  const Request turn2 = MakeRequest(Tokens(6, 96, 256), 6, 96);
  const Result r1 = SessionTurn(*s, "kept", turn1);
  ASSERT_EQ(r1.finish_reason, FinishReason::kLength);
  // A state that would fail if it were used (another model's), and one that
  // would give other tokens if it were (a zero state, no history).
  auto foreign = std::make_shared<SessionState>(*r1.session_state);
  foreign->state.model_fingerprint = "0123456789abcdef";
  auto zero = std::make_shared<SessionState>();
  zero->state.model_fingerprint = model_->spec().fingerprint;
  zero->state.data.assign(model_->spec().state.floats_per_sequence, 0.0f);
  std::vector<int32_t> whole = turn1.prompt;
  whole.insert(whole.end(), r1.tokens.begin(), r1.tokens.end());
  whole.insert(whole.end(), turn2.prompt.begin(), turn2.prompt.end());
  Request cold = turn2;
  cold.prompt = whole;
  const std::vector<int32_t> expect = RunAlone(cold);
  ASSERT_NE(expect, RunAlone(turn2));  // the zero state would show
  const Result r2 = SessionTurn(*s, "kept", turn2, foreign);
  ASSERT_EQ(r2.finish_reason, FinishReason::kLength) << r2.error.ToString();
  EXPECT_EQ(r2.tokens, expect);
  // r2 left a new kept state; a zero-state restore beside it is ignored too.
  const Result r3 = SessionTurn(*s, "kept", MakeRequest({7, 7}, 3, 97), zero);
  ASSERT_EQ(r3.finish_reason, FinishReason::kLength);
  whole.insert(whole.end(), r2.tokens.begin(), r2.tokens.end());
  whole.insert(whole.end(), {7, 7});
  Request cold3 = MakeRequest(whole, 3, 97);
  EXPECT_EQ(r3.tokens, RunAlone(cold3));
  EXPECT_EQ(r3.cached_tokens, static_cast<int64_t>(whole.size() - 3));
  ExpectDrained(*s);
}

// Per-turn keys: a turn continues from "c@N" and keeps its state as "c@N+1",
// so a retried (or rolled-back) turn continues from the same state again.
TEST_F(SchedulerTest, KeepSessionAsKeepsTheStateUnderAnotherId) {
  auto s = Make(Options{});
  const auto turn = [&](const std::string& from, const std::string& keep, const Request& base,
                        Request::SessionMode mode = Request::SessionMode::kContinueOrStart) {
    Request r = base;
    r.session_id = from;
    r.keep_session_as = keep;
    r.session_mode = mode;
    r.use_prefix_cache = false;
    auto sink = std::make_shared<RecordingSink>();
    EXPECT_TRUE(s->Submit(r, sink).ok());
    return sink->Wait();
  };
  const Request turn1 = MakeRequest(Tokens(12, 110, 256), 5, 110);
  const Request turn2 = MakeRequest(Tokens(4, 111, 256), 6, 111);
  const Result r1 = turn("c@0", "c@1", turn1);
  ASSERT_EQ(r1.finish_reason, FinishReason::kLength);
  const Result r2 = turn("c@1", "c@2", turn2, Request::SessionMode::kContinue);
  ASSERT_EQ(r2.finish_reason, FinishReason::kLength) << r2.error.ToString();
  std::vector<int32_t> whole = turn1.prompt;
  whole.insert(whole.end(), r1.tokens.begin(), r1.tokens.end());
  whole.insert(whole.end(), turn2.prompt.begin(), turn2.prompt.end());
  Request cold = turn2;
  cold.prompt = whole;
  EXPECT_EQ(r2.tokens, RunAlone(cold));
  // The retry continues from c@1 again, untouched by the first try.
  const Result retry = turn("c@1", "c@2", turn2, Request::SessionMode::kContinue);
  EXPECT_EQ(retry.tokens, r2.tokens);
  EXPECT_EQ(retry.cached_tokens, r2.cached_tokens);
  // Nothing was ever kept under c@0.
  EXPECT_EQ(turn("c@0", "", turn2, Request::SessionMode::kContinue).error.code(),
            StatusCode::kNotFound);
  ExpectDrained(*s);
}

// The scheduler is architecture-agnostic: concurrent requests (their prompts
// cut into steps of max_step_tokens, differently from the alone runs' single
// chunk) and a session turn on the model in `dir` give their alone-run tokens
// too.
void ExpectConcurrentRequestsAndSessionTurnEqualAloneRuns(const std::string& dir, size_t prompt_step,
                                                          int max_step_tokens) {
  auto model = engine::testing::Load(dir, 2);
  auto alone = engine::testing::Load(dir, 1);
  ASSERT_TRUE(model && alone);
  Options o;
  o.max_seqs = 3;
  o.max_step_tokens = max_step_tokens;
  auto s = Scheduler::Create(model.get(), nullptr, o).value();
  std::vector<Request> reqs;
  std::vector<std::shared_ptr<RecordingSink>> sinks;
  for (int i = 0; i < 6; ++i) {
    Request r;
    r.prompt = Tokens(3 + prompt_step * static_cast<size_t>(i), 90 + static_cast<uint32_t>(i), 300);
    r.params.temperature = 0.7f;
    r.params.seed = 90 + static_cast<uint64_t>(i);
    r.params.max_tokens = 9;
    r.params.logprobs = true;  // compared bitwise: tokens alone rarely show last-bit differences
    r.session_id = i == 0 ? "chat" : "";
    reqs.push_back(r);
    sinks.push_back(std::make_shared<RecordingSink>());
    ASSERT_TRUE(s->Submit(r, sinks.back()).ok());
  }
  for (size_t i = 0; i < reqs.size(); ++i) {
    const Result got = sinks[i]->Wait();
    const std::vector<float> got_logprobs = sinks[i]->logprobs();
    std::vector<float> want_logprobs;
    EXPECT_EQ(got.tokens, RunAloneOn(*alone, reqs[i], &want_logprobs)) << i;
    ASSERT_EQ(got_logprobs.size(), want_logprobs.size()) << i;
    EXPECT_EQ(std::memcmp(got_logprobs.data(), want_logprobs.data(), want_logprobs.size() * sizeof(float)), 0)
        << "request " << i << ": log p differ from the alone run's in some bits";
  }
  Request next = reqs[0];
  next.prompt = {5, 6, 7};
  auto ns = std::make_shared<RecordingSink>();
  ASSERT_TRUE(s->Submit(next, ns).ok());
  Result nr = ns->Wait();
  Request cold = reqs[0];
  std::vector<int32_t> first = sinks[0]->tokens();
  cold.prompt.insert(cold.prompt.end(), first.begin(), first.end());
  cold.prompt.insert(cold.prompt.end(), {5, 6, 7});
  EXPECT_EQ(nr.cached_tokens, static_cast<int64_t>(cold.prompt.size() - 4));
  EXPECT_EQ(nr.tokens, RunAloneOn(*alone, cold));
  // Embeddings (read in chunks of the 10-token budget).
  const std::vector<int32_t> text = Tokens(23, 98, 300);
  auto es = std::make_shared<RecordingSink>();
  ASSERT_TRUE(s->Submit(EmbedRequest(text), es).ok());
  const Result er = es->Wait();
  ASSERT_EQ(er.finish_reason, FinishReason::kStop) << er.error.ToString();
  EXPECT_LE(MaxAbsDiff(er.embedding, ModelEmbedding(*alone, text)), 2e-6);
}

TEST(SchedulerRwkvTest, ConcurrentRequestsAndSessionTurnEqualAloneRuns) {
  TempDir dir("scheduler-rwkv7");
  ASSERT_TRUE(engine::WriteRandomRwkv(dir.path(), engine::testing::OddRwkvShape(7)).ok());
  ExpectConcurrentRequestsAndSessionTurnEqualAloneRuns(dir.path(), 7, 10);
}

// Mamba-2 too: its prefill is the recurrence by default, so prompts of up to
// 88 tokens cut into steps of 40 give bitwise their one-chunk alone runs.
// (With the SSD form on, requests 2 and 3 differ in the last bits of log p.)
TEST(SchedulerMamba2Test, ConcurrentRequestsAndSessionTurnEqualAloneRuns) {
  TempDir dir("scheduler-mamba2");
  engine::RandomMamba2Options m;
  m.d_model = 36;
  m.n_layer = 3;
  m.vocab_size = 300;
  m.d_state = 20;
  m.head_dim = 12;
  m.n_groups = 2;
  m.chunk_size = 16;
  m.seed = 9;
  ASSERT_TRUE(engine::WriteRandomMamba2(dir.path(), m).ok());
  ExpectConcurrentRequestsAndSessionTurnEqualAloneRuns(dir.path(), 17, 40);
}

}  // namespace
}  // namespace rs::scheduler
