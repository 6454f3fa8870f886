#include "service/prometheus_metrics.h"

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <algorithm>

namespace rs::service {

using prometheus::Counter;
using prometheus::Family;
using prometheus::Gauge;
using prometheus::Histogram;

struct ServiceMetrics::Families {
  explicit Families(prometheus::Registry& r)
      : running(G(r, "recurrent_num_requests_running", "Requests holding a state slot (running).")),
        waiting(G(r, "recurrent_num_requests_waiting", "Requests waiting for a state slot (swapped-out ones too).")),
        swapped(G(r, "recurrent_num_requests_swapped", "Requests whose state is swapped out to host memory.")),
        slot_usage(G(r, "recurrent_state_slot_usage_perc",
                     "Fraction of state slots in use, 0..1 (vLLM's gpu_cache_usage_perc for recurrent states).")),
        slots_total(G(r, "recurrent_state_slots_total", "State slots (concurrent sequences) of the model's pool.")),
        slot_bytes(G(r, "recurrent_state_slot_bytes", "Bytes of one sequence's recurrent state.")),
        swap_bytes(G(r, "recurrent_swap_bytes", "Host bytes held by swapped-out states.")),
        cache_entries(G(r, "recurrent_state_cache_entries", "Kept states (prompt prefixes and sessions).")),
        cache_bytes(G(r, "recurrent_state_cache_bytes", "Bytes held by kept states.")),
        ready(G(r, "recurrent_server_ready", "1 while the server serves, 0 while loading or draining.")),
        ttft(H(r, "recurrent_time_to_first_token_seconds", "Time from arrival to the first generated token.")),
        itl(H(r, "recurrent_inter_token_latency_seconds", "Time between successive generated tokens.")),
        e2e(H(r, "recurrent_e2e_request_latency_seconds", "Time from arrival to the end of a request.")),
        queue(H(r, "recurrent_request_queue_time_seconds", "Time a request waited for a state slot.")),
        step(H(r, "recurrent_step_duration_seconds", "Wall time of one engine step (one batched forward).")),
        batch(H(r, "recurrent_batch_size", "Sequences in one engine step.")),
        step_tokens(H(r, "recurrent_step_tokens", "Tokens fed to the model in one engine step.")),
        prompt_tokens(C(r, "recurrent_prompt_tokens", "Prompt tokens computed (prefilled; not restored ones).")),
        cached_tokens(C(r, "recurrent_cached_tokens", "Prompt tokens restored from a kept state instead of computed.")),
        generation_tokens(C(r, "recurrent_generation_tokens", "Tokens generated.")),
        success(C(r, "recurrent_request_success", "Finished requests by finished_reason.")),
        requests(C(r, "recurrent_requests", "gRPC requests by method and status code.")),
        swaps(C(r, "recurrent_swaps", "State swaps to host memory (direction=out) and back (direction=in).")),
        cache_queries(C(r, "recurrent_state_cache_queries", "Admitted requests that looked up a kept state.")),
        cache_hits(C(r, "recurrent_state_cache_hits", "Of those, requests that started from a kept state.")),
        rejected(C(r, "recurrent_requests_rejected", "Requests refused because the queue was full.")),
        turns(C(r, "recurrent_session_turns", "Sessions turns by outcome (committed, replayed, failed).")),
        turns_rebuilt(C(r, "recurrent_session_turns_rebuilt",
                        "Committed turns whose state was rebuilt from the text memory (no usable snapshot).")),
        memory_fallbacks(C(r, "recurrent_session_memory_fallbacks",
                           "Committed turns whose memory update or plans fell back after 3 attempts.")),
        turn_phase(H(r, "recurrent_session_turn_phase_seconds", "Time per phase of a committed Sessions turn.")) {}

  static Family<Gauge>& G(prometheus::Registry& r, const char* name, const char* help) {
    return prometheus::BuildGauge().Name(name).Help(help).Register(r);
  }
  static Family<Counter>& C(prometheus::Registry& r, const char* name, const char* help) {
    // prometheus-cpp appends nothing: counters end in _total by convention.
    return prometheus::BuildCounter().Name(std::string(name) + "_total").Help(help).Register(r);
  }
  static Family<Histogram>& H(prometheus::Registry& r, const char* name, const char* help) {
    return prometheus::BuildHistogram().Name(name).Help(help).Register(r);
  }

  Family<Gauge>&running, &waiting, &swapped, &slot_usage, &slots_total, &slot_bytes, &swap_bytes, &cache_entries,
      &cache_bytes, &ready;
  Family<Histogram>&ttft, &itl, &e2e, &queue, &step, &batch, &step_tokens;
  Family<Counter>&prompt_tokens, &cached_tokens, &generation_tokens, &success, &requests, &swaps, &cache_queries,
      &cache_hits, &rejected;
  Family<Counter>&turns, &turns_rebuilt, &memory_fallbacks;  // Sessions
  Family<Histogram>& turn_phase;
};

namespace {

// Buckets as vLLM's (seconds), with finer steps at the low end for CPU serving.
const Histogram::BucketBoundaries kTtftBuckets = {0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75,
                                                  1.0,   2.5,   5.0,  7.5,  10.0, 20.0, 40.0, 80.0, 160.0, 640.0};
const Histogram::BucketBoundaries kItlBuckets = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2,
                                                 0.3,   0.4,    0.5,   0.75, 1.0,   2.5,  5.0,   7.5, 10.0, 20.0};
const Histogram::BucketBoundaries kE2eBuckets = {0.1,  0.3,  0.5,  0.8,  1.0,  1.5,   2.0,   2.5,   5.0,    10.0,  15.0,
                                                 20.0, 30.0, 40.0, 50.0, 60.0, 120.0, 240.0, 480.0, 960.0, 1920.0};
const Histogram::BucketBoundaries kQueueBuckets = {0.001, 0.005, 0.01, 0.025, 0.05, 0.1,  0.25,  0.5,  1.0,
                                                   2.5,   5.0,   10.0, 20.0,  40.0, 80.0, 160.0, 320.0};
const Histogram::BucketBoundaries kStepBuckets = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                                  0.1,    0.25,  0.5,    1.0,   2.5,  5.0};
const Histogram::BucketBoundaries kBatchBuckets = {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024};
const Histogram::BucketBoundaries kStepTokenBuckets = {1, 4, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192};

class ModelMetrics final : public scheduler::Metrics {
 public:
  ModelMetrics(ServiceMetrics::Families& f, const std::string& model)
      : running_(f.running.Add({{"model", model}})),
        waiting_(f.waiting.Add({{"model", model}})),
        swapped_(f.swapped.Add({{"model", model}})),
        slot_usage_(f.slot_usage.Add({{"model", model}})),
        slots_total_(f.slots_total.Add({{"model", model}})),
        slot_bytes_(f.slot_bytes.Add({{"model", model}})),
        swap_bytes_(f.swap_bytes.Add({{"model", model}})),
        cache_entries_(f.cache_entries.Add({{"model", model}})),
        cache_bytes_(f.cache_bytes.Add({{"model", model}})),
        ttft_(f.ttft.Add({{"model", model}}, kTtftBuckets)),
        itl_(f.itl.Add({{"model", model}}, kItlBuckets)),
        e2e_(f.e2e.Add({{"model", model}}, kE2eBuckets)),
        queue_(f.queue.Add({{"model", model}}, kQueueBuckets)),
        step_(f.step.Add({{"model", model}}, kStepBuckets)),
        batch_(f.batch.Add({{"model", model}}, kBatchBuckets)),
        step_tokens_(f.step_tokens.Add({{"model", model}}, kStepTokenBuckets)),
        prompt_tokens_(f.prompt_tokens.Add({{"model", model}})),
        cached_tokens_(f.cached_tokens.Add({{"model", model}})),
        generation_tokens_(f.generation_tokens.Add({{"model", model}})),
        swaps_out_(f.swaps.Add({{"model", model}, {"direction", "out"}})),
        swaps_in_(f.swaps.Add({{"model", model}, {"direction", "in"}})),
        cache_queries_(f.cache_queries.Add({{"model", model}})),
        cache_hits_(f.cache_hits.Add({{"model", model}})),
        rejected_(f.rejected.Add({{"model", model}})) {
    for (int r = 0; r <= static_cast<int>(engine::FinishReason::kError); ++r) {
      const auto reason = static_cast<engine::FinishReason>(r);
      success_[r] = &f.success.Add({{"model", model}, {"finished_reason", engine::FinishReasonName(reason)}});
    }
  }

  void SetGauges(const scheduler::Gauges& g) override {
    running_.Set(static_cast<double>(g.running));
    waiting_.Set(static_cast<double>(g.waiting));
    swapped_.Set(static_cast<double>(g.swapped));
    slot_usage_.Set(g.slots_total > 0 ? static_cast<double>(g.slots_used) / static_cast<double>(g.slots_total) : 0);
    slots_total_.Set(static_cast<double>(g.slots_total));
    slot_bytes_.Set(static_cast<double>(g.slot_bytes));
    swap_bytes_.Set(static_cast<double>(g.swap_bytes));
    cache_entries_.Set(static_cast<double>(g.cache_entries));
    cache_bytes_.Set(static_cast<double>(g.cache_bytes));
  }
  void ObserveStep(double seconds, int64_t n_tokens, int64_t batch_size) override {
    step_.Observe(seconds);
    step_tokens_.Observe(static_cast<double>(n_tokens));
    batch_.Observe(static_cast<double>(batch_size));
  }
  void ObserveQueueTime(double s) override { queue_.Observe(s); }
  void ObserveTimeToFirstToken(double s) override { ttft_.Observe(s); }
  void ObserveInterTokenLatency(double s) override { itl_.Observe(s); }
  void ObserveEndToEnd(double s, engine::FinishReason reason) override {
    const int r = std::clamp(static_cast<int>(reason), 0, static_cast<int>(engine::FinishReason::kError));
    e2e_.Observe(s);
    success_[r]->Increment();
  }
  void AddPromptTokens(int64_t n) override { prompt_tokens_.Increment(static_cast<double>(n)); }
  void AddCachedTokens(int64_t n) override { cached_tokens_.Increment(static_cast<double>(n)); }
  void AddGenerationTokens(int64_t n) override { generation_tokens_.Increment(static_cast<double>(n)); }
  void CountCacheQuery(bool hit) override {
    cache_queries_.Increment();
    if (hit) cache_hits_.Increment();
  }
  void CountSwap(bool out) override { (out ? swaps_out_ : swaps_in_).Increment(); }
  void AddRejected(int64_t n) override { rejected_.Increment(static_cast<double>(n)); }

 private:
  Gauge &running_, &waiting_, &swapped_, &slot_usage_, &slots_total_, &slot_bytes_, &swap_bytes_, &cache_entries_,
      &cache_bytes_;
  Histogram &ttft_, &itl_, &e2e_, &queue_, &step_, &batch_, &step_tokens_;
  Counter &prompt_tokens_, &cached_tokens_, &generation_tokens_, &swaps_out_, &swaps_in_, &cache_queries_,
      &cache_hits_, &rejected_;
  Counter* success_[5];
};

}  // namespace

ServiceMetrics::ServiceMetrics()
    : registry_(std::make_shared<prometheus::Registry>()), f_(std::make_unique<Families>(*registry_)) {
  f_->ready.Add({}).Set(0);
}

ServiceMetrics::~ServiceMetrics() = default;

std::shared_ptr<scheduler::Metrics> ServiceMetrics::ForModel(const std::string& model) {
  // Turn outcomes start at 0, so rate() sees a model's first turn.
  for (const char* outcome : {"committed", "replayed", "failed"}) f_->turns.Add({{"model", model}, {"outcome", outcome}});
  return std::make_shared<ModelMetrics>(*f_, model);
}

void ServiceMetrics::CountRequest(const std::string& model, const std::string& method, const std::string& code) {
  f_->requests.Add({{"model", model}, {"method", method}, {"code", code}}).Increment();
}

void ServiceMetrics::RecordTurn(const std::string& model, const TurnStats& turn) {
  f_->turns.Add({{"model", model}, {"outcome", turn.outcome}}).Increment();
  if (turn.outcome != "committed") return;
  if (turn.rebuilt) f_->turns_rebuilt.Add({{"model", model}}).Increment();
  if (turn.memory_fallback) f_->memory_fallbacks.Add({{"model", model}, {"section", "memory"}}).Increment();
  if (turn.plans_fallback) f_->memory_fallbacks.Add({{"model", model}, {"section", "plans"}}).Increment();
  for (const auto& [phase, seconds] : turn.phases) {
    f_->turn_phase.Add({{"model", model}, {"phase", phase}}, kE2eBuckets).Observe(seconds);
  }
}

void ServiceMetrics::SetReady(bool ready) { f_->ready.Add({}).Set(ready ? 1 : 0); }

std::string ServiceMetrics::Serialize() const { return prometheus::TextSerializer().Serialize(registry_->Collect()); }

const std::shared_ptr<prometheus::Registry>& ServiceMetrics::registry() const { return registry_; }

}  // namespace rs::service
