// The scheduler's metrics, as an interface the gRPC service exports to
// Prometheus (and tests replace with a recording double).
//
// Semantics follow vLLM's metrics where they exist (running / waiting
// requests, time to first token, inter-token latency, end-to-end latency,
// queue time, prompt / generation token counters); state-pool, swap and
// state-cache numbers are ours.
//
// Thread-safety: every method is called from the scheduler's engine thread
// only; an implementation that is read from other threads (a scrape) must
// synchronize itself.
#pragma once

#include <cstddef>
#include <cstdint>

#include "engine/sampler/finish_reason.h"

namespace rs::scheduler {

// Levels, refreshed once per engine-loop iteration.
struct Gauges {
  int64_t running = 0;        // requests holding a slot
  int64_t waiting = 0;        // queued, not yet admitted (swapped ones too)
  int64_t slots_used = 0;
  int64_t slots_total = 0;
  size_t slot_bytes = 0;      // bytes of one slot (the state of one sequence)
  int64_t swapped = 0;        // sequences whose state is in the swap tier
  size_t swap_bytes = 0;      // bytes held by the swap tier
  size_t swap_capacity_bytes = 0;
  int64_t cache_entries = 0;  // state-cache entries (prefixes and sessions)
  size_t cache_bytes = 0;
  size_t cache_capacity_bytes = 0;
};

class Metrics {
 public:
  virtual ~Metrics() = default;
  virtual void SetGauges(const Gauges& g) = 0;
  // One engine step: its wall time, tokens fed, and sequences in it.
  virtual void ObserveStep(double seconds, int64_t n_tokens, int64_t batch_size) = 0;
  // Per request, once each, when known.
  virtual void ObserveQueueTime(double seconds) = 0;
  virtual void ObserveTimeToFirstToken(double seconds) = 0;
  virtual void ObserveInterTokenLatency(double seconds) = 0;  // per token after the first
  virtual void ObserveEndToEnd(double seconds, engine::FinishReason reason) = 0;
  // Counters.
  virtual void AddPromptTokens(int64_t n) = 0;     // tokens prefilled (not cached ones)
  virtual void AddCachedTokens(int64_t n) = 0;     // tokens restored from a kept state
  virtual void AddGenerationTokens(int64_t n) = 0;
  virtual void CountCacheQuery(bool hit) = 0;      // one per admitted request that may use it
  virtual void CountSwap(bool out) = 0;            // out: to host; else back in
  virtual void AddRejected(int64_t n) = 0;         // submissions refused as overloaded
};

// Does nothing (the default).
class NullMetrics final : public Metrics {
 public:
  void SetGauges(const Gauges&) override {}
  void ObserveStep(double, int64_t, int64_t) override {}
  void ObserveQueueTime(double) override {}
  void ObserveTimeToFirstToken(double) override {}
  void ObserveInterTokenLatency(double) override {}
  void ObserveEndToEnd(double, engine::FinishReason) override {}
  void AddPromptTokens(int64_t) override {}
  void AddCachedTokens(int64_t) override {}
  void AddGenerationTokens(int64_t) override {}
  void CountCacheQuery(bool) override {}
  void CountSwap(bool) override {}
  void AddRejected(int64_t) override {}
};

}  // namespace rs::scheduler
