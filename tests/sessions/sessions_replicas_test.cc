// Two replicas of the server sharing one PostgreSQL session store (issue #6:
// "shared by replicas"; the cluster of issue #7 routes a session to either):
// a conversation whose turns alternate between the replicas continues from
// the store's snapshot on each (never rebuilt from text), and its greedy
// replies equal those of one server holding the whole conversation.
#include <unistd.h>

#include "sessions/store/postgres_store.h"
#include "tests/sessions/pg_harness.h"
#include "tests/sessions/sessions_test_util.h"

namespace rs::sessions::testing {
namespace {

// The test binary's PostgreSQL server (pg_harness.h), stopped after the last test.
PgServer& Server() { return SharedPgServer(); }

std::unique_ptr<SessionStore> OpenPg(const std::string& conninfo) {
  auto store = PostgresSessionStore::Open(conninfo);
  EXPECT_TRUE(store.ok()) << store.status().ToString();
  return store.ok() ? std::move(*store) : nullptr;
}

TEST(SessionsReplicasTest, TurnsAlternatingBetweenReplicasContinueFromTheSharedStore) {
  auto admin = Server().Start();
  if (!admin.ok() && std::getenv("RS_ALLOW_NO_PG") != nullptr) GTEST_SKIP() << admin.status().ToString();
  ASSERT_TRUE(admin.ok()) << admin.status().ToString();
  auto shared = CreateDatabase(*admin, "rs_replicas_" + std::to_string(getpid()));
  auto single = CreateDatabase(*admin, "rs_single_" + std::to_string(getpid()));
  ASSERT_TRUE(shared.ok() && single.ok());

  const std::vector<std::string> messages = {"Hello.", "I live in Oslo.", "Where do I live?", "Thanks."};
  // The reference: one server, the whole conversation.
  std::vector<std::string> want;
  {
    SessionsServer one = StartWithStore(OpenPg(*single));
    v1::Session s = Create(*one.stub, v1::CHAT, 0.0f, "", nullptr, /*retrieval_k=*/1);
    for (const std::string& m : messages) {
      TurnOut t = Say(*one.stub, s.session_id(), m);
      ASSERT_TRUE(t.status.ok()) << t.status.error_message();
      want.push_back(t.result.reply());
    }
  }
  // Two replicas on one store; turns alternate A, B, A, B.
  SessionsServer a = StartWithStore(OpenPg(*shared));
  SessionsServer b = StartWithStore(OpenPg(*shared));
  v1::Session s = Create(*a.stub, v1::CHAT, 0.0f, "", nullptr, /*retrieval_k=*/1);
  for (size_t i = 0; i < messages.size(); ++i) {
    SessionsServer& replica = i % 2 == 0 ? a : b;
    TurnOut t = Say(*replica.stub, s.session_id(), messages[i]);
    ASSERT_TRUE(t.status.ok()) << "turn " << i + 1 << ": " << t.status.error_message();
    EXPECT_EQ(t.result.turn(), static_cast<int64_t>(i + 1));
    EXPECT_FALSE(t.result.rebuilt_from_text()) << "turn " << i + 1;
    EXPECT_EQ(t.result.reply(), want[i]) << "turn " << i + 1;
  }
  // Both see the same session and memory.
  grpc::ClientContext ca, cb;
  v1::GetMemoryRequest gm;
  gm.set_session_id(s.session_id());
  v1::Memory ma, mb;
  ASSERT_TRUE(a.stub->GetMemory(&ca, gm, &ma).ok());
  ASSERT_TRUE(b.stub->GetMemory(&cb, gm, &mb).ok());
  EXPECT_EQ(ma.long_term_size(), 4);
  EXPECT_EQ(ma.SerializeAsString(), mb.SerializeAsString());
}

}  // namespace
}  // namespace rs::sessions::testing
