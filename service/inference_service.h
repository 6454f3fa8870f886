// recurrent.v1.Inference on gRPC's callback API: many concurrent streams
// without a thread each.
//
// Generate: authenticate (when keys are configured) -> find the model ->
// validate (request_validation.h) -> per-tenant concurrency limit -> submit
// to the model's scheduler. The scheduler's Sink (engine thread) only queues
// output; at most one write per stream is in flight, and chunks that arrive
// meanwhile are merged into the next write, so a slow client never blocks
// the engine. A client that cancels or disconnects has its request cancelled
// (its state slot is freed at the next engine iteration). The call's
// deadline becomes the request's deadline.
//
// Status codes: INVALID_ARGUMENT (bad request), NOT_FOUND (unknown model),
// UNAUTHENTICATED / PERMISSION_DENIED, RESOURCE_EXHAUSTED (queue full, or the
// tenant's concurrency limit; answered without touching the engine),
// DEADLINE_EXCEEDED, CANCELLED, UNAVAILABLE (loading or draining).
//
// Every RPC ends with one RequestLog line and one
// recurrent_requests_total{model,method,code} increment.
//
// Thread-safety: gRPC calls the handlers from its threads; SetAccepting,
// in_flight and ForceShutdown may be called from any thread.
#pragma once

#include <atomic>
#include <condition_variable>
#include <map>
#include <mutex>
#include <string>

#include "recurrent/v1/inference.grpc.pb.h"
#include "service/auth.h"
#include "service/model_registry.h"
#include "service/prometheus_metrics.h"
#include "service/request_log.h"

namespace rs::service {

// Generate and Tokenize take raw bytes and parse them here, so that a request
// protobuf refuses (a string field with invalid UTF-8, malformed bytes) is
// INVALID_ARGUMENT rather than gRPC's generic failure.
using InferenceServiceBase = recurrent::v1::Inference::WithRawCallbackMethod_Generate<
    recurrent::v1::Inference::WithRawCallbackMethod_Tokenize<recurrent::v1::Inference::CallbackService>>;

class InferenceService final : public InferenceServiceBase {
 public:
  // `keys` null: no authentication (every caller is the tenant "default").
  // All pointers must outlive the service; `metrics` and `log` may be null.
  InferenceService(ModelRegistry* models, ServiceMetrics* metrics, const ApiKeys* keys, const RequestLog* log);

  // While false, every RPC gets UNAVAILABLE with `why` ("loading",
  // "draining").
  void SetAccepting(bool accepting, const std::string& why);
  bool accepting() const {
    std::lock_guard<std::mutex> l(mu_);
    return accepting_;
  }
  // Generate streams in flight.
  int64_t in_flight() const { return in_flight_.load(); }
  // Waits until no stream is in flight or `deadline`; true if none is.
  bool WaitNoneInFlight(std::chrono::steady_clock::time_point deadline);
  // From now on a cancelled stream ends with UNAVAILABLE "server shutting
  // down" (the drain deadline passed) instead of CANCELLED.
  void MarkShuttingDown() { shutting_down_ = true; }

  // Serialized recurrent.v1.GenerateRequest in, GenerateResponse out.
  grpc::ServerWriteReactor<grpc::ByteBuffer>* Generate(grpc::CallbackServerContext* ctx,
                                                       const grpc::ByteBuffer* request) override;
  // Serialized TokenizeRequest in, TokenizeResponse out.
  grpc::ServerUnaryReactor* Tokenize(grpc::CallbackServerContext* ctx, const grpc::ByteBuffer* request,
                                     grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* Detokenize(grpc::CallbackServerContext* ctx,
                                       const recurrent::v1::DetokenizeRequest* request,
                                       recurrent::v1::DetokenizeResponse* response) override;
  grpc::ServerUnaryReactor* ListModels(grpc::CallbackServerContext* ctx,
                                       const recurrent::v1::ListModelsRequest* request,
                                       recurrent::v1::ListModelsResponse* response) override;

  // Admission common to every RPC (also the Sessions service's): accepting,
  // then the caller's tenant (UNAVAILABLE, UNAUTHENTICATED).
  Status Admit(grpc::CallbackServerContext* ctx, const Tenant** tenant) const;

  class GenerateCall;  // one Generate stream (inference_service.cc)

 private:
  friend class GenerateCall;
  // Tokenize / Detokenize: admission, the model (NOT_FOUND), the tenant's
  // permission, and a tokenizer (INVALID_ARGUMENT without one).
  StatusOr<ServedModel*> TokenizerModel(grpc::CallbackServerContext* ctx, const std::string& model,
                                        RequestLogEntry* entry);
  // Per-tenant concurrency: RESOURCE_EXHAUSTED when at its limit.
  Status AcquireTenant(const Tenant* tenant);
  void ReleaseTenant(const Tenant* tenant);
  // Counts and logs one finished RPC.
  void Record(const RequestLogEntry& entry);
  grpc::ServerUnaryReactor* FinishUnary(grpc::CallbackServerContext* ctx, RequestLogEntry entry,
                                        const Status& status);
  void StreamDone();

  ModelRegistry* models_;
  ServiceMetrics* metrics_;
  const ApiKeys* keys_;
  const RequestLog* log_;
  Tenant default_tenant_;

  mutable std::mutex mu_;
  bool accepting_ = false;
  std::string not_accepting_why_ = "loading";
  std::map<std::string, int> tenant_in_flight_;
  std::condition_variable idle_cv_;
  std::atomic<int64_t> in_flight_{0};
  std::atomic<bool> shutting_down_{false};
  std::atomic<uint64_t> seed_counter_;
};

// rs::Status -> grpc::Status (same code numbers) and the code's name.
grpc::Status ToGrpc(const Status& status);
const char* GrpcCodeName(grpc::StatusCode code);

}  // namespace rs::service
