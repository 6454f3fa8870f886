// PostgresSessionStore: the conformance suite (store_suite.h) against a real
// PostgreSQL (a private server started by pg_harness.h, or RS_TEST_PG), each
// test in a database of its own, plus what only a server can do: replicas
// migrating at once, an unreachable server, connections cut by the server.
//
// Without PostgreSQL installed the suite FAILS, unless RS_ALLOW_NO_PG=1
// (then it skips, saying why).
#include "sessions/store/postgres_store.h"

#include <libpq-fe.h>
#include <unistd.h>

#include <atomic>
#include <thread>

#include "tests/sessions/pg_harness.h"
#include "tests/sessions/store_suite.h"

namespace rs::sessions::testing {
namespace {

// The test binary's PostgreSQL server (pg_harness.h), stopped after the last test.
PgServer& Server() { return SharedPgServer(); }

std::string DatabaseName(int n) {
  return "rs_test_" + std::to_string(getpid()) + "_" + std::to_string(n);
}

// A new empty database on the server; its conninfo. *number names it.
StatusOr<std::string> NewDatabase(int* number = nullptr) {
  static std::atomic<int> counter{0};
  RS_ASSIGN_OR_RETURN(std::string admin, Server().Start());
  const int n = counter++;
  if (number != nullptr) *number = n;
  return CreateDatabase(admin, DatabaseName(n));
}

class PgHarness : public StoreHarness {
 public:
  // Drops the test's database (the stores on it are closed by now): a
  // server named by RS_TEST_PG is left as it was found.
  ~PgHarness() override {
    auto admin = Server().Start();
    if (number_ >= 0 && admin.ok()) {
      (void)PgExec(*admin, "DROP DATABASE IF EXISTS " + DatabaseName(number_) + " WITH (FORCE)");
    }
  }
  std::string Unavailable() override {
    auto db = NewDatabase(&number_);
    if (!db.ok()) return "no PostgreSQL for the test: " + db.status().ToString();
    conninfo_ = *db;
    return "";
  }
  StatusOr<std::unique_ptr<SessionStore>> Open() override {
    RS_ASSIGN_OR_RETURN(auto store, PostgresSessionStore::Open(conninfo_));
    return std::unique_ptr<SessionStore>(std::move(store));
  }
  Status CorruptSnapshot(const std::string& id) override {
    return PgExec(conninfo_,
                  "UPDATE snapshots SET state = set_byte(state, 0, 255 - get_byte(state, 0)) "
                  "WHERE session_id = $1",
                  {id});
  }

 private:
  std::string conninfo_;
  int number_ = -1;
};

INSTANTIATE_TEST_SUITE_P(Postgres, StoreSuite,
                         ::testing::Values(StoreParam{
                             "postgres", [] { return std::make_unique<PgHarness>(); }}),
                         StoreParamName);

// The suite's policy for a missing server, for the tests below.
#define RS_REQUIRE_DATABASE(var)                                                 \
  auto var##_or = NewDatabase();                                                 \
  if (!var##_or.ok()) {                                                          \
    const char* allow = std::getenv("RS_ALLOW_NO_PG");                           \
    if (allow != nullptr && std::string(allow) == "1")                           \
      GTEST_SKIP() << var##_or.status().ToString();                              \
    FAIL() << var##_or.status().ToString() << " (set RS_ALLOW_NO_PG=1 to skip)"; \
  }                                                                              \
  const std::string var = *var##_or

TEST(PostgresStore, ReplicasStartingTogetherMigrateOnce) {
  RS_REQUIRE_DATABASE(db);
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  std::string first_error;
  std::mutex mu;
  for (int i = 0; i < 6; ++i) {
    threads.emplace_back([&] {
      auto s = PostgresSessionStore::Open(db);
      if (s.ok()) {
        ++ok;
      } else {
        std::lock_guard<std::mutex> lock(mu);
        first_error = s.status().ToString();
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 6) << first_error;
  // Exactly one row per migration.
  EXPECT_TRUE(PgExec(db, "DO $$ BEGIN IF (SELECT COUNT(*) FROM schema_version) <> " +
                             std::to_string(PostgresSessionStore::LatestSchemaVersion()) +
                             " THEN RAISE EXCEPTION 'bad count'; END IF; END $$")
                  .ok());
}

TEST(PostgresStore, UnreachableServerIsUnavailable) {
  auto s = PostgresSessionStore::Open(
      "host=/nonexistent-rs-socket-dir port=1 user=x dbname=x connect_timeout=2");
  EXPECT_EQ(Code(s), "UNAVAILABLE") << s.status().ToString();
}

TEST(PostgresStore, ReconnectsAfterTheServerDropsConnections) {
  RS_REQUIRE_DATABASE(db);
  auto store = PostgresSessionStore::Open(db);
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  SessionRecord s;
  s.id = "s1";
  s.tenant = "acme";
  ASSERT_TRUE((*store)->CreateSession(s).ok());
  // The server ends every other session on this database (as on a restart).
  ASSERT_TRUE(PgExec(db,
                     "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                     "WHERE datname = current_database() AND pid <> pg_backend_pid()")
                  .ok());
  auto got = (*store)->GetSession("acme", "s1");
  EXPECT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_TRUE((*store)->BeginTurn("acme", "s1", 0, "", "x", "o", nullptr).ok());
}

TEST(PostgresStore, NewerSchemaIsFailedPrecondition) {
  RS_REQUIRE_DATABASE(db);
  ASSERT_TRUE(PostgresSessionStore::Open(db).ok());
  ASSERT_TRUE(PgExec(db, "INSERT INTO schema_version (version, applied_ms) VALUES (999, 0)").ok());
  auto s = PostgresSessionStore::Open(db);
  EXPECT_EQ(Code(s), "FAILED_PRECONDITION") << s.status().ToString();
}

}  // namespace
}  // namespace rs::sessions::testing
