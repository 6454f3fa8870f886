// kill -9 of the real `recurrent serve` in the middle of session turns, 20
// times at random points: every acknowledged turn is in the store afterwards,
// the interrupted one is absent, pending or failed (never half-written), the
// store opens cleanly every time, and a client that retries with the same
// request_id gets the committed turn replayed rather than a second one.
#include <atomic>
#include <chrono>
#include <random>
#include <thread>

#include "recurrent/v1/sessions.grpc.pb.h"
#include "sessions/store/sqlite_store.h"
#include "tests/service/serve_process.h"

namespace rs::sessions {
namespace {

namespace v1 = recurrent::v1;
using service::testing::ServeProcess;
using service::testing::TempDir;
using namespace std::chrono_literals;

struct Attempt {
  grpc::Status status;
  v1::TurnResult result;
};

Attempt RunTurn(v1::Sessions::Stub& stub, const std::string& id, int64_t expected,
                grpc::ClientContext* ctx) {
  v1::TurnRequest req;
  req.set_session_id(id);
  req.set_message("Turn number " + std::to_string(expected + 1) + ", tell me more.");
  req.set_request_id("turn-" + std::to_string(expected + 1));
  req.set_expected_turn(expected);
  Attempt a;
  auto reader = stub.Turn(ctx, req);
  v1::TurnResponse resp;
  while (reader->Read(&resp)) {
    if (resp.has_result()) a.result = resp.result();
  }
  a.status = reader->Finish();
  return a;
}

TEST(SessionsCrashTest, KillNineDuringTurnsLosesNoAcknowledgedTurn) {
  TempDir dir("sessions-crash");
  const std::string db = dir.path() + "/sessions.db";
  std::mt19937 rng(20261129);
  std::string id;
  int64_t acked = 0;
  int replays = 0, rounds_with_turns = 0;
  for (int round = 0; round < 20; ++round) {
    ServeProcess serve(
        {"--sessions", "sqlite:" + db, "--replica-id", "crash-test", "--max-seqs", "4"});
    ASSERT_GT(serve.port(), 0) << serve.log();
    auto stub = v1::Sessions::NewStub(grpc::CreateChannel(
        "127.0.0.1:" + std::to_string(serve.port()), grpc::InsecureChannelCredentials()));
    if (id.empty()) {
      grpc::ClientContext ctx;
      v1::CreateSessionRequest req;
      req.set_system_prompt("Crash test.");
      req.set_max_reply_tokens(48);
      req.mutable_memory()->set_short_term_budget_tokens(24);
      v1::Session s;
      ASSERT_TRUE(stub->CreateSession(&ctx, req, &s).ok());
      id = s.session_id();
    }
    // The client: turn after turn until the server dies under it. A retry of
    // the turn whose answer was lost replays the committed one.
    std::atomic<int64_t> acked_now{acked};
    std::atomic<bool> dead{false};
    std::thread client([&] {
      while (!dead.load()) {
        grpc::ClientContext ctx;
        ctx.set_deadline(std::chrono::system_clock::now() + 30s);
        Attempt a = RunTurn(*stub, id, acked_now.load(), &ctx);
        if (!a.status.ok()) {
          if (a.status.error_code() == grpc::StatusCode::UNAVAILABLE) break;  // killed
          ADD_FAILURE() << "turn failed: " << a.status.error_message();
          break;
        }
        EXPECT_EQ(a.result.turn(), acked_now.load() + 1);
        if (a.result.replayed()) ++replays;
        acked_now = a.result.turn();
      }
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(100 + rng() % 900));
    dead = true;
    kill(serve.pid(), SIGKILL);
    serve.Wait();
    client.join();
    if (acked_now.load() > acked) ++rounds_with_turns;
    acked = acked_now.load();

    // The store, as the killed server left it.
    auto store = SqliteSessionStore::Open(db);
    ASSERT_TRUE(store.ok()) << "round " << round << ": " << store.status().ToString();
    auto turns = (*store)->ListTurns("default", id, 1, 0, /*include_failed=*/true);
    ASSERT_TRUE(turns.ok()) << turns.status().ToString();
    int64_t committed = 0;
    for (const TurnRecord& t : *turns) {
      if (t.status == TurnRecord::Status::kCommitted) {
        ++committed;
        EXPECT_EQ(t.index, committed) << "committed turns are dense";
        EXPECT_FALSE(t.reply.empty() && t.short_term_after.empty() && t.input.empty());
      }
    }
    // Every acknowledged turn is there; at most one more (committed, its
    // answer lost in the kill), which the next round's retry replays.
    EXPECT_GE(committed, acked) << "round " << round;
    EXPECT_LE(committed, acked + 1) << "round " << round;
    auto session = (*store)->GetSession("default", id);
    ASSERT_TRUE(session.ok());
    EXPECT_EQ(session->turns, committed);
    auto memory = (*store)->ListMemory("default", id);
    ASSERT_TRUE(memory.ok());
    EXPECT_EQ(static_cast<int64_t>(memory->size()), committed);  // one item per committed turn
  }
  EXPECT_GE(rounds_with_turns, 10) << "the kills came too early to test anything";
  // A last start: it marks the turns the kills left pending as failed, and
  // the conversation goes on.
  ServeProcess serve({"--sessions", "sqlite:" + db, "--replica-id", "crash-test"});
  auto stub = v1::Sessions::NewStub(grpc::CreateChannel("127.0.0.1:" + std::to_string(serve.port()),
                                                        grpc::InsecureChannelCredentials()));
  grpc::ClientContext ctx;
  Attempt a = RunTurn(*stub, id, acked, &ctx);
  ASSERT_TRUE(a.status.ok()) << a.status.error_message();
  EXPECT_EQ(a.result.turn(), acked + 1);
  auto store = SqliteSessionStore::Open(db);
  ASSERT_TRUE(store.ok());
  auto turns = (*store)->ListTurns("default", id, 1, 0, true);
  ASSERT_TRUE(turns.ok());
  for (const TurnRecord& t : *turns)
    EXPECT_NE(t.status, TurnRecord::Status::kPending) << "turn " << t.index;
  std::printf("kill -9 rounds: 20, rounds that committed turns: %d, turns: %lld, replays: %d\n",
              rounds_with_turns, static_cast<long long>(acked + 1), replays);
}

}  // namespace
}  // namespace rs::sessions
