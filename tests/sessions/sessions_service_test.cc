// End-to-end tests of recurrent.v1.Sessions over loopback: an in-process
// server (the small random-weight test model, the byte tokenizer) with a real
// SQLite store, and a real gRPC client. Conversations in both modes, restarts
// between turns (replies identical to an uninterrupted server's), tenant
// isolation on every RPC, rollback / fork / export -> import, memory edits,
// idempotent retries, optimistic concurrency, corrupt snapshots.
#include "sessions/service/sessions_service.h"

#include <sqlite3.h>

#include <filesystem>
#include <string>
#include <thread>

#include "recurrent/v1/sessions.grpc.pb.h"
#include "service/auth.h"
#include "sessions/core/prompts.h"
#include "sessions/store/sqlite_store.h"
#include "tests/sessions/sessions_test_util.h"

namespace rs::sessions {
namespace {

namespace v1 = recurrent::v1;
using service::testing::TempDir;
using namespace testing;

TEST(SessionsServiceTest, ChatSurvivesARestartWithRepliesIdenticalToAnUninterruptedServer) {
  TempDir dir("sessions-restart");
  const std::vector<std::string> messages = {"Hello, I am Ada.", "I like tea.", "What do I like?",
                                             "Bye."};
  // A: one server for the whole conversation.
  std::vector<std::string> replies_a;
  std::string session_json;
  {
    SessionsServer a = Start(dir.path() + "/a.db");
    v1::Session s = Create(*a.stub, v1::CHAT, 0.0f, "", nullptr, /*retrieval_k=*/0);
    for (size_t i = 0; i < messages.size(); ++i) {
      char rid[32];
      std::snprintf(rid, sizeof(rid), "r%zu", i);
      TurnOut t = Say(*a.stub, s.session_id(), messages[i], rid);
      ASSERT_TRUE(t.status.ok()) << t.status.error_message();
      ASSERT_TRUE(t.has_result);
      EXPECT_EQ(t.result.turn(), static_cast<int64_t>(i + 1));
      EXPECT_EQ(Trim(t.streamed), t.result.reply());  // streamed before the result
      const v1::TurnTimings& tm = t.result.timings();  // every phase measured, within the total
      EXPECT_GT(tm.reply_seconds(), 0);
      EXPECT_GT(tm.memory_seconds(), 0);
      EXPECT_GT(tm.commit_seconds(), 0);
      EXPECT_LE(tm.begin_seconds() + tm.retrieval_seconds() + tm.reply_seconds() + tm.memory_seconds() +
                    tm.plans_seconds() + tm.embed_seconds() + tm.commit_seconds(),
                t.result.total_seconds());
      EXPECT_FALSE(t.result.rebuilt_from_text());
      replies_a.push_back(t.result.reply());
    }
  }
  // B: the same conversation (greedy), the server restarted before every turn
  // after the first: each turn continues from the store's snapshot.
  SessionsServer b = Start(dir.path() + "/b.db");
  v1::Session s = Create(*b.stub, v1::CHAT, 0.0f, "", nullptr, /*retrieval_k=*/0);
  for (size_t i = 0; i < messages.size(); ++i) {
    if (i > 0) Restart(&b, dir.path() + "/b.db");
    char rid[32];
    std::snprintf(rid, sizeof(rid), "r%zu", i);
    TurnOut t = Say(*b.stub, s.session_id(), messages[i], rid);
    ASSERT_TRUE(t.status.ok()) << t.status.error_message();
    EXPECT_FALSE(t.result.rebuilt_from_text()) << "turn " << i + 1;
    EXPECT_EQ(t.result.reply(), replies_a[i]) << "turn " << i + 1;
    if (i > 0) {  // only the new message (bytes) was processed, not the history
      EXPECT_LT(t.result.prompt_tokens(), 60) << "turn " << i + 1;
      EXPECT_GT(t.result.prompt_tokens(), static_cast<int64_t>(messages[i].size())) << "turn " << i + 1;
    }
  }
  grpc::ClientContext ctx;
  v1::GetSessionRequest get;
  get.set_session_id(s.session_id());
  v1::Session got;
  ASSERT_TRUE(b.stub->GetSession(&ctx, get, &got).ok());
  EXPECT_EQ(got.turns(), 4);
}

TEST(SessionsServiceTest, StoryModeGivesPlansWithBoundedRetriesAndTakesAPlanIndex) {
  TempDir dir("sessions-story");
  SessionsServer a = Start(dir.path() + "/s.db");
  v1::Session s = Create(*a.stub, v1::STORY, 1.0f);
  EXPECT_EQ(s.mode(), v1::STORY);
  TurnOut t1 = Say(*a.stub, s.session_id(), "The keeper climbs the stairs.");
  ASSERT_TRUE(t1.status.ok()) << t1.status.error_message();
  // Random weights never write the plan format: three attempts, then one
  // generic plan; the memory update likewise falls back.
  EXPECT_GE(t1.result.plan_attempts(), 1);
  EXPECT_LE(t1.result.plan_attempts(), 3);
  EXPECT_GE(t1.result.plans_size(), 1);
  if (t1.result.plans_fallback()) {
    EXPECT_EQ(t1.result.plan_attempts(), 3);
  }
  EXPECT_LE(t1.result.memory_attempts(), 3);
  v1::TurnRequest req;
  req.set_session_id(s.session_id());
  req.set_plan_index(0);
  TurnOut t2 = Turn(*a.stub, req);
  ASSERT_TRUE(t2.status.ok()) << t2.status.error_message();
  EXPECT_EQ(t2.result.turn(), 2);
  req.set_plan_index(99);
  EXPECT_EQ(Turn(*a.stub, req).status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
}

TEST(SessionsServiceTest, RetriesReplayAndStaleTurnsAbort) {
  TempDir dir("sessions-retry");
  SessionsServer a = Start(dir.path() + "/s.db");
  v1::Session s = Create(*a.stub, v1::CHAT, 1.0f);
  TurnOut t1 = Say(*a.stub, s.session_id(), "One.", "same-id");
  ASSERT_TRUE(t1.status.ok());
  TurnOut again = Say(*a.stub, s.session_id(), "One.", "same-id");
  ASSERT_TRUE(again.status.ok());
  EXPECT_TRUE(again.result.replayed());
  EXPECT_EQ(again.result.turn(), 1);
  EXPECT_EQ(again.result.reply(), t1.result.reply());
  EXPECT_EQ(again.streamed, t1.result.reply());
  v1::TurnRequest stale;
  stale.set_session_id(s.session_id());
  stale.set_message("Two.");
  stale.set_expected_turn(0);
  EXPECT_EQ(Turn(*a.stub, stale).status.error_code(), grpc::StatusCode::ABORTED);
  stale.set_expected_turn(1);
  EXPECT_TRUE(Turn(*a.stub, stale).status.ok());
  // The metrics saw two committed turns, a replay and a conflict.
  // (A call is counted in its OnDone, just after the client saw its status.)
  std::string metrics;
  for (int i = 0; i < 1000; ++i) {
    metrics = a.t.server->metrics().Serialize();
    if (metrics.find("method=\"Sessions.Turn\",") != std::string::npos &&
        metrics.find("code=\"ABORTED\",method=\"Sessions.Turn\"") != std::string::npos) {
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_NE(metrics.find("recurrent_session_turns_total{model=\"m\",outcome=\"committed\"} 2"), std::string::npos)
      << metrics;
  EXPECT_NE(metrics.find("recurrent_session_turns_total{model=\"m\",outcome=\"replayed\"} 1"), std::string::npos);
  EXPECT_NE(metrics.find("recurrent_session_turns_total{model=\"m\",outcome=\"failed\"} 1"), std::string::npos);
  EXPECT_NE(metrics.find("recurrent_session_turn_phase_seconds_count{model=\"m\",phase=\"commit\"} 2"),
            std::string::npos);
  EXPECT_NE(metrics.find("code=\"ABORTED\",method=\"Sessions.Turn\""), std::string::npos);
  // Bad input.
  EXPECT_EQ(Say(*a.stub, "no-such-session", "hi").status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(Say(*a.stub, s.session_id(), "").status.error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Say(*a.stub, s.session_id(), std::string(40 << 10, 'x')).status.error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  grpc::Status st;
  grpc::ClientContext ctx;
  v1::CreateSessionRequest bad;
  bad.set_model("no-such-model");
  v1::Session out;
  EXPECT_EQ(a.stub->CreateSession(&ctx, bad, &out).error_code(), grpc::StatusCode::NOT_FOUND);
  grpc::ClientContext ctx2;
  bad.set_model("");
  bad.mutable_memory()->set_retrieval_k(1000);
  EXPECT_EQ(a.stub->CreateSession(&ctx2, bad, &out).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
}

TEST(SessionsServiceTest, InvalidUtf8IsInvalidArgumentInEveryTextField) {
  TempDir dir("sessions-utf8");
  SessionsServer a = Start(dir.path() + "/s.db");
  v1::Session s = Create(*a.stub);
  for (const std::string& bad : {std::string("ab\xff"), std::string("\xc3"), std::string("\xed\xa0\x80")}) {
    EXPECT_EQ(Say(*a.stub, s.session_id(), bad).status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    grpc::ClientContext c1, c2, c3;
    v1::CreateSessionRequest create;
    create.set_system_prompt(bad);
    v1::Session out;
    EXPECT_EQ(a.stub->CreateSession(&c1, create, &out).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    v1::EditMemoryRequest edit;
    edit.set_session_id(s.session_id());
    edit.add_add(bad);
    v1::Memory mem;
    EXPECT_EQ(a.stub->EditMemory(&c2, edit, &mem).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    v1::ImportRequest im;
    im.set_json(bad);
    EXPECT_EQ(a.stub->Import(&c3, im, &out).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  }
  // Nothing of it landed; the session goes on.
  TurnOut t = Say(*a.stub, s.session_id(), "Fine.");
  ASSERT_TRUE(t.status.ok()) << t.status.error_message();
  EXPECT_EQ(t.result.turn(), 1);
}

TEST(SessionsServiceTest, RollbackForkExportImportAndMemoryEdits) {
  TempDir dir("sessions-edit");
  SessionsServer a = Start(dir.path() + "/a.db");
  v1::Session s = Create(*a.stub);
  for (const char* m : {"First.", "Second.", "Third."})
    ASSERT_TRUE(Say(*a.stub, s.session_id(), m).status.ok());

  // Fork at turn 2: a new session with two turns; the original keeps three.
  grpc::ClientContext c1;
  v1::ForkRequest fork;
  fork.set_session_id(s.session_id());
  fork.set_at_turn(2);
  v1::Session forked;
  ASSERT_TRUE(a.stub->Fork(&c1, fork, &forked).ok());
  EXPECT_NE(forked.session_id(), s.session_id());
  EXPECT_EQ(forked.turns(), 2);
  EXPECT_EQ(forked.forked_from(), s.session_id());
  TurnOut ft = Say(*a.stub, forked.session_id(), "Branch.");
  ASSERT_TRUE(ft.status.ok()) << ft.status.error_message();
  EXPECT_EQ(ft.result.turn(), 3);

  // Rollback to 1: two turns and their memories are gone.
  grpc::ClientContext c2;
  v1::RollbackRequest rb;
  rb.set_session_id(s.session_id());
  rb.set_to_turn(1);
  v1::Session rolled;
  ASSERT_TRUE(a.stub->Rollback(&c2, rb, &rolled).ok());
  EXPECT_EQ(rolled.turns(), 1);
  grpc::ClientContext c3;
  v1::GetMemoryRequest gm;
  gm.set_session_id(s.session_id());
  v1::Memory mem;
  ASSERT_TRUE(a.stub->GetMemory(&c3, gm, &mem).ok());
  ASSERT_EQ(mem.long_term_size(), 1);
  EXPECT_EQ(mem.long_term(0).turn(), 1);
  // The next turn is 2 again, and (no snapshot of turn 1 kept) rebuilt from text.
  TurnOut t2 = Say(*a.stub, s.session_id(), "Second again.");
  ASSERT_TRUE(t2.status.ok());
  EXPECT_EQ(t2.result.turn(), 2);
  EXPECT_TRUE(t2.result.rebuilt_from_text());

  // Memory edits: replace short-term, add, update, delete.
  grpc::ClientContext c4;
  v1::EditMemoryRequest edit;
  edit.set_session_id(s.session_id());
  edit.set_short_term("The user counts turns.");
  edit.add_add("The user's cat is called Miso.");
  v1::Memory edited;
  ASSERT_TRUE(a.stub->EditMemory(&c4, edit, &edited).ok());
  EXPECT_EQ(edited.short_term(), "The user counts turns.");
  ASSERT_EQ(edited.long_term_size(), 3);
  const int64_t added = edited.long_term(2).id();
  EXPECT_EQ(edited.long_term(2).turn(), 0);
  grpc::ClientContext c5;
  v1::EditMemoryRequest edit2;
  edit2.set_session_id(s.session_id());
  v1::MemoryItem* u = edit2.add_update();
  u->set_id(added);
  u->set_text("The cat is called Tofu.");
  edit2.add_delete_(edited.long_term(0).id());
  ASSERT_TRUE(a.stub->EditMemory(&c5, edit2, &edited).ok());
  ASSERT_EQ(edited.long_term_size(), 2);
  EXPECT_EQ(edited.long_term(1).text(), "The cat is called Tofu.");
  grpc::ClientContext c6;
  v1::EditMemoryRequest bad_edit;
  bad_edit.set_session_id(s.session_id());
  bad_edit.add_delete_(987654);
  EXPECT_EQ(a.stub->EditMemory(&c6, bad_edit, &edited).error_code(), grpc::StatusCode::NOT_FOUND);

  // Export -> Import on another server (another store): the same session,
  // and its next turn continues from the imported snapshot.
  grpc::ClientContext c7;
  v1::ExportRequest ex;
  ex.set_session_id(s.session_id());
  v1::ExportResponse exported;
  ASSERT_TRUE(a.stub->Export(&c7, ex, &exported).ok());
  EXPECT_NE(exported.json().find("\"format\":\"recurrent-session\""), std::string::npos);
  SessionsServer b = Start(dir.path() + "/b.db");
  grpc::ClientContext c8;
  v1::ImportRequest im;
  im.set_json(exported.json());
  v1::Session imported;
  ASSERT_TRUE(b.stub->Import(&c8, im, &imported).ok());
  EXPECT_EQ(imported.session_id(), s.session_id());
  EXPECT_EQ(imported.turns(), 2);
  grpc::ClientContext c9;
  v1::Memory imported_mem;
  ASSERT_TRUE(b.stub->GetMemory(&c9, gm, &imported_mem).ok());
  EXPECT_EQ(imported_mem.short_term(), "The user counts turns.");
  EXPECT_EQ(imported_mem.long_term_size(), 2);
  TurnOut a3 = Say(*a.stub, s.session_id(), "Third again.");
  TurnOut b3 = Say(*b.stub, s.session_id(), "Third again.");
  ASSERT_TRUE(b3.status.ok()) << b3.status.error_message();
  EXPECT_FALSE(b3.result.rebuilt_from_text());
  EXPECT_EQ(b3.result.reply(), a3.result.reply());  // greedy, same state, same memory
  // Importing again: the id is taken.
  grpc::ClientContext c10;
  EXPECT_EQ(b.stub->Import(&c10, im, &imported).error_code(), grpc::StatusCode::ALREADY_EXISTS);
  grpc::ClientContext c11;
  im.set_json("{\"format\":\"recurrent-session\",\"version\":1}");
  EXPECT_EQ(b.stub->Import(&c11, im, &imported).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
}

TEST(SessionsServiceTest, ACorruptSnapshotIsRebuiltFromTextNeverLoaded) {
  TempDir dir("sessions-corrupt");
  const std::string db = dir.path() + "/s.db";
  std::string id;
  {
    SessionsServer a = Start(db);
    id = Create(*a.stub).session_id();
    ASSERT_TRUE(Say(*a.stub, id, "Remember 42.").status.ok());
  }
  // Flip bytes of the stored state behind the server's back.
  sqlite3* raw = nullptr;
  ASSERT_EQ(sqlite3_open(db.c_str(), &raw), SQLITE_OK);
  char* err = nullptr;
  const int rc = sqlite3_exec(raw, "UPDATE snapshots SET state = zeroblob(length(state))", nullptr,
                              nullptr, &err);
  EXPECT_EQ(rc, SQLITE_OK) << (err ? err : "");
  sqlite3_free(err);
  sqlite3_close(raw);
  SessionsServer b = Start(db);
  TurnOut t = Say(*b.stub, id, "What number?");
  ASSERT_TRUE(t.status.ok()) << t.status.error_message();
  EXPECT_TRUE(t.result.rebuilt_from_text());
  EXPECT_EQ(t.result.turn(), 2);
}

TEST(SessionsServiceTest, AnotherTenantsSessionIsNotFoundInEveryRpc) {
  TempDir dir("sessions-tenants");
  const std::string key_a = service::ApiKeys::NewKey(), key_b = service::ApiKeys::NewKey();
  const std::string keys = dir.path() + "/keys";
  {
    FILE* f = std::fopen(keys.c_str(), "w");
    std::fprintf(f, "%s alice\n%s bob\n", service::ApiKeys::HashKey(key_a).c_str(),
                 service::ApiKeys::HashKey(key_b).c_str());
    std::fclose(f);
  }
  SessionsServer a = Start(dir.path() + "/s.db", keys);
  v1::Session s = Create(*a.stub, v1::CHAT, 0.0f, key_a);
  ASSERT_FALSE(s.session_id().empty());
  v1::TurnRequest turn;
  turn.set_session_id(s.session_id());
  turn.set_message("Secret.");
  ASSERT_TRUE(Turn(*a.stub, turn, key_a).status.ok());

  auto ctx = [](const std::string& key) {
    auto c = std::make_unique<grpc::ClientContext>();
    c->AddMetadata("authorization", "Bearer " + key);
    return c;
  };
  const grpc::StatusCode kNotFound = grpc::StatusCode::NOT_FOUND;
  v1::Session sess;
  v1::Memory mem;
  v1::GetSessionRequest get;
  get.set_session_id(s.session_id());
  EXPECT_EQ(a.stub->GetSession(ctx(key_b).get(), get, &sess).error_code(), kNotFound);
  EXPECT_EQ(Turn(*a.stub, turn, key_b).status.error_code(), kNotFound);
  v1::GetMemoryRequest gm;
  gm.set_session_id(s.session_id());
  EXPECT_EQ(a.stub->GetMemory(ctx(key_b).get(), gm, &mem).error_code(), kNotFound);
  v1::EditMemoryRequest em;
  em.set_session_id(s.session_id());
  em.add_add("injected");
  EXPECT_EQ(a.stub->EditMemory(ctx(key_b).get(), em, &mem).error_code(), kNotFound);
  v1::RollbackRequest rb;
  rb.set_session_id(s.session_id());
  EXPECT_EQ(a.stub->Rollback(ctx(key_b).get(), rb, &sess).error_code(), kNotFound);
  v1::ForkRequest fk;
  fk.set_session_id(s.session_id());
  fk.set_at_turn(1);
  EXPECT_EQ(a.stub->Fork(ctx(key_b).get(), fk, &sess).error_code(), kNotFound);
  v1::ExportRequest ex;
  ex.set_session_id(s.session_id());
  v1::ExportResponse exported;
  EXPECT_EQ(a.stub->Export(ctx(key_b).get(), ex, &exported).error_code(), kNotFound);
  v1::DeleteSessionRequest del;
  del.set_session_id(s.session_id());
  v1::DeleteSessionResponse deleted;
  EXPECT_EQ(a.stub->DeleteSession(ctx(key_b).get(), del, &deleted).error_code(), kNotFound);
  v1::ListSessionsRequest list;
  v1::ListSessionsResponse listed;
  ASSERT_TRUE(a.stub->ListSessions(ctx(key_b).get(), list, &listed).ok());
  EXPECT_EQ(listed.sessions_size(), 0);
  // Importing alice's export as bob never gives bob alice's session.
  ASSERT_TRUE(a.stub->Export(ctx(key_a).get(), ex, &exported).ok());
  v1::ImportRequest im;
  im.set_json(exported.json());
  EXPECT_FALSE(a.stub->Import(ctx(key_b).get(), im, &sess).ok());
  // Alice still has everything; without a key: UNAUTHENTICATED.
  ASSERT_TRUE(a.stub->GetSession(ctx(key_a).get(), get, &sess).ok());
  EXPECT_EQ(sess.turns(), 1);
  grpc::ClientContext anon;
  EXPECT_EQ(a.stub->GetSession(&anon, get, &sess).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  ASSERT_TRUE(a.stub->DeleteSession(ctx(key_a).get(), del, &deleted).ok());
  EXPECT_EQ(a.stub->GetSession(ctx(key_a).get(), get, &sess).error_code(), kNotFound);
}

}  // namespace
}  // namespace rs::sessions
