// The gRPC server around InferenceService: listening (TLS / mTLS or
// plaintext), grpc.health.v1, server reflection, message-size and keepalive
// limits, the Prometheus endpoint, and graceful drain.
//
// Life cycle: Start() listens at once with health NOT_SERVING and every
// Inference RPC answering UNAVAILABLE "loading"; the caller adds models
// (models().Add) and calls SetServing(). Drain() (on SIGTERM) sets health
// NOT_SERVING, answers new RPCs with UNAVAILABLE and, after kDrainNotice,
// stops listening (new connections are refused, so a proxy in front, e.g.
// nginx, sends new requests to another replica; probes fail to connect),
// lets streams in flight finish until the drain deadline, then cancels what
// is left (UNAVAILABLE) and shuts down. A client holding a grpc.health.v1
// Watch open keeps the shutdown waiting until the drain deadline.
//
// Health service names: "" (the server), "recurrent.v1.Inference", and
// "recurrent.v1.Inference/<model>" per model.
//
// Thread-safety: every method may be called from any thread.
#pragma once

#include <chrono>
#include <cstdio>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "engine/util/status.h"
#include "service/auth.h"
#include "service/inference_service.h"
#include "service/metrics_http.h"
#include "service/model_registry.h"
#include "service/prometheus_metrics.h"
#include "service/request_log.h"

namespace grpc {
class Server;
class Service;
}  // namespace grpc

namespace rs::service {

// A service served beside Inference (recurrent.v1.Sessions): it shares the
// admission (accepting, tenants), health and drain of the server.
class ServiceAddon {
 public:
  virtual ~ServiceAddon() = default;
  virtual grpc::Service* service() = 0;
  // Its grpc.health.v1 name ("recurrent.v1.Sessions"), SERVING with the server.
  virtual std::string health_name() const = 0;
  virtual int64_t in_flight() const = 0;
  virtual bool WaitNoneInFlight(std::chrono::steady_clock::time_point deadline) = 0;
};
// Builds the addon once the registry, admission, log and metrics exist.
using AddonFactory = std::function<StatusOr<std::unique_ptr<ServiceAddon>>(
    ModelRegistry* models, const InferenceService* admission, const RequestLog* log, ServiceMetrics* metrics)>;

struct ServerOptions {
  std::string listen = "127.0.0.1:50051";          // host:port; port 0 picks a free one
  std::string metrics_listen = "127.0.0.1:9464";   // empty: no /metrics endpoint
  // PEM files. tls_cert + tls_key: TLS; with tls_client_ca also: clients
  // must present a certificate signed by it (mTLS).
  std::string tls_cert, tls_key, tls_client_ca;
  std::string api_keys_file;  // empty: no authentication
  int max_message_bytes = 16 << 20;
  int keepalive_time_ms = 30000;     // server pings an idle connection this often
  int keepalive_timeout_ms = 10000;  // and drops it when no ack comes within this
  int min_client_ping_interval_ms = 10000;  // clients may ping this often
  std::FILE* request_log = stderr;  // null: no per-request log lines
  AddonFactory addon;               // empty: Inference only
};

class Server {
 public:
  static StatusOr<std::unique_ptr<Server>> Start(const ServerOptions& options);
  ~Server();  // Shutdown()

  ModelRegistry& models() { return *models_; }
  ServiceMetrics& metrics() { return *metrics_; }
  InferenceService& service() { return *service_; }
  int port() const { return port_; }
  int metrics_port() const { return metrics_port_; }
  bool auth_enabled() const { return keys_ != nullptr; }
  bool tls_enabled() const { return tls_; }

  // Health SERVING for the server, the service and each model; RPCs accepted.
  void SetServing();
  // Drains as described above; returns the number of streams still in flight
  // at the deadline (cancelled). Idempotent.
  int Drain(std::chrono::milliseconds drain_time);
  // Stops at once: schedulers cancel everything, the server shuts down.
  void Shutdown();

 private:
  Server() = default;
  ServerOptions options_;
  std::unique_ptr<ServiceMetrics> metrics_;
  std::unique_ptr<ModelRegistry> models_;
  std::unique_ptr<ApiKeys> keys_;
  std::unique_ptr<RequestLog> log_;
  std::unique_ptr<InferenceService> service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<ServiceAddon> addon_;  // destroyed first (after Shutdown)
  std::unique_ptr<MetricsHttpServer> metrics_http_;
  int port_ = 0;
  int metrics_port_ = 0;
  bool tls_ = false;
  std::mutex mu_;
  bool shut_down_ = false;
  std::thread stop_listening_;  // Drain's grpc::Server::Shutdown(drain deadline)
};

// How long a draining server still listens (answering UNAVAILABLE) before
// it closes its listener.
inline constexpr std::chrono::milliseconds kDrainNotice{500};

// The largest certificate / key file read (rs::ReadFileBounded's bound).
inline constexpr size_t kMaxPemBytes = 1 << 20;

}  // namespace rs::service
