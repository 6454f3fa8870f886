// recurrent chat: a client of recurrent.v1.Sessions (docs/sessions.md).
//   recurrent chat [--target ADDR] [--session ID | --model NAME --system TEXT
//                  [--story] [--temperature T] [--max-reply-tokens N]]
//                  [--message TEXT | --plan-index I] [--json]
//   recurrent chat --session ID --memory | --export | --list
// Common: [--api-key KEY] [--tls-ca FILE] [--tls-cert FILE --tls-key FILE]
//
// Without --session it creates a session and prints its id on stderr. With
// --message (or --plan-index) it runs one turn; without either it reads one
// message per line from stdin (an interactive chat). Each turn streams the
// reply to stdout; --json prints the TurnResult as JSON instead. Every turn
// carries a fresh request_id and expected_turn, so a failed one can be
// retried safely.
#include <grpcpp/grpcpp.h>

#include <cstdio>
#include <iostream>
#include <random>
#include <string>

#include "cli/commands.h"
#include "cli/common.h"
#include "cli/service/credentials.h"
#include "engine/util/json.h"
#include "recurrent/v1/sessions.grpc.pb.h"
#include "service/inference_service.h"

namespace rs::cli {
namespace {

namespace v1 = recurrent::v1;

const char kUsage[] =
    "usage: recurrent chat [--target ADDR] [--session ID | --model NAME --system TEXT [--story]\n"
    "         [--temperature T] [--max-reply-tokens N]] [--message TEXT | --plan-index I] [--json]\n"
    "       recurrent chat --session ID (--memory | --export) | --list\n"
    "common: [--target ADDR (127.0.0.1:50051)] [--api-key KEY] [--tls-ca FILE]\n"
    "        [--tls-cert FILE --tls-key FILE]\n"
    "Without --session, creates one (its id goes to stderr). Without --message or --plan-index,\n"
    "reads one message per line from stdin. See docs/sessions.md.\n";

int FailRpc(const grpc::Status& s) {
  std::fprintf(stderr, "recurrent chat: %s: %s\n", service::GrpcCodeName(s.error_code()), s.error_message().c_str());
  return 1;
}

class Chat {
 public:
  Chat(const Flags& flags, std::shared_ptr<grpc::Channel> channel)
      : flags_(flags), stub_(v1::Sessions::NewStub(std::move(channel))) {}

  // Every call about a session carries its id in x-session-id: a proxy in
  // front of several replicas (deploy/nginx) routes on it, so the session's
  // state stays hot on one replica.
  std::unique_ptr<grpc::ClientContext> Context(const std::string& session_id = "") const {
    auto ctx = std::make_unique<grpc::ClientContext>();
    if (flags_.Has("api-key")) ctx->AddMetadata("authorization", "Bearer " + flags_.Get("api-key"));
    if (!session_id.empty()) ctx->AddMetadata("x-session-id", session_id);
    return ctx;
  }
  v1::Sessions::Stub& stub() { return *stub_; }

  // Creates a session from the flags; returns its id.
  StatusOr<v1::Session> Create() {
    v1::CreateSessionRequest req;
    req.set_model(flags_.Get("model"));
    req.set_mode(flags_.Has("story") ? v1::STORY : v1::CHAT);
    req.set_system_prompt(flags_.Get("system"));
    if (flags_.Has("temperature")) {
      RS_ASSIGN_OR_RETURN(double t, flags_.GetDouble("temperature", 1));
      req.set_temperature(static_cast<float>(t));
    }
    if (flags_.Has("max-reply-tokens")) {
      RS_ASSIGN_OR_RETURN(int64_t n, flags_.GetInt("max-reply-tokens", 256));
      req.set_max_reply_tokens(static_cast<int32_t>(n));
    }
    v1::Session s;
    grpc::Status st = stub_->CreateSession(Context().get(), req, &s);
    if (!st.ok()) return Status(static_cast<StatusCode>(st.error_code()), st.error_message());
    return s;
  }

  // One turn; streams the reply unless --json. Returns the process exit code.
  int Turn(const std::string& id, int64_t* turns, const std::string& message, int plan_index) {
    v1::TurnRequest req;
    req.set_session_id(id);
    if (plan_index >= 0) {
      req.set_plan_index(plan_index);
    } else {
      req.set_message(message);
    }
    static std::mt19937_64 rng{std::random_device{}()};
    req.set_request_id("chat-" + std::to_string(rng()));
    req.set_expected_turn(*turns);
    const bool json = flags_.Has("json");
    auto ctx = Context(req.session_id());
    auto reader = stub_->Turn(ctx.get(), req);
    v1::TurnResponse resp;
    v1::TurnResult result;
    while (reader->Read(&resp)) {
      if (resp.has_result()) {
        result = resp.result();
      } else if (!json) {
        std::fputs(resp.text().c_str(), stdout);
        std::fflush(stdout);
      }
    }
    grpc::Status st = reader->Finish();
    if (!st.ok()) return FailRpc(st);
    *turns = result.turn();
    if (json) {
      json::Value v = json::Value::MakeObject();
      v.Set("turn", json::Value::Int(result.turn()));
      v.Set("reply", json::Value::String(result.reply()));
      v.Set("short_term_memory", json::Value::String(result.short_term_memory()));
      json::Value plans = json::Value::MakeArray();
      for (const std::string& p : result.plans()) plans.Push(json::Value::String(p));
      v.Set("plans", std::move(plans));
      json::Value got = json::Value::MakeArray();
      for (const auto& r : result.retrieved()) {
        json::Value o = json::Value::MakeObject();
        o.Set("memory_id", json::Value::Int(r.memory_id()));
        o.Set("score", json::Value::Number(r.score()));
        o.Set("text", json::Value::String(r.text()));
        got.Push(std::move(o));
      }
      v.Set("retrieved", std::move(got));
      v.Set("rebuilt_from_text", json::Value::Bool(result.rebuilt_from_text()));
      v.Set("replayed", json::Value::Bool(result.replayed()));
      v.Set("memory_fallback", json::Value::Bool(result.memory_fallback()));
      v.Set("prompt_tokens", json::Value::Int(result.prompt_tokens()));
      v.Set("generated_tokens", json::Value::Int(result.generated_tokens()));
      v.Set("time_to_first_token_seconds", json::Value::Number(result.time_to_first_token_seconds()));
      v.Set("total_seconds", json::Value::Number(result.total_seconds()));
      std::printf("%s\n", v.Dump().c_str());
    } else {
      std::printf("\n");
      for (int i = 0; i < result.plans_size(); ++i) std::printf("  plan %d: %s\n", i, result.plans(i).c_str());
    }
    return 0;
  }

 private:
  const Flags& flags_;
  std::unique_ptr<v1::Sessions::Stub> stub_;
};

int Run(const Flags& flags) {
  auto creds = ClientCredentials(flags);
  if (!creds.ok()) return Fail("chat", creds.status());
  Chat chat(flags, grpc::CreateChannel(flags.Get("target", "127.0.0.1:50051"), *creds));
  if (flags.Has("list")) {
    v1::ListSessionsResponse resp;
    grpc::Status st = chat.stub().ListSessions(chat.Context().get(), v1::ListSessionsRequest(), &resp);
    if (!st.ok()) return FailRpc(st);
    for (const auto& s : resp.sessions()) {
      std::printf("%s  %s  %s  %lld turns\n", s.session_id().c_str(), s.model().c_str(),
                  s.mode() == v1::STORY ? "STORY" : "CHAT", static_cast<long long>(s.turns()));
    }
    return 0;
  }
  std::string id = flags.Get("session");
  int64_t turns = 0;
  if (id.empty()) {
    auto s = chat.Create();
    if (!s.ok()) return Fail("chat", s.status());
    id = s->session_id();
    std::fprintf(stderr, "session %s\n", id.c_str());
  } else {
    v1::GetSessionRequest get;
    get.set_session_id(id);
    v1::Session s;
    grpc::Status st = chat.stub().GetSession(chat.Context(id).get(), get, &s);
    if (!st.ok()) return FailRpc(st);
    turns = s.turns();
  }
  if (flags.Has("memory")) {
    v1::GetMemoryRequest req;
    req.set_session_id(id);
    v1::Memory m;
    grpc::Status st = chat.stub().GetMemory(chat.Context(id).get(), req, &m);
    if (!st.ok()) return FailRpc(st);
    std::printf("short-term: %s\n", m.short_term().c_str());
    for (const auto& item : m.long_term()) {
      std::printf("[%lld] (turn %lld) %s\n", static_cast<long long>(item.id()), static_cast<long long>(item.turn()),
                  item.text().c_str());
    }
    return 0;
  }
  if (flags.Has("export")) {
    v1::ExportRequest req;
    req.set_session_id(id);
    v1::ExportResponse resp;
    grpc::Status st = chat.stub().Export(chat.Context(id).get(), req, &resp);
    if (!st.ok()) return FailRpc(st);
    std::printf("%s\n", resp.json().c_str());
    return 0;
  }
  if (flags.Has("plan-index")) {
    auto i = flags.GetInt("plan-index", 0);
    if (!i.ok()) return Fail("chat", i.status());
    return chat.Turn(id, &turns, "", static_cast<int>(*i));
  }
  if (flags.Has("message")) return chat.Turn(id, &turns, flags.Get("message"), -1);
  std::string line;
  while (std::getline(std::cin, line)) {
    if (line.empty()) continue;
    if (int rc = chat.Turn(id, &turns, line, -1); rc != 0) return rc;
  }
  return 0;
}

}  // namespace

int RunChat(int argc, char** argv) {
  Flags flags({"target", "api-key", "tls-ca", "tls-cert", "tls-key", "session", "model", "system", "temperature",
               "max-reply-tokens", "message", "plan-index"},
              {"story", "json", "memory", "export", "list", "help"});
  if (Status s = flags.Parse(argc, argv, 2); !s.ok()) {
    Fail("chat", s);
    return 2;
  }
  if (flags.Has("help")) {
    std::fputs(kUsage, stdout);
    return 0;
  }
  return Run(flags);
}

}  // namespace rs::cli
