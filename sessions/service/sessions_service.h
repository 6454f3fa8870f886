// recurrent.v1.Sessions on gRPC's callback API (issue #6): RecurrentGPT
// conversations kept in a SessionStore, their turns run by TurnRunner over
// the served models' schedulers.
//
// Every RPC: admission (the server accepting, the caller's tenant by API
// key, as for Inference), then its work on a small pool of worker threads
// (store calls block on disk or network; gRPC's threads never do). A Turn
// streams its reply through a reactor with one write in flight (text that
// arrives meanwhile is merged), then one TurnResult. A client that goes away
// does not cancel the turn: it completes and commits, and a retry with the
// same request_id replays it.
//
// Status codes: as sessions.proto says; RESOURCE_EXHAUSTED when
// max_turns_in_flight turns run already.
//
// A heartbeat thread renews the replica's lease in the store (options).
//
// Thread-safety: gRPC calls the handlers from its threads; WaitNoneInFlight
// from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "recurrent/v1/sessions.grpc.pb.h"
#include "service/inference_service.h"
#include "service/model_registry.h"
#include "service/prometheus_metrics.h"
#include "service/request_log.h"
#include "service/server.h"
#include "sessions/core/turn_runner.h"
#include "sessions/store/session_store.h"

namespace rs::sessions {

struct SessionsServiceOptions {
  std::string owner = "local";  // this replica's name in the store
  // This replica's lease in the store, renewed every third of it while the
  // service runs and given up when it stops (session_store.h, "Replica
  // leases"): how long a turn this replica left pending by dying blocks its
  // session. 0: no heartbeats (its pending turns block until it restarts).
  int64_t replica_lease_ms = 10'000;
  int worker_threads = 8;        // blocking store work of unary calls
  int max_turns_in_flight = 32;  // turns at once (each holds a thread of its own)
  size_t max_message_bytes = 32 << 10;
  size_t max_system_prompt_bytes = 64 << 10;
  size_t max_memory_text_bytes = 16 << 10;
};

// CreateSession, Turn, EditMemory and Import carry user text: they take raw
// bytes and parse them here, so invalid UTF-8 is INVALID_ARGUMENT
// (service/raw_message.h) rather than gRPC's generic parse failure.
namespace sessions_internal {
namespace pb = recurrent::v1;
using Base = pb::Sessions::WithRawCallbackMethod_CreateSession<pb::Sessions::WithRawCallbackMethod_Turn<
    pb::Sessions::WithRawCallbackMethod_EditMemory<pb::Sessions::WithRawCallbackMethod_Import<
        pb::Sessions::CallbackService>>>>;
}  // namespace sessions_internal

class SessionsService final : public sessions_internal::Base {
 public:
  // All pointers must outlive the service; `log` and `metrics` may be null.
  // `admission` decides whether RPCs are accepted and who the caller is.
  // Every RPC counts in recurrent_requests_total; turns also in the
  // recurrent_session_* metrics (prometheus_metrics.h).
  SessionsService(service::ModelRegistry* models, const service::InferenceService* admission,
                  SessionStore* store, const service::RequestLog* log, service::ServiceMetrics* metrics,
                  SessionsServiceOptions options);
  ~SessionsService() override;  // waits for the workers

  // Turns and unary calls in flight.
  int64_t in_flight() const { return in_flight_.load(); }
  bool WaitNoneInFlight(std::chrono::steady_clock::time_point deadline);

  using ServerContext = grpc::CallbackServerContext;
  // Serialized CreateSessionRequest in, Session out.
  grpc::ServerUnaryReactor* CreateSession(ServerContext* ctx, const grpc::ByteBuffer* req,
                                          grpc::ByteBuffer* resp) override;
  grpc::ServerUnaryReactor* GetSession(ServerContext* ctx, const recurrent::v1::GetSessionRequest* req,
                                       recurrent::v1::Session* resp) override;
  grpc::ServerUnaryReactor* ListSessions(ServerContext* ctx, const recurrent::v1::ListSessionsRequest* req,
                                         recurrent::v1::ListSessionsResponse* resp) override;
  grpc::ServerUnaryReactor* DeleteSession(ServerContext* ctx, const recurrent::v1::DeleteSessionRequest* req,
                                          recurrent::v1::DeleteSessionResponse* resp) override;
  // Serialized TurnRequest in, TurnResponse messages out.
  grpc::ServerWriteReactor<grpc::ByteBuffer>* Turn(ServerContext* ctx, const grpc::ByteBuffer* req) override;
  grpc::ServerUnaryReactor* GetMemory(ServerContext* ctx, const recurrent::v1::GetMemoryRequest* req,
                                      recurrent::v1::Memory* resp) override;
  // Serialized EditMemoryRequest in, Memory out.
  grpc::ServerUnaryReactor* EditMemory(ServerContext* ctx, const grpc::ByteBuffer* req,
                                       grpc::ByteBuffer* resp) override;
  grpc::ServerUnaryReactor* Rollback(ServerContext* ctx, const recurrent::v1::RollbackRequest* req,
                                     recurrent::v1::Session* resp) override;
  grpc::ServerUnaryReactor* Fork(ServerContext* ctx, const recurrent::v1::ForkRequest* req,
                                 recurrent::v1::Session* resp) override;
  grpc::ServerUnaryReactor* Export(ServerContext* ctx, const recurrent::v1::ExportRequest* req,
                                   recurrent::v1::ExportResponse* resp) override;
  // Serialized ImportRequest in, Session out.
  grpc::ServerUnaryReactor* Import(ServerContext* ctx, const grpc::ByteBuffer* req, grpc::ByteBuffer* resp) override;

  class TurnCall;  // one Turn stream (sessions_service.cc)

 private:
  // Admission, then `work(tenant)` on a worker; its status finishes the call.
  grpc::ServerUnaryReactor* Unary(ServerContext* ctx, const char* method,
                                  std::function<Status(const service::Tenant&)> work);
  // The same for a raw method: parses the request (INVALID_ARGUMENT if it
  // does not parse), runs work(tenant, request, &response), serializes the
  // response.
  template <typename Req, typename Resp>
  grpc::ServerUnaryReactor* RawUnary(ServerContext* ctx, const char* method, const grpc::ByteBuffer* in,
                                     grpc::ByteBuffer* out,
                                     std::function<Status(const service::Tenant&, const Req&, Resp*)> work);
  void Post(std::function<void()> task);
  void WorkerLoop();
  void HeartbeatLoop();
  void Done();
  // The turn model and runner of a served model (created on first use);
  // NOT_FOUND for an unknown model, INVALID_ARGUMENT for one without a
  // tokenizer.
  struct PerModel {
    TurnModel* model;
    TurnRunner* runner;
  };
  StatusOr<PerModel> ForModel(const std::string& model);
  Status FillMemory(const std::string& tenant, const std::string& id, recurrent::v1::Memory* out);
  // Logs and counts one finished RPC.
  void Log(const service::RequestLogEntry& entry) const;

  service::ModelRegistry* models_;
  const service::InferenceService* admission_;
  SessionStore* store_;
  const service::RequestLog* log_;
  service::ServiceMetrics* metrics_;
  SessionsServiceOptions options_;

  std::mutex runners_mu_;
  std::map<std::string, std::pair<std::unique_ptr<TurnModel>, std::unique_ptr<TurnRunner>>> per_model_;

  std::mutex mu_;
  std::condition_variable cv_;       // work queued / stopping
  std::condition_variable idle_cv_;  // in_flight_ reached 0
  std::deque<std::function<void()>> queue_;
  bool stopping_ = false;
  std::vector<std::thread> workers_;
  std::condition_variable heartbeat_cv_;  // stopping
  std::thread heartbeat_;
  std::atomic<int64_t> in_flight_{0};
  std::atomic<int> turns_in_flight_{0};
};

}  // namespace rs::sessions

namespace rs::sessions {

// The server addon (service/server.h) that serves recurrent.v1.Sessions over
// `store`, which must outlive it.
service::AddonFactory SessionsAddonFactory(SessionStore* store, SessionsServiceOptions options);

}  // namespace rs::sessions
