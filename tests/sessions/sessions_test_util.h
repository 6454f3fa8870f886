// Helpers of the Sessions service tests: an in-process server (the small
// random-weight test model "m", the byte tokenizer) with the Sessions service
// over a store, and a real gRPC client's Create / Turn calls.
#pragma once

#include <memory>
#include <string>

#include "recurrent/v1/sessions.grpc.pb.h"
#include "sessions/service/sessions_service.h"
#include "sessions/store/sqlite_store.h"
#include "tests/service/service_test_util.h"

namespace rs::sessions::testing {

namespace v1 = recurrent::v1;

struct SessionsServer {
  std::unique_ptr<SessionStore> store;
  service::testing::TestServer t;
  std::unique_ptr<v1::Sessions::Stub> stub;
};

// A server with the test model as "m" and the Sessions service over `store`.
inline SessionsServer StartWithStore(std::unique_ptr<SessionStore> store, const std::string& api_keys_file = "") {
  SessionsServer s;  // members: the server goes down before its store
  s.store = std::move(store);
  service::ServerOptions o = service::testing::DefaultServerOptions();
  o.api_keys_file = api_keys_file;
  SessionsServiceOptions so;
  so.worker_threads = 4;
  o.addon = SessionsAddonFactory(s.store.get(), so);
  s.t = service::testing::StartServer(o);
  s.stub = v1::Sessions::NewStub(s.t.channel);
  return s;
}

// The same over a SQLite store at `db`.
inline SessionsServer Start(const std::string& db, const std::string& api_keys_file = "") {
  auto store = SqliteSessionStore::Open(db);
  EXPECT_TRUE(store.ok()) << store.status().ToString();
  if (!store.ok()) return SessionsServer();
  return StartWithStore(std::move(*store), api_keys_file);
}

struct TurnOut {
  grpc::Status status;
  std::string streamed;
  v1::TurnResult result;
  bool has_result = false;
};

inline TurnOut Turn(v1::Sessions::Stub& stub, const v1::TurnRequest& req, const std::string& key = "") {
  grpc::ClientContext ctx;
  if (!key.empty()) ctx.AddMetadata("authorization", "Bearer " + key);
  TurnOut out;
  auto reader = stub.Turn(&ctx, req);
  v1::TurnResponse resp;
  while (reader->Read(&resp)) {
    if (resp.has_result()) {
      EXPECT_FALSE(out.has_result);
      out.result = resp.result();
      out.has_result = true;
    } else {
      EXPECT_FALSE(out.has_result) << "text after the result";
      out.streamed += resp.text();
    }
  }
  out.status = reader->Finish();
  return out;
}

inline TurnOut Say(v1::Sessions::Stub& stub, const std::string& id, const std::string& msg,
            const std::string& rid = "") {
  v1::TurnRequest req;
  req.set_session_id(id);
  req.set_message(msg);
  req.set_request_id(rid);
  return Turn(stub, req);
}

// Stops a server, then its store, and starts another on `db`.
inline void Restart(SessionsServer* s, const std::string& db) {
  s->stub.reset();
  s->t = service::testing::TestServer();
  s->store.reset();
  *s = Start(db);
}

inline v1::Session Create(v1::Sessions::Stub& stub, v1::SessionMode mode = v1::CHAT,
                   float temperature = 0.0f, const std::string& key = "",
                   grpc::Status* status = nullptr, int retrieval_k = 2) {
  grpc::ClientContext ctx;
  if (!key.empty()) ctx.AddMetadata("authorization", "Bearer " + key);
  v1::CreateSessionRequest req;
  req.set_mode(mode);
  req.set_system_prompt(mode == v1::STORY ? "A lighthouse keeper finds a map." : "You are terse.");
  req.set_temperature(temperature);
  req.set_max_reply_tokens(12);
  req.mutable_memory()->set_short_term_budget_tokens(32);
  req.mutable_memory()->set_retrieval_k(retrieval_k);
  v1::Session s;
  grpc::Status st = stub.CreateSession(&ctx, req, &s);
  if (status != nullptr)
    *status = st;
  else
    EXPECT_TRUE(st.ok()) << st.error_message();
  return s;
}

}  // namespace rs::sessions::testing
