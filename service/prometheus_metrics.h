// The server's Prometheus metrics (prometheus-cpp), served at /metrics on
// --metrics-listen.
//
// Names are recurrent_*, every series is labelled by `model`, and semantics
// follow vLLM's where one exists (so routers and dashboards built for vLLM
// read them): requests running / waiting, state-slot usage (vLLM's KV-cache
// usage), histograms of time to first token, inter-token latency, end-to-end
// latency and queue time, prompt / generation token counters, finished
// requests by reason. Ours: cached (state-restored) tokens, swaps, state-cache
// queries and hits, engine step duration and batch size, gRPC requests by
// method and status code. docs/api.md lists them all.
//
// Thread-safety: everything is thread-safe (prometheus-cpp metrics are).
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "scheduler/metrics.h"

namespace prometheus {
class Registry;
}

namespace rs::service {

class ServiceMetrics {
 public:
  ServiceMetrics();
  ~ServiceMetrics();
  ServiceMetrics(const ServiceMetrics&) = delete;
  ServiceMetrics& operator=(const ServiceMetrics&) = delete;

  // The scheduler::Metrics of one model (its series carry model="<name>").
  std::shared_ptr<scheduler::Metrics> ForModel(const std::string& model);

  // One finished RPC: recurrent_requests_total{model, method, code}, where
  // code is the gRPC status code name ("OK", "INVALID_ARGUMENT", ...).
  void CountRequest(const std::string& model, const std::string& method, const std::string& code);

  // One finished Sessions turn (recurrent.v1.Sessions/Turn):
  //   recurrent_session_turns_total{model, outcome}: outcome "committed",
  //     "replayed" (a retry of a committed request_id) or "failed";
  //   recurrent_session_turns_rebuilt_total{model}: committed turns whose
  //     state was rebuilt from the text memory (no usable snapshot);
  //   recurrent_session_memory_fallbacks_total{model, section}: committed
  //     turns whose "memory" update or STORY "plans" used the fallback;
  //   recurrent_session_turn_phase_seconds{model, phase}: where a committed
  //     turn's time went (begin, retrieval, reply, memory, plans, embed,
  //     commit).
  struct TurnStats {
    std::string outcome;
    bool rebuilt = false, memory_fallback = false, plans_fallback = false;
    // phase name -> seconds (committed turns only)
    std::vector<std::pair<const char*, double>> phases;
  };
  void RecordTurn(const std::string& model, const TurnStats& turn);

  // recurrent_server_ready: 1 while serving, 0 while loading or draining.
  void SetReady(bool ready);

  // The text exposition format of every metric (what /metrics returns).
  std::string Serialize() const;

  const std::shared_ptr<prometheus::Registry>& registry() const;

  struct Families;  // prometheus-cpp families (prometheus_metrics.cc)

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  std::unique_ptr<Families> f_;
};

}  // namespace rs::service
