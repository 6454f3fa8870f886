// Scheduler: continuous batching of many requests over one model and a pool
// of fixed-size state slots.
//
// One engine thread runs the loop; any thread may Submit and Cancel. Each
// iteration:
//   1. takes new submissions and cancellations; finishes requests whose
//      deadline passed (queued ones without running);
//   2. admits waiting requests (priority descending, FCFS within a priority;
//      a tenant at its slot cap is skipped) while a slot is free; when none is
//      free and the best waiting request outranks the lowest-priority running
//      sequence, that sequence's state is swapped to host memory (bounded by
//      Options::swap_bytes) and the slot given to the waiting one; a swapped
//      sequence returns to the queue and is restored later, never recomputed;
//   3. runs ONE engine step: the next token of every decoding sequence plus
//      prefill chunks of admitted prompts, within Options::max_step_tokens
//      (a long prompt is split over steps, so running streams wait at most one
//      step per iteration);
//   4. samples, streams tokens to each request's Sink, applies stop rules, and
//      frees the slots of finished requests (their final states go to the
//      state cache when asked to).
//
// Embedding requests (Request::embed) take a slot and prefill chunks like any
// prompt, but their chunks ask the model for the sum of the final normed
// hidden states instead of logits; when the whole prompt is read the request
// finishes with the mean, L2-normalized, in Result::embedding.
//
// Sessions can leave and re-enter the scheduler: Request::return_session_state
// exports what the session cache keeps after a turn (Result::session_state),
// and Request::restore_session imports it into a scheduler whose cache does not
// have the session (after a restart, on another replica); the next turn is
// then bitwise the turn an uninterrupted session would have run.
//
// Exactness: the CPU models are bitwise independent of batch composition and
// chunking (engine/model.h), and sampling is keyed by (seed, position), so a
// request's tokens never depend on what else runs, on swapping, or on whether
// its prompt started from a kept state.
//
// Thread-safety: Submit, Cancel, Stats and Stop are thread-safe. Sink and
// Metrics callbacks run on the engine thread.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "engine/model.h"
#include "engine/sampler/sampler.h"
#include "engine/tokenizer/tokenizer.h"
#include "scheduler/metrics.h"
#include "scheduler/request.h"
#include "scheduler/state_cache.h"

namespace rs::scheduler {

struct Options {
  int max_seqs = 16;                 // state slots (concurrently running sequences)
  int max_queue = 256;               // requests waiting for a slot beyond the free ones
  int64_t max_step_tokens = 256;     // token budget of one engine step (decodes + prefill)
  int64_t max_prompt_tokens = 1 << 20;  // longer prompts are INVALID_ARGUMENT
  int max_slots_per_tenant = 0;      // 0: no cap
  size_t swap_bytes = 256ull << 20;  // host memory for swapped-out states; 0: no swapping
  size_t prefix_cache_bytes = 256ull << 20;   // 0: no prefix cache
  size_t session_cache_bytes = 256ull << 20;  // 0: sessions are not kept
};

// A snapshot of the scheduler's accounting (for tests and the service).
struct Stats {
  Gauges gauges;
  int64_t steps = 0;
  int64_t finished = 0;
  int64_t rejected = 0;  // overloaded
};

class Scheduler {
 public:
  using Handle = uint64_t;

  // `model` and `tokenizer` (may be null: no text, no stop strings) must
  // outlive the scheduler; `metrics` may be null (NullMetrics). Starts the
  // engine thread. Errors: INVALID_ARGUMENT for bad options.
  static StatusOr<std::unique_ptr<Scheduler>> Create(engine::Model* model, const engine::Tokenizer* tokenizer,
                                                     const Options& options,
                                                     std::shared_ptr<Metrics> metrics = nullptr);
  ~Scheduler();  // Stop()
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // Queues `request`; its output goes to `sink` (kept alive by the scheduler
  // until OnFinish returns). Errors (nothing is queued, the sink is never
  // called): INVALID_ARGUMENT for a bad request (empty or oversized prompt, a
  // token out of range, bad sampling or stop options, stop strings without a
  // tokenizer, session fields that contradict each other; see Request);
  // UNIMPLEMENTED for an embedding request to a model without embeddings
  // (Model::SupportsEmbed); RESOURCE_EXHAUSTED "overloaded" when the queue
  // is full; UNAVAILABLE after Stop(). Errors found once the request runs
  // (e.g. NOT_FOUND for kContinue of an unknown session, FAILED_PRECONDITION
  // for a restore_session of another model) finish it with kError and that
  // status.
  StatusOr<Handle> Submit(Request request, std::shared_ptr<Sink> sink);

  // Ends the request with FinishReason::kCancelled at the next iteration and
  // frees its slot; a no-op for an unknown or finished handle.
  void Cancel(Handle handle);

  // Cancels everything (finish reason kCancelled), stops the engine thread.
  // Idempotent.
  void Stop();

  // Waits until no request is queued or running (or Stop()).
  void WaitIdle();

  Stats GetStats() const;
  const engine::ModelSpec& spec() const { return model_->spec(); }
  size_t pool_bytes() const;

  struct Seq;  // one request's life inside the scheduler (scheduler.cc)

 private:
  Scheduler(engine::Model* model, const engine::Tokenizer* tokenizer, const Options& options,
            std::shared_ptr<Metrics> metrics);
  Status Validate(Request& request) const;
  void Loop();
  // Loop steps (engine thread only).
  void TakeInbox();
  void ExpireAndCancel(Clock::time_point now);
  void Admit(Clock::time_point now);
  bool SwapOutFor(int priority);
  Status Start(Seq& s);
  void Step();
  // Applies s's sampled next token (and its top alternatives), streams it;
  // true when s is done.
  bool ApplySample(Seq& s, const engine::SampleResult& r, std::vector<std::pair<int32_t, float>> top,
                   Clock::time_point now);
  void Finish(Seq& s, engine::FinishReason reason, Status error = Status());
  void PublishGauges();

  engine::Model* model_;
  const engine::Tokenizer* tokenizer_;
  Options options_;
  std::shared_ptr<Metrics> metrics_;
  std::unique_ptr<engine::StatePool> pool_;
  StateCache cache_;

  // Shared with submitting threads.
  mutable std::mutex mu_;
  std::condition_variable wake_;       // engine thread: work arrived
  std::condition_variable idle_cv_;    // WaitIdle
  std::vector<std::unique_ptr<Seq>> inbox_;
  std::vector<Handle> cancels_;
  bool stopping_ = false;
  bool idle_ = true;
  Handle next_handle_ = 1;
  std::atomic<int64_t> pending_{0};   // submitted, not yet holding a slot or finished
  std::atomic<int64_t> rejected_{0};
  std::atomic<int64_t> running_{0};
  Stats stats_;                        // guarded by mu_ (copied by the engine thread)

  // Engine thread only.
  std::deque<std::unique_ptr<Seq>> waiting_;   // sorted: priority desc, arrival asc
  std::vector<std::unique_ptr<Seq>> running_seqs_;
  std::unordered_map<std::string, int> tenant_running_;  // slots held per tenant
  size_t swap_used_ = 0;
  int64_t swapped_ = 0;
  int64_t rejected_reported_ = 0;
  int64_t steps_ = 0, finished_ = 0;
  engine::Logits logits_;
  // Sampling runs on the model's threads (Model::ParallelFor), one scratch
  // per task; the results are then applied in batch order.
  std::vector<engine::SamplerScratch> scratches_;
  std::vector<engine::SampleResult> samples_;
  std::vector<std::vector<std::pair<int32_t, float>>> tops_;

  std::thread thread_;
};

}  // namespace rs::scheduler
