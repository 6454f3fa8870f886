#include "sessions/service/sessions_service.h"

#include <chrono>
#include <optional>
#include <random>
#include <utility>

#include "service/raw_message.h"
#include "sessions/core/export_json.h"
#include "sessions/core/prompts.h"
#include "sessions/core/retrieval.h"
#include "sessions/service/scheduler_turn_model.h"

namespace rs::sessions {
namespace {

namespace pb = recurrent::v1;
using service::Tenant;
using service::ToGrpc;

double Since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// A random version-4 UUID.
std::string NewSessionId() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  const uint64_t a = rng(), b = rng();
  static const char* hex = "0123456789abcdef";
  std::string s;
  for (int i = 0; i < 32; ++i) {
    uint64_t v = i < 16 ? a >> (4 * i) : b >> (4 * (i - 16));
    int d = static_cast<int>(v & 15);
    if (i == 12) d = 4;
    if (i == 16) d = 8 | (d & 3);
    if (i == 8 || i == 12 || i == 16 || i == 20) s += '-';
    s += hex[d];
  }
  return s;
}

pb::SessionMode ModeToProto(SessionMode m) { return m == SessionMode::kStory ? pb::STORY : pb::CHAT; }

void ToProto(const SessionRecord& s, pb::Session* out) {
  out->set_session_id(s.id);
  out->set_model(s.model);
  out->set_mode(ModeToProto(s.mode));
  out->set_system_prompt(s.system_prompt);
  out->mutable_memory()->set_short_term_budget_tokens(s.memory.short_term_budget_tokens);
  out->mutable_memory()->set_retrieval_k(s.memory.retrieval_k);
  out->mutable_memory()->set_chat_template(s.memory.chat_template);
  out->set_turns(s.turns);
  out->set_created_unix_ms(s.created_ms);
  out->set_updated_unix_ms(s.updated_ms);
  out->set_forked_from(s.forked_from);
  out->set_forked_at_turn(s.forked_at_turn);
}

Status CheckSessionId(const std::string& id) {
  if (id.empty()) return InvalidArgumentError("session_id is empty");
  if (id.size() > 128) return InvalidArgumentError("session_id is longer than 128 bytes");
  return OkStatus();
}

}  // namespace

// One Turn stream. The task (a worker thread) pushes text and the result;
// gRPC's reactions pump writes. Both hold a reference; the last one frees it.
class SessionsService::TurnCall final : public grpc::ServerWriteReactor<grpc::ByteBuffer>,
                                        public std::enable_shared_from_this<TurnCall> {
 public:
  TurnCall(SessionsService* svc, grpc::CallbackServerContext* ctx) : svc_(svc) {
    entry_.method = "Sessions.Turn";
    entry_.peer = ctx->peer();
  }

  void OnWriteDone(bool ok) override {
    {
      std::lock_guard<std::mutex> l(mu_);
      writing_ = false;
      if (!ok) broken_ = true;
    }
    Pump();
  }
  void OnCancel() override {
    {
      std::lock_guard<std::mutex> l(mu_);
      broken_ = true;  // the turn runs on and commits; nothing more is sent
    }
    Pump();
  }
  void OnDone() override {
    svc_->Log(entry_);
    svc_->Done();
    self_.reset();  // may destroy *this
  }

  void PushText(std::string_view text) {
    {
      std::lock_guard<std::mutex> l(mu_);
      if (broken_ || end_) return;
      pending_text_.append(text);
    }
    Pump();
  }
  void PushResult(pb::TurnResult result) {
    {
      std::lock_guard<std::mutex> l(mu_);
      result_ = std::move(result);
      end_ = OkStatus();
    }
    Pump();
  }
  void Reject(const Status& status) {
    {
      std::lock_guard<std::mutex> l(mu_);
      entry_.code = StatusCodeName(status.code());
      entry_.message = status.message();
      pending_text_.clear();
      end_ = status;
    }
    Pump();
  }

  service::RequestLogEntry entry_;
  std::shared_ptr<TurnCall> self_;  // gRPC's reference, dropped in OnDone

 private:
  void Pump() {
    enum class Op { kNone, kWrite, kWriteLast, kFinish } op = Op::kNone;
    grpc::Status status;
    {
      std::lock_guard<std::mutex> l(mu_);
      if (writing_ || finished_) return;
      if (broken_) {
        if (!end_) return;  // the task still runs: finish when it is done
        op = Op::kFinish;
        status = grpc::Status(grpc::StatusCode::CANCELLED, "the client went away");
      } else if (!pending_text_.empty()) {
        msg_.Clear();
        msg_.set_text(std::move(pending_text_));
        pending_text_.clear();
        op = Op::kWrite;
      } else if (end_ && result_) {
        msg_.Clear();
        *msg_.mutable_result() = std::move(*result_);
        result_.reset();
        op = Op::kWriteLast;
        status = grpc::Status::OK;
      } else if (end_) {
        op = Op::kFinish;
        status = ToGrpc(*end_);
      }
      if (op == Op::kWrite) writing_ = true;
      if (op == Op::kWriteLast || op == Op::kFinish) finished_ = true;
    }
    if (op == Op::kWrite || op == Op::kWriteLast) {
      out_.Clear();
      if (!service::SerializeResponse(msg_, &out_).ok()) {
        op = Op::kFinish;
        status = grpc::Status(grpc::StatusCode::INTERNAL, "cannot serialize the response");
        std::lock_guard<std::mutex> l(mu_);
        writing_ = false;
        finished_ = true;
      }
    }
    switch (op) {
      case Op::kNone: break;
      case Op::kWrite: StartWrite(&out_); break;
      case Op::kWriteLast: StartWriteAndFinish(&out_, grpc::WriteOptions(), status); break;
      case Op::kFinish: Finish(status); break;
    }
  }

  SessionsService* svc_;
  std::mutex mu_;
  bool writing_ = false, finished_ = false, broken_ = false;
  std::string pending_text_;
  std::optional<pb::TurnResult> result_;
  std::optional<Status> end_;
  pb::TurnResponse msg_;     // the message being written (one in flight)
  grpc::ByteBuffer out_;     // its bytes
};

SessionsService::SessionsService(service::ModelRegistry* models, const service::InferenceService* admission,
                                 SessionStore* store, const service::RequestLog* log,
                                 service::ServiceMetrics* metrics, SessionsServiceOptions options)
    : models_(models),
      admission_(admission),
      store_(store),
      log_(log),
      metrics_(metrics),
      options_(std::move(options)) {
  // A turn holds a thread for its whole generation: max_turns_in_flight
  // threads for turns, worker_threads more so that unary calls never wait
  // behind them.
  const int n = std::max(1, options_.worker_threads) + std::max(0, options_.max_turns_in_flight);
  for (int i = 0; i < n; ++i) workers_.emplace_back([this] { WorkerLoop(); });
  if (options_.replica_lease_ms > 0) heartbeat_ = std::thread([this] { HeartbeatLoop(); });
}

SessionsService::~SessionsService() {
  {
    std::lock_guard<std::mutex> l(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  heartbeat_cv_.notify_all();
  for (std::thread& t : workers_) t.join();
  if (heartbeat_.joinable()) {
    heartbeat_.join();
    // Stopped cleanly: nothing of ours is pending any more, give the lease up.
    (void)store_->Heartbeat(options_.owner, 0);
  }
}

void SessionsService::HeartbeatLoop() {
  const auto period = std::chrono::milliseconds(std::max<int64_t>(options_.replica_lease_ms / 3, 1));
  bool failing = false;
  std::unique_lock<std::mutex> l(mu_);
  while (!stopping_) {
    l.unlock();
    const Status s = store_->Heartbeat(options_.owner, options_.replica_lease_ms);
    if (!s.ok() && !failing) {
      std::fprintf(stderr, "sessions: cannot renew the lease of replica %s: %s\n", options_.owner.c_str(),
                   s.ToString().c_str());
    }
    failing = !s.ok();
    l.lock();
    heartbeat_cv_.wait_for(l, period, [this] { return stopping_; });
  }
}

void SessionsService::Post(std::function<void()> task) {
  {
    std::lock_guard<std::mutex> l(mu_);
    queue_.push_back(std::move(task));
  }
  cv_.notify_one();
}

void SessionsService::WorkerLoop() {
  for (;;) {
    std::function<void()> task;
    {
      std::unique_lock<std::mutex> l(mu_);
      cv_.wait(l, [&] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping, nothing left
      task = std::move(queue_.front());
      queue_.pop_front();
    }
    task();
  }
}

void SessionsService::Done() {
  if (--in_flight_ == 0) {
    std::lock_guard<std::mutex> l(mu_);
    idle_cv_.notify_all();
  }
}

bool SessionsService::WaitNoneInFlight(std::chrono::steady_clock::time_point deadline) {
  std::unique_lock<std::mutex> l(mu_);
  return idle_cv_.wait_until(l, deadline, [&] { return in_flight_.load() == 0; });
}

void SessionsService::Log(const service::RequestLogEntry& entry) const {
  if (log_ != nullptr) log_->Write(entry);
  if (metrics_ != nullptr) metrics_->CountRequest(entry.model, entry.method, entry.code);
}

StatusOr<SessionsService::PerModel> SessionsService::ForModel(const std::string& model) {
  RS_ASSIGN_OR_RETURN(service::ServedModel * served, models_->Find(model));
  std::lock_guard<std::mutex> l(runners_mu_);
  auto it = per_model_.find(served->name);
  if (it == per_model_.end()) {
    if (served->tokenizer == nullptr) {
      return InvalidArgumentError("model \"" + served->name + "\" has no tokenizer: sessions need text");
    }
    auto turn_model = std::make_unique<SchedulerTurnModel>(served);
    TurnOptions o;
    o.owner = options_.owner;
    o.max_message_bytes = options_.max_message_bytes;
    auto runner = std::make_unique<TurnRunner>(store_, turn_model.get(), o);
    it = per_model_.emplace(served->name, std::make_pair(std::move(turn_model), std::move(runner))).first;
  }
  return PerModel{it->second.first.get(), it->second.second.get()};
}

grpc::ServerUnaryReactor* SessionsService::Unary(ServerContext* ctx, const char* method,
                                                 std::function<Status(const Tenant&)> work) {
  ++in_flight_;
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  auto entry = std::make_shared<service::RequestLogEntry>();
  entry->method = method;
  entry->peer = ctx->peer();
  const auto start = std::chrono::steady_clock::now();
  auto finish = [this, reactor, entry, start](const Status& s) {
    entry->code = StatusCodeName(s.code());
    entry->message = s.message();
    entry->total_seconds = Since(start);
    Log(*entry);
    reactor->Finish(ToGrpc(s));
    Done();
  };
  const Tenant* tenant = nullptr;
  if (Status s = admission_->Admit(ctx, &tenant); !s.ok()) {
    finish(s);
    return reactor;
  }
  entry->tenant = tenant->name;
  Post([tenant, work = std::move(work), finish] { finish(work(*tenant)); });
  return reactor;
}

template <typename Req, typename Resp>
grpc::ServerUnaryReactor* SessionsService::RawUnary(ServerContext* ctx, const char* method, const grpc::ByteBuffer* in,
                                                    grpc::ByteBuffer* out,
                                                    std::function<Status(const Tenant&, const Req&, Resp*)> work) {
  return Unary(ctx, method, [in, out, work = std::move(work)](const Tenant& tenant) -> Status {
    Req req;
    RS_RETURN_IF_ERROR(service::ParseRequest(in, &req));
    Resp resp;
    RS_RETURN_IF_ERROR(work(tenant, req, &resp));
    return service::SerializeResponse(resp, out);
  });
}

grpc::ServerUnaryReactor* SessionsService::CreateSession(ServerContext* ctx, const grpc::ByteBuffer* in,
                                                         grpc::ByteBuffer* out) {
  return RawUnary<pb::CreateSessionRequest, pb::Session>(
      ctx, "Sessions.CreateSession", in, out,
      [this](const Tenant& tenant, const pb::CreateSessionRequest& request, pb::Session* resp) -> Status {
    const pb::CreateSessionRequest* req = &request;
    RS_ASSIGN_OR_RETURN(service::ServedModel * served, models_->Find(req->model()));
    RS_RETURN_IF_ERROR(tenant.Allows(served->name));
    RS_RETURN_IF_ERROR(ForModel(served->name).status());  // the model can hold sessions
    RS_RETURN_IF_ERROR(CheckUserText(req->system_prompt(), options_.max_system_prompt_bytes, "system_prompt"));
    SessionRecord s;
    s.id = NewSessionId();
    s.tenant = tenant.name;
    s.model = served->name;
    if (req->mode() != pb::SESSION_MODE_UNSPECIFIED && req->mode() != pb::CHAT && req->mode() != pb::STORY) {
      return InvalidArgumentError("mode must be CHAT or STORY");
    }
    s.mode = req->mode() == pb::STORY ? SessionMode::kStory : SessionMode::kChat;
    if (s.mode == SessionMode::kStory && Trim(req->system_prompt()).empty()) {
      return InvalidArgumentError("a STORY session needs a premise (system_prompt)");
    }
    s.system_prompt = req->system_prompt();
    const pb::MemorySettings& m = req->memory();
    if (m.has_short_term_budget_tokens()) s.memory.short_term_budget_tokens = m.short_term_budget_tokens();
    if (m.has_retrieval_k()) s.memory.retrieval_k = m.retrieval_k();
    if (s.memory.short_term_budget_tokens < 16 || s.memory.short_term_budget_tokens > 4096) {
      return InvalidArgumentError("memory.short_term_budget_tokens must be in [16, 4096]");
    }
    if (s.memory.retrieval_k < 0 || s.memory.retrieval_k > 32) {
      return InvalidArgumentError("memory.retrieval_k must be in [0, 32]");
    }
    if (!m.chat_template().empty()) RS_RETURN_IF_ERROR(FindTemplate(m.chat_template()).status());
    s.memory.chat_template = m.chat_template();
    if (req->has_temperature()) s.temperature = req->temperature();
    if (req->has_top_p()) s.top_p = req->top_p();
    if (req->has_max_reply_tokens()) s.max_reply_tokens = req->max_reply_tokens();
    if (!(s.temperature >= 0.0f && s.temperature <= 100.0f)) {
      return InvalidArgumentError("temperature must be in [0, 100]");
    }
    if (!(s.top_p > 0.0f && s.top_p <= 1.0f)) return InvalidArgumentError("top_p must be in (0, 1]");
    const int32_t limit = served->validation.max_tokens_limit;
    if (s.max_reply_tokens < 1 || s.max_reply_tokens > limit) {
      return InvalidArgumentError("max_reply_tokens must be in [1, " + std::to_string(limit) + "]");
    }
    s.created_ms = s.updated_ms = NowMs();
    RS_RETURN_IF_ERROR(store_->CreateSession(s));
    ToProto(s, resp);
    return OkStatus();
  });
}

grpc::ServerUnaryReactor* SessionsService::GetSession(ServerContext* ctx, const pb::GetSessionRequest* req,
                                                      pb::Session* resp) {
  return Unary(ctx, "Sessions.GetSession", [this, req, resp](const Tenant& tenant) -> Status {
    RS_RETURN_IF_ERROR(CheckSessionId(req->session_id()));
    RS_ASSIGN_OR_RETURN(SessionRecord s, store_->GetSession(tenant.name, req->session_id()));
    ToProto(s, resp);
    return OkStatus();
  });
}

grpc::ServerUnaryReactor* SessionsService::ListSessions(ServerContext* ctx, const pb::ListSessionsRequest* req,
                                                        pb::ListSessionsResponse* resp) {
  return Unary(ctx, "Sessions.ListSessions", [this, req, resp](const Tenant& tenant) -> Status {
    const int32_t size = req->page_size() == 0 ? 50 : req->page_size();
    if (size < 1 || size > 1000) return InvalidArgumentError("page_size must be in [1, 1000]");
    RS_ASSIGN_OR_RETURN(ListPage page, store_->ListSessions(tenant.name, size, req->page_token()));
    for (const SessionRecord& s : page.sessions) ToProto(s, resp->add_sessions());
    resp->set_next_page_token(page.next_page_token);
    return OkStatus();
  });
}

grpc::ServerUnaryReactor* SessionsService::DeleteSession(ServerContext* ctx, const pb::DeleteSessionRequest* req,
                                                         pb::DeleteSessionResponse*) {
  return Unary(ctx, "Sessions.DeleteSession", [this, req](const Tenant& tenant) -> Status {
    RS_RETURN_IF_ERROR(CheckSessionId(req->session_id()));
    return store_->DeleteSession(tenant.name, req->session_id());
  });
}

Status SessionsService::FillMemory(const std::string& tenant, const std::string& id, pb::Memory* out) {
  RS_ASSIGN_OR_RETURN(SessionRecord s, store_->GetSession(tenant, id));
  RS_ASSIGN_OR_RETURN(std::vector<MemoryItem> items, store_->ListMemory(tenant, id));
  out->Clear();
  out->set_session_id(id);
  out->set_short_term(s.short_term);
  for (const MemoryItem& m : items) {
    pb::MemoryItem* p = out->add_long_term();
    p->set_id(m.id);
    p->set_turn(m.turn);
    p->set_text(m.text);
  }
  return OkStatus();
}

grpc::ServerUnaryReactor* SessionsService::GetMemory(ServerContext* ctx, const pb::GetMemoryRequest* req,
                                                     pb::Memory* resp) {
  return Unary(ctx, "Sessions.GetMemory", [this, req, resp](const Tenant& tenant) -> Status {
    RS_RETURN_IF_ERROR(CheckSessionId(req->session_id()));
    return FillMemory(tenant.name, req->session_id(), resp);
  });
}

grpc::ServerUnaryReactor* SessionsService::EditMemory(ServerContext* ctx, const grpc::ByteBuffer* in,
                                                      grpc::ByteBuffer* out) {
  return RawUnary<pb::EditMemoryRequest, pb::Memory>(
      ctx, "Sessions.EditMemory", in, out,
      [this](const Tenant& tenant, const pb::EditMemoryRequest& request, pb::Memory* resp) -> Status {
    const pb::EditMemoryRequest* req = &request;
    const std::string& id = req->session_id();
    RS_RETURN_IF_ERROR(CheckSessionId(id));
    RS_ASSIGN_OR_RETURN(SessionRecord s, store_->GetSession(tenant.name, id));
    // Validate everything before changing anything.
    if (req->has_short_term()) RS_RETURN_IF_ERROR(CheckUserText(req->short_term(), options_.max_memory_text_bytes, "short_term"));
    for (const std::string& t : req->add()) {
      RS_RETURN_IF_ERROR(CheckUserText(t, options_.max_memory_text_bytes, "a memory item"));
      if (Trim(t).empty()) return InvalidArgumentError("a memory item to add is empty");
    }
    for (const pb::MemoryItem& m : req->update()) {
      RS_RETURN_IF_ERROR(CheckUserText(m.text(), options_.max_memory_text_bytes, "a memory item"));
      if (Trim(m.text()).empty()) return InvalidArgumentError("memory item " + std::to_string(m.id()) + ": empty text");
    }
    RS_ASSIGN_OR_RETURN(PerModel per_model, ForModel(s.model));
    TurnModel* model = per_model.model;
    if (req->has_short_term()) {
      RS_ASSIGN_OR_RETURN(int64_t n, model->CountTokens(req->short_term()));
      std::string text = req->short_term();
      if (n > s.memory.short_term_budget_tokens) {
        RS_ASSIGN_OR_RETURN(text, model->TruncateToTokens(text, s.memory.short_term_budget_tokens));
      }
      RS_RETURN_IF_ERROR(store_->SetShortTerm(tenant.name, id, text));
    }
    for (const std::string& t : req->add()) {
      MemoryItem item;
      item.text = t;
      RS_ASSIGN_OR_RETURN(item.embedding, per_model.runner->embedder()->Embed(t));
      RS_RETURN_IF_ERROR(store_->AddMemory(tenant.name, id, item).status());
    }
    for (const pb::MemoryItem& m : req->update()) {
      MemoryItem item;
      item.id = m.id();
      item.text = m.text();
      RS_ASSIGN_OR_RETURN(item.embedding, per_model.runner->embedder()->Embed(m.text()));
      RS_RETURN_IF_ERROR(store_->UpdateMemory(tenant.name, id, item));
    }
    for (int64_t item_id : req->delete_()) RS_RETURN_IF_ERROR(store_->DeleteMemory(tenant.name, id, item_id));
    return FillMemory(tenant.name, id, resp);
  });
}

grpc::ServerUnaryReactor* SessionsService::Rollback(ServerContext* ctx, const pb::RollbackRequest* req,
                                                    pb::Session* resp) {
  return Unary(ctx, "Sessions.Rollback", [this, req, resp](const Tenant& tenant) -> Status {
    RS_RETURN_IF_ERROR(CheckSessionId(req->session_id()));
    if (req->to_turn() < 0) return InvalidArgumentError("to_turn must be >= 0");
    RS_ASSIGN_OR_RETURN(SessionRecord s, store_->Rollback(tenant.name, req->session_id(), req->to_turn()));
    ToProto(s, resp);
    return OkStatus();
  });
}

grpc::ServerUnaryReactor* SessionsService::Fork(ServerContext* ctx, const pb::ForkRequest* req,
                                                pb::Session* resp) {
  return Unary(ctx, "Sessions.Fork", [this, req, resp](const Tenant& tenant) -> Status {
    RS_RETURN_IF_ERROR(CheckSessionId(req->session_id()));
    if (req->at_turn() < 0) return InvalidArgumentError("at_turn must be >= 0");
    RS_ASSIGN_OR_RETURN(SessionRecord s, store_->Fork(tenant.name, req->session_id(), req->at_turn(), NewSessionId()));
    ToProto(s, resp);
    return OkStatus();
  });
}

grpc::ServerUnaryReactor* SessionsService::Export(ServerContext* ctx, const pb::ExportRequest* req,
                                                  pb::ExportResponse* resp) {
  return Unary(ctx, "Sessions.Export", [this, req, resp](const Tenant& tenant) -> Status {
    RS_RETURN_IF_ERROR(CheckSessionId(req->session_id()));
    RS_ASSIGN_OR_RETURN(SessionDump dump, store_->Export(tenant.name, req->session_id()));
    resp->set_json(ExportJson(dump));
    return OkStatus();
  });
}

grpc::ServerUnaryReactor* SessionsService::Import(ServerContext* ctx, const grpc::ByteBuffer* in,
                                                  grpc::ByteBuffer* out) {
  return RawUnary<pb::ImportRequest, pb::Session>(
      ctx, "Sessions.Import", in, out,
      [this](const Tenant& tenant, const pb::ImportRequest& request, pb::Session* resp) -> Status {
    const pb::ImportRequest* req = &request;
    RS_ASSIGN_OR_RETURN(SessionDump dump, ImportJson(req->json()));
    RS_RETURN_IF_ERROR(CheckSessionId(dump.session.id));
    RS_ASSIGN_OR_RETURN(service::ServedModel * served, models_->Find(dump.session.model));
    RS_RETURN_IF_ERROR(tenant.Allows(served->name));
    dump.session.model = served->name;
    dump.session.tenant = tenant.name;
    RS_ASSIGN_OR_RETURN(SessionRecord s, store_->Import(tenant.name, dump));
    ToProto(s, resp);
    return OkStatus();
  });
}

grpc::ServerWriteReactor<grpc::ByteBuffer>* SessionsService::Turn(ServerContext* ctx, const grpc::ByteBuffer* in) {
  ++in_flight_;
  auto call = std::make_shared<TurnCall>(this, ctx);
  call->self_ = call;
  const Tenant* tenant = nullptr;
  if (Status s = admission_->Admit(ctx, &tenant); !s.ok()) {
    call->Reject(s);
    return call.get();
  }
  pb::TurnRequest parsed;
  if (Status s = service::ParseRequest(in, &parsed); !s.ok()) {
    call->Reject(s);
    return call.get();
  }
  const pb::TurnRequest* req = &parsed;
  call->entry_.session_id = req->session_id();
  call->entry_.request_id = req->request_id();
  call->entry_.tenant = tenant->name;
  if (turns_in_flight_.fetch_add(1) >= options_.max_turns_in_flight) {
    --turns_in_flight_;
    call->Reject(ResourceExhaustedError("the server runs " + std::to_string(options_.max_turns_in_flight) +
                                        " turns already; retry later"));
    return call.get();
  }
  TurnRequest request;
  request.tenant = tenant->name;
  request.session_id = req->session_id();
  request.message = req->message();
  if (req->has_plan_index()) request.plan_index = req->plan_index();
  request.request_id = req->request_id();
  if (req->has_expected_turn()) request.expected_turn = req->expected_turn();
  const auto start = std::chrono::steady_clock::now();
  Post([this, call, request = std::move(request), start, tenant] {
    auto run = [&]() -> StatusOr<TurnOutcome> {
      RS_RETURN_IF_ERROR(CheckSessionId(request.session_id));
      RS_ASSIGN_OR_RETURN(SessionRecord s, store_->GetSession(request.tenant, request.session_id));
      RS_RETURN_IF_ERROR(tenant->Allows(s.model));
      call->entry_.model = s.model;
      RS_ASSIGN_OR_RETURN(PerModel per_model, ForModel(s.model));
      return per_model.runner->Run(request, [&](std::string_view text) { call->PushText(text); });
    };
    StatusOr<TurnOutcome> outcome = run();
    --turns_in_flight_;
    call->entry_.total_seconds = Since(start);
    service::ServiceMetrics::TurnStats stats;
    if (!outcome.ok()) {
      stats.outcome = "failed";
      if (metrics_ != nullptr && !call->entry_.model.empty()) metrics_->RecordTurn(call->entry_.model, stats);
      call->Reject(outcome.status());
      return;
    }
    stats.outcome = outcome->replayed ? "replayed" : "committed";
    stats.rebuilt = outcome->record.rebuilt_from_text;
    stats.memory_fallback = outcome->memory_fallback;
    stats.plans_fallback = outcome->plans_fallback;
    const TurnPhases& p = outcome->phases;
    stats.phases = {{"begin", p.begin},   {"retrieval", p.retrieval}, {"reply", p.reply}, {"memory", p.memory},
                    {"plans", p.plans},   {"embed", p.embed},         {"commit", p.commit}};
    if (metrics_ != nullptr) metrics_->RecordTurn(call->entry_.model, stats);
    call->entry_.prompt_tokens = outcome->prompt_tokens;
    call->entry_.generated_tokens = outcome->generated_tokens;
    call->entry_.ttft_seconds = outcome->ttft_seconds;
    pb::TurnResult r;
    const TurnRecord& t = outcome->record;
    r.set_turn(t.index);
    r.set_reply(t.reply);
    r.set_short_term_memory(t.short_term_after);
    for (const RetrievedMemory& m : outcome->retrieved) {
      pb::Retrieved* p = r.add_retrieved();
      p->set_memory_id(m.id);
      p->set_score(m.score);
      p->set_text(m.text);
    }
    for (const std::string& p : t.plans) r.add_plans(p);
    r.set_rebuilt_from_text(t.rebuilt_from_text);
    r.set_replayed(outcome->replayed);
    r.set_memory_attempts(outcome->memory_attempts);
    r.set_memory_fallback(outcome->memory_fallback);
    r.set_plan_attempts(outcome->plan_attempts);
    r.set_plans_fallback(outcome->plans_fallback);
    r.set_prompt_tokens(outcome->prompt_tokens);
    r.set_generated_tokens(outcome->generated_tokens);
    r.set_time_to_first_token_seconds(outcome->ttft_seconds);
    r.set_total_seconds(Since(start));
    const TurnPhases& ph = outcome->phases;
    pb::TurnTimings* tm = r.mutable_timings();
    tm->set_begin_seconds(ph.begin);
    tm->set_retrieval_seconds(ph.retrieval);
    tm->set_reply_seconds(ph.reply);
    tm->set_memory_seconds(ph.memory);
    tm->set_plans_seconds(ph.plans);
    tm->set_embed_seconds(ph.embed);
    tm->set_commit_seconds(ph.commit);
    call->PushResult(std::move(r));
  });
  return call.get();
}

}  // namespace rs::sessions

namespace rs::sessions {
namespace {

class SessionsAddon final : public service::ServiceAddon {
 public:
  explicit SessionsAddon(std::unique_ptr<SessionsService> svc) : svc_(std::move(svc)) {}
  grpc::Service* service() override { return svc_.get(); }
  std::string health_name() const override { return "recurrent.v1.Sessions"; }
  int64_t in_flight() const override { return svc_->in_flight(); }
  bool WaitNoneInFlight(std::chrono::steady_clock::time_point deadline) override {
    return svc_->WaitNoneInFlight(deadline);
  }

 private:
  std::unique_ptr<SessionsService> svc_;
};

}  // namespace

service::AddonFactory SessionsAddonFactory(SessionStore* store, SessionsServiceOptions options) {
  return [store, options](service::ModelRegistry* models, const service::InferenceService* admission,
                          const service::RequestLog* log,
                          service::ServiceMetrics* metrics) -> StatusOr<std::unique_ptr<service::ServiceAddon>> {
    return std::unique_ptr<service::ServiceAddon>(
        new SessionsAddon(std::make_unique<SessionsService>(models, admission, store, log, metrics, options)));
  };
}

}  // namespace rs::sessions
