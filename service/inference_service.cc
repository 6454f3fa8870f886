#include "service/inference_service.h"

#include <chrono>
#include <memory>
#include <optional>
#include <random>

#include "engine/util/utf8.h"
#include "service/raw_message.h"

namespace rs::service {

using recurrent::v1::GenerateRequest;
using recurrent::v1::GenerateResponse;

grpc::Status ToGrpc(const Status& status) {
  if (status.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), status.message());
}

const char* GrpcCodeName(grpc::StatusCode code) { return StatusCodeName(static_cast<StatusCode>(code)); }

namespace {

uint64_t SplitMix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

double Since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

// One Generate stream. Lives until both gRPC (OnDone) and the scheduler (the
// sink, released after OnFinish) are done with it: each holds a shared_ptr.
class InferenceService::GenerateCall final : public grpc::ServerWriteReactor<grpc::ByteBuffer>,
                                             public std::enable_shared_from_this<GenerateCall> {
 public:
  GenerateCall(InferenceService* svc, grpc::CallbackServerContext* ctx) : svc_(svc), ctx_(ctx) {
    start_ = std::chrono::steady_clock::now();
    entry_.method = "Generate";
    entry_.peer = ctx->peer();
  }

  void Start(const GenerateRequest* req);

  void OnWriteDone(bool ok) override {
    {
      std::lock_guard<std::mutex> l(mu_);
      writing_ = false;
      if (!ok) broken_ = true;
    }
    if (!ok) CancelInScheduler();
    Pump();
  }

  void OnCancel() override { CancelInScheduler(); }

  void OnDone() override {
    svc_->Record(entry_);
    if (tenant_acquired_) svc_->ReleaseTenant(tenant_);
    svc_->StreamDone();
    self_.reset();  // may destroy *this
  }

  // Sink side (the scheduler's engine thread).
  void PushChunk(const scheduler::TokenChunk& chunk) {
    {
      std::lock_guard<std::mutex> l(mu_);
      if (broken_ || end_status_) return;
      auto* c = pending_.mutable_chunk();
      c->mutable_text()->append(chunk.text);
      for (int32_t t : chunk.token_ids) c->add_token_ids(t);
      if (want_logprobs_) {
        for (size_t i = 0; i < chunk.token_ids.size(); ++i) {
          auto* lp = c->add_logprobs();
          lp->set_token_id(chunk.token_ids[i]);
          if (i < chunk.logprobs.size()) lp->set_logprob(chunk.logprobs[i]);
          if (i < chunk.top_logprobs.size()) {
            for (const auto& [id, logprob] : chunk.top_logprobs[i]) {
              auto* top = lp->add_top();
              top->set_token_id(id);
              top->set_logprob(logprob);
            }
          }
        }
      }
      has_pending_ = true;
    }
    Pump();
  }

  void PushFinish(const scheduler::Result& r) {
    {
      std::lock_guard<std::mutex> l(mu_);
      entry_.finish_reason = engine::FinishReasonName(r.finish_reason);
      entry_.prompt_tokens = r.prompt_tokens;
      entry_.cached_tokens = r.cached_tokens;
      entry_.generated_tokens = r.generated_tokens;
      entry_.queue_seconds = r.queue_seconds;
      entry_.ttft_seconds = r.ttft_seconds;
      entry_.total_seconds = Since(start_);
      Status status;
      switch (r.finish_reason) {
        case engine::FinishReason::kStop:
        case engine::FinishReason::kLength:
          break;
        case engine::FinishReason::kDeadline:
          status = DeadlineExceededError("the request's deadline passed");
          break;
        case engine::FinishReason::kCancelled:
          status = svc_->shutting_down_ ? UnavailableError("the server is shutting down")
                                        : CancelledError("the request was cancelled");
          break;
        case engine::FinishReason::kError:
          status = r.error.ok() ? InternalError("the request failed") : r.error;
          break;
      }
      if (status.ok() || r.finish_reason == engine::FinishReason::kDeadline) {
        GenerateResponse final_msg;
        final_msg.set_request_id(request_id_);
        auto* f = final_msg.mutable_final();
        f->set_finish_reason(entry_.finish_reason);
        f->mutable_usage()->set_prompt_tokens(r.prompt_tokens);
        f->mutable_usage()->set_cached_tokens(r.cached_tokens);
        f->mutable_usage()->set_generated_tokens(r.generated_tokens);
        f->mutable_timings()->set_queue_seconds(r.queue_seconds);
        f->mutable_timings()->set_time_to_first_token_seconds(r.ttft_seconds);
        f->mutable_timings()->set_total_seconds(r.total_seconds);
        f->set_seed(seed_);
        f->set_model(entry_.model);
        final_ = std::move(final_msg);
      } else {
        has_pending_ = false;  // the stream ends with an error: drop unsent text
        pending_.Clear();
      }
      end_status_ = status;
    }
    Pump();
  }

  // Ends the call before anything reached the scheduler.
  void Reject(const Status& status) {
    {
      std::lock_guard<std::mutex> l(mu_);
      end_status_ = status;
    }
    Pump();
  }

  std::shared_ptr<GenerateCall> self_;  // gRPC's reference, dropped in OnDone

 private:
  enum class Op { kNone, kWrite, kWriteAndFinish, kFinish };

  // Starts the next write or the finish, if one is due and none is in flight.
  // Runs outside the lock: reactor operations may trigger reactions at once
  // on other threads, which take the lock themselves.
  void Pump() {
    Op op = Op::kNone;
    grpc::Status status;
    {
      std::lock_guard<std::mutex> l(mu_);
      if (writing_ || finish_called_) return;
      if (broken_) {
        if (!end_status_) return;  // wait for the scheduler to confirm the cancel
        op = Op::kFinish;
      } else if (has_pending_) {
        pending_.set_request_id(request_id_);
        Serialize(pending_);
        pending_.Clear();
        has_pending_ = false;
        op = Op::kWrite;
      } else if (final_) {
        Serialize(*final_);
        final_.reset();
        op = Op::kWriteAndFinish;
      } else if (end_status_) {
        op = Op::kFinish;
      }
      if (op == Op::kNone) return;
      if (op == Op::kWrite) writing_ = true;
      if (op != Op::kWrite) {
        finish_called_ = true;
        status = ToGrpc(end_status_ ? *end_status_ : Status());
        entry_.code = GrpcCodeName(status.error_code());
        entry_.message = status.error_message();
        if (entry_.total_seconds == 0) entry_.total_seconds = Since(start_);
      }
    }
    switch (op) {
      case Op::kWrite:
        StartWrite(&inflight_);
        break;
      case Op::kWriteAndFinish:
        StartWriteAndFinish(&inflight_, grpc::WriteOptions(), status);
        break;
      case Op::kFinish:
        Finish(status);
        break;
      case Op::kNone:
        break;
    }
  }

  void Serialize(const GenerateResponse& msg) {
    bool own = false;
    inflight_.Clear();
    grpc::SerializationTraits<GenerateResponse>::Serialize(msg, &inflight_, &own);
  }

  void CancelInScheduler() {
    std::lock_guard<std::mutex> l(mu_);
    cancel_requested_ = true;
    if (handle_ != 0) model_->scheduler->Cancel(handle_);
  }

  InferenceService* svc_;
  grpc::CallbackServerContext* ctx_;
  std::chrono::steady_clock::time_point start_;
  const Tenant* tenant_ = nullptr;
  bool tenant_acquired_ = false;
  ServedModel* model_ = nullptr;
  std::string request_id_;
  uint64_t seed_ = 0;
  bool want_logprobs_ = false;

  std::mutex mu_;
  RequestLogEntry entry_;
  scheduler::Scheduler::Handle handle_ = 0;
  bool cancel_requested_ = false;
  bool writing_ = false;
  bool finish_called_ = false;
  bool broken_ = false;  // a write failed: the client is gone
  bool has_pending_ = false;
  GenerateResponse pending_;
  grpc::ByteBuffer inflight_;
  std::optional<GenerateResponse> final_;
  std::optional<Status> end_status_;
};

namespace {

// The scheduler's view of a call.
class CallSink final : public scheduler::Sink {
 public:
  explicit CallSink(std::shared_ptr<InferenceService::GenerateCall> call) : call_(std::move(call)) {}
  void OnChunk(const scheduler::TokenChunk& chunk) override;
  void OnFinish(const scheduler::Result& result) override;

 private:
  std::shared_ptr<InferenceService::GenerateCall> call_;
};

}  // namespace

void InferenceService::GenerateCall::Start(const GenerateRequest* req) {
  request_id_ = req->request_id().substr(0, kMaxIdBytes);
  entry_.request_id = request_id_;
  entry_.session_id = req->session_id().substr(0, kMaxIdBytes);
  entry_.model = req->model().substr(0, kMaxIdBytes);
  if (Status s = svc_->Admit(ctx_, &tenant_); !s.ok()) return Reject(s);
  entry_.tenant = tenant_->name;
  auto model = svc_->models_->Find(req->model());
  if (!model.ok()) return Reject(model.status());
  model_ = *model;
  entry_.model = model_->name;
  if (Status s = tenant_->Allows(model_->name); !s.ok()) return Reject(s);
  const uint64_t random_seed = SplitMix64(svc_->seed_counter_.fetch_add(1));
  auto request = BuildSchedulerRequest(*req, model_->validation, random_seed);
  if (!request.ok()) return Reject(request.status());
  seed_ = request->params.seed;
  want_logprobs_ = req->logprobs() || req->top_logprobs() > 0;
  request->tenant = tenant_->name;
  const auto deadline = ctx_->deadline();
  const auto now_sys = std::chrono::system_clock::now();
  if (deadline < now_sys + std::chrono::hours(24 * 365)) {
    request->deadline = std::chrono::steady_clock::now() +
                        std::chrono::duration_cast<std::chrono::steady_clock::duration>(deadline - now_sys);
  }
  if (Status s = svc_->AcquireTenant(tenant_); !s.ok()) return Reject(s);
  tenant_acquired_ = true;
  auto handle = model_->scheduler->Submit(std::move(*request), std::make_shared<CallSink>(shared_from_this()));
  if (!handle.ok()) return Reject(handle.status());
  std::lock_guard<std::mutex> l(mu_);
  handle_ = *handle;
  if (cancel_requested_) model_->scheduler->Cancel(handle_);
}

void CallSink::OnChunk(const scheduler::TokenChunk& chunk) { call_->PushChunk(chunk); }
void CallSink::OnFinish(const scheduler::Result& result) { call_->PushFinish(result); }

InferenceService::InferenceService(ModelRegistry* models, ServiceMetrics* metrics, const ApiKeys* keys,
                                   const RequestLog* log)
    : models_(models),
      metrics_(metrics),
      keys_(keys),
      log_(log),
      seed_counter_((static_cast<uint64_t>(std::random_device{}()) << 32) ^ std::random_device{}()) {
  default_tenant_.name = "default";
}

void InferenceService::SetAccepting(bool accepting, const std::string& why) {
  std::lock_guard<std::mutex> l(mu_);
  accepting_ = accepting;
  not_accepting_why_ = why;
}

bool InferenceService::WaitNoneInFlight(std::chrono::steady_clock::time_point deadline) {
  std::unique_lock<std::mutex> l(mu_);
  return idle_cv_.wait_until(l, deadline, [&] { return in_flight_.load() == 0; });
}

void InferenceService::StreamDone() {
  std::lock_guard<std::mutex> l(mu_);
  if (in_flight_.fetch_sub(1) == 1) idle_cv_.notify_all();
}

Status InferenceService::Admit(grpc::CallbackServerContext* ctx, const Tenant** tenant) const {
  {
    std::lock_guard<std::mutex> l(mu_);
    if (!accepting_) return UnavailableError("the server is " + not_accepting_why_);
  }
  if (keys_ == nullptr) {
    *tenant = &default_tenant_;
    return OkStatus();
  }
  const auto& md = ctx->client_metadata();
  auto it = md.find("authorization");
  std::string_view value;
  if (it != md.end()) value = std::string_view(it->second.data(), it->second.size());
  RS_ASSIGN_OR_RETURN(*tenant, keys_->Authenticate(value));
  return OkStatus();
}

Status InferenceService::AcquireTenant(const Tenant* tenant) {
  if (tenant->max_concurrent <= 0) return OkStatus();
  std::lock_guard<std::mutex> l(mu_);
  int& n = tenant_in_flight_[tenant->name];
  if (n >= tenant->max_concurrent) {
    return ResourceExhaustedError("tenant '" + tenant->name + "' is at its limit of " +
                                  std::to_string(tenant->max_concurrent) + " concurrent requests");
  }
  ++n;
  return OkStatus();
}

void InferenceService::ReleaseTenant(const Tenant* tenant) {
  if (tenant->max_concurrent <= 0) return;
  std::lock_guard<std::mutex> l(mu_);
  --tenant_in_flight_[tenant->name];
}

void InferenceService::Record(const RequestLogEntry& entry) {
  if (metrics_ != nullptr) metrics_->CountRequest(entry.model, entry.method, entry.code);
  if (log_ != nullptr) log_->Write(entry);
}

grpc::ServerWriteReactor<grpc::ByteBuffer>* InferenceService::Generate(grpc::CallbackServerContext* ctx,
                                                                       const grpc::ByteBuffer* bytes) {
  in_flight_.fetch_add(1);
  auto call = std::make_shared<GenerateCall>(this, ctx);
  call->self_ = call;
  GenerateRequest request;
  if (Status s = ParseRequest(bytes, &request); !s.ok()) {
    call->Reject(s);
  } else {
    call->Start(&request);
  }
  return call.get();
}

StatusOr<ServedModel*> InferenceService::TokenizerModel(grpc::CallbackServerContext* ctx, const std::string& model,
                                                        RequestLogEntry* entry) {
  const Tenant* tenant = nullptr;
  RS_RETURN_IF_ERROR(Admit(ctx, &tenant));
  entry->tenant = tenant->name;
  RS_ASSIGN_OR_RETURN(ServedModel * m, models_->Find(model));
  entry->model = m->name;
  RS_RETURN_IF_ERROR(tenant->Allows(m->name));
  if (m->tokenizer == nullptr) return InvalidArgumentError("model '" + m->name + "' has no tokenizer");
  return m;
}

grpc::ServerUnaryReactor* InferenceService::FinishUnary(grpc::CallbackServerContext* ctx, RequestLogEntry entry,
                                                        const Status& status) {
  const grpc::Status g = ToGrpc(status);
  entry.peer = ctx->peer();
  entry.code = GrpcCodeName(g.error_code());
  entry.message = g.error_message();
  Record(entry);
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  reactor->Finish(g);
  return reactor;
}

grpc::ServerUnaryReactor* InferenceService::Tokenize(grpc::CallbackServerContext* ctx, const grpc::ByteBuffer* bytes,
                                                     grpc::ByteBuffer* response_bytes) {
  const auto t0 = std::chrono::steady_clock::now();
  RequestLogEntry entry;
  entry.method = "Tokenize";
  recurrent::v1::TokenizeRequest request_msg;
  recurrent::v1::TokenizeResponse response_msg;
  const recurrent::v1::TokenizeRequest* request = &request_msg;
  recurrent::v1::TokenizeResponse* response = &response_msg;
  auto run = [&]() -> Status {
    RS_RETURN_IF_ERROR(ParseRequest(bytes, &request_msg));
    RS_ASSIGN_OR_RETURN(ServedModel * m, TokenizerModel(ctx, request->model(), &entry));
    if (static_cast<int64_t>(request->text().size()) > m->validation.max_prompt_tokens * 64) {
      return InvalidArgumentError("text is " + std::to_string(request->text().size()) + " bytes: over the limit");
    }
    RS_ASSIGN_OR_RETURN(std::vector<int32_t> ids, m->tokenizer->Encode(request->text()));
    for (int32_t id : ids) response->add_token_ids(id);
    entry.prompt_tokens = static_cast<int64_t>(ids.size());
    return SerializeResponse(response_msg, response_bytes);
  };
  const Status s = run();
  entry.total_seconds = Since(t0);
  return FinishUnary(ctx, std::move(entry), s);
}

grpc::ServerUnaryReactor* InferenceService::Detokenize(grpc::CallbackServerContext* ctx,
                                                       const recurrent::v1::DetokenizeRequest* request,
                                                       recurrent::v1::DetokenizeResponse* response) {
  const auto t0 = std::chrono::steady_clock::now();
  RequestLogEntry entry;
  entry.method = "Detokenize";
  auto run = [&]() -> Status {
    RS_ASSIGN_OR_RETURN(ServedModel * m, TokenizerModel(ctx, request->model(), &entry));
    const std::span<const int32_t> ids(request->token_ids().data(), request->token_ids().size());
    RS_RETURN_IF_ERROR(CheckTokenIds(ids, m->validation.vocab_size, "token_ids"));
    const std::string text = m->tokenizer->Decode(ids);
    response->set_text(utf8::Sanitize(text));
    return OkStatus();
  };
  const Status s = run();
  entry.total_seconds = Since(t0);
  return FinishUnary(ctx, std::move(entry), s);
}

grpc::ServerUnaryReactor* InferenceService::ListModels(grpc::CallbackServerContext* ctx,
                                                       const recurrent::v1::ListModelsRequest*,
                                                       recurrent::v1::ListModelsResponse* response) {
  RequestLogEntry entry;
  entry.method = "ListModels";
  auto run = [&]() -> Status {
    const Tenant* tenant = nullptr;
    RS_RETURN_IF_ERROR(Admit(ctx, &tenant));
    entry.tenant = tenant->name;
    const std::string default_name = models_->default_name();
    for (ServedModel* m : models_->List()) {
      if (!tenant->Allows(m->name).ok()) continue;
      const engine::ModelSpec& spec = m->model->spec();
      auto* info = response->add_models();
      info->set_name(m->name);
      info->set_architecture(engine::ArchName(spec.arch));
      info->set_vocab_size(spec.vocab_size);
      info->set_n_layers(spec.n_layer);
      info->set_d_model(spec.d_model);
      info->set_state_bytes(static_cast<int64_t>(spec.state.bytes_per_sequence()));
      info->set_max_seqs(m->options.max_seqs);
      info->set_device(spec.device);
      info->set_is_default(m->name == default_name);
      info->set_has_tokenizer(m->tokenizer != nullptr);
      info->set_max_tokens_limit(m->validation.max_tokens_limit);
      info->set_max_prompt_tokens(m->validation.max_prompt_tokens);
      info->set_weight_dtype(spec.weight_dtype);
    }
    return OkStatus();
  };
  return FinishUnary(ctx, std::move(entry), run());
}

}  // namespace rs::service
