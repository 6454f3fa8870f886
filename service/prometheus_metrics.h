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
