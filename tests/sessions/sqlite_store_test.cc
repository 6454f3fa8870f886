// SqliteSessionStore: the conformance suite (store_suite.h) plus what only a
// file can do: a file that is not a database, a corrupt one, a newer schema.
#include "sessions/store/sqlite_store.h"

#include <sqlite3.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "sessions/store/open_store.h"
#include "tests/sessions/store_suite.h"

namespace rs::sessions::testing {
namespace {

// A fresh path under the test temp dir.
std::string TempPath(const std::string& name) {
  static std::atomic<int> counter{0};
  const std::string dir = ::testing::TempDir() + "rs_sqlite_store_" + std::to_string(getpid()) +
                          "_" + std::to_string(counter++);
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir + "/" + name;
}

// Runs SQL on a raw connection of its own (behind the store's back).
Status RawExec(const std::string& path, const std::string& sql, const std::string& bind_text = "",
               const std::string& bind_blob = "") {
  sqlite3* db = nullptr;
  if (sqlite3_open(path.c_str(), &db) != SQLITE_OK) return InternalError("open");
  sqlite3_busy_timeout(db, 5000);
  sqlite3_stmt* st = nullptr;
  int rc = sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr);
  if (rc == SQLITE_OK && !bind_blob.empty()) {
    sqlite3_bind_blob(st, 1, bind_blob.data(), static_cast<int>(bind_blob.size()),
                      SQLITE_TRANSIENT);
  }
  if (rc == SQLITE_OK && !bind_text.empty()) {
    sqlite3_bind_text(st, bind_blob.empty() ? 1 : 2, bind_text.c_str(), -1, SQLITE_TRANSIENT);
  }
  if (rc == SQLITE_OK) rc = sqlite3_step(st);
  Status s =
      (rc == SQLITE_DONE || rc == SQLITE_ROW) ? OkStatus() : InternalError(sqlite3_errmsg(db));
  sqlite3_finalize(st);
  sqlite3_close(db);
  return s;
}

// The first text column of the first row of `sql`.
std::string RawQuery(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  sqlite3_open(path.c_str(), &db);
  sqlite3_stmt* st = nullptr;
  std::string out = "<error>";
  if (sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr) == SQLITE_OK &&
      sqlite3_step(st) == SQLITE_ROW) {
    const unsigned char* t = sqlite3_column_text(st, 0);
    out = t != nullptr ? reinterpret_cast<const char*>(t) : "";
  }
  sqlite3_finalize(st);
  sqlite3_close(db);
  return out;
}

class SqliteHarness : public StoreHarness {
 public:
  StatusOr<std::unique_ptr<SessionStore>> Open() override {
    RS_ASSIGN_OR_RETURN(auto store, SqliteSessionStore::Open(path_));
    return std::unique_ptr<SessionStore>(std::move(store));
  }
  Status CorruptSnapshot(const std::string& id) override {
    return RawExec(
        path_,
        "UPDATE snapshots SET state = CAST(x'ff' AS BLOB) || substr(state, 2) WHERE session_id = ?",
        id);
  }

 private:
  std::string path_ = TempPath("sessions.db");
};

INSTANTIATE_TEST_SUITE_P(Sqlite, StoreSuite,
                         ::testing::Values(StoreParam{
                             "sqlite", [] { return std::make_unique<SqliteHarness>(); }}),
                         StoreParamName);

void WriteFile(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

TEST(SqliteStore, CreatesAFileInWalModeWithTheSchemaVersion) {
  const std::string path = TempPath("new.db");
  auto store = SqliteSessionStore::Open(path);
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  EXPECT_STREQ((*store)->kind(), "sqlite");
  EXPECT_TRUE(std::filesystem::exists(path));
  EXPECT_EQ(RawQuery(path, "PRAGMA journal_mode"), "wal");
  EXPECT_EQ(RawQuery(path, "SELECT MAX(version) FROM schema_version"),
            std::to_string(SqliteSessionStore::LatestSchemaVersion()));
  store->reset();
  // Opening again applies nothing twice.
  ASSERT_TRUE(SqliteSessionStore::Open(path).ok());
  EXPECT_EQ(RawQuery(path, "SELECT COUNT(*) FROM schema_version"),
            std::to_string(SqliteSessionStore::LatestSchemaVersion()));
}

TEST(SqliteStore, NotADatabaseIsDataLoss) {
  const std::string path = TempPath("garbage.db");
  std::string junk(8192, '\0');
  for (size_t i = 0; i < junk.size(); ++i) junk[i] = static_cast<char>(i * 7 + 3);
  WriteFile(path, junk);
  auto store = SqliteSessionStore::Open(path);
  EXPECT_EQ(Code(store), "DATA_LOSS");
  EXPECT_NE(store.status().message().find("not a SQLite database"), std::string::npos)
      << store.status().message();
}

TEST(SqliteStore, CorruptPagesAreDataLoss) {
  const std::string path = TempPath("corrupt.db");
  {
    auto store = SqliteSessionStore::Open(path);
    ASSERT_TRUE(store.ok());
    for (int i = 0; i < 50; ++i) {
      SessionRecord s;
      s.id = "s";
      s.id += std::to_string(i);  // (GCC 12 warns, wrongly, on "s" + to_string)
      s.tenant = "acme";
      s.system_prompt = std::string(500, 'p');
      ASSERT_TRUE((*store)->CreateSession(s).ok());
    }
  }  // closing the last connection checkpoints the WAL into the file
  ASSERT_TRUE(std::filesystem::exists(path));
  const auto size = std::filesystem::file_size(path);
  ASSERT_GE(size, 4u * 4096);
  {
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(4096 + 16);  // inside page 2, after its header start
    const std::string junk(3 * 4096, '\xa5');
    f.write(junk.data(), static_cast<std::streamsize>(junk.size()));
  }
  auto store = SqliteSessionStore::Open(path);
  EXPECT_EQ(Code(store), "DATA_LOSS") << store.status().ToString();
}

TEST(SqliteStore, NewerSchemaIsFailedPrecondition) {
  const std::string path = TempPath("newer.db");
  ASSERT_TRUE(SqliteSessionStore::Open(path).ok());
  ASSERT_TRUE(
      RawExec(path, "INSERT INTO schema_version (version, applied_ms) VALUES (999, 0)").ok());
  auto store = SqliteSessionStore::Open(path);
  EXPECT_EQ(Code(store), "FAILED_PRECONDITION");
  EXPECT_NE(store.status().message().find("999"), std::string::npos);
}

TEST(SqliteStore, UnopenablePathIsUnavailable) {
  auto store = SqliteSessionStore::Open("/nonexistent-dir/for/sure/sessions.db");
  EXPECT_EQ(Code(store), "UNAVAILABLE") << store.status().ToString();
}

TEST(SqliteStore, TwoProcessesShareOneFile) {
  // Two stores on one file (two replicas of one machine): each sees the
  // other's commits and optimistic concurrency holds across them.
  const std::string path = TempPath("shared.db");
  auto a = SqliteSessionStore::Open(path);
  auto b = SqliteSessionStore::Open(path);
  ASSERT_TRUE(a.ok() && b.ok());
  SessionRecord s;
  s.id = "s1";
  s.tenant = "acme";
  ASSERT_TRUE((*a)->CreateSession(s).ok());
  ASSERT_TRUE((*b)->BeginTurn("acme", "s1", 0, "", "x", "b", nullptr).ok());
  EXPECT_EQ(Code((*a)->BeginTurn("acme", "s1", 0, "", "y", "a", nullptr)), "ABORTED");
  ASSERT_TRUE((*b)->CommitTurn("acme", "s1", 1, TurnCommit{}).ok());
  EXPECT_EQ((*a)->GetSession("acme", "s1")->turns, 1);
}

TEST(OpenSessionStore, SpecsInLogsHideThePassword) {
  EXPECT_EQ(RedactStoreSpec("postgres:host=db user=rs password=s3cret dbname=x"),
            "postgres:host=db user=rs password=*** dbname=x");
  EXPECT_EQ(RedactStoreSpec("postgres:password = 'a b\\'c' host=db"), "postgres:password = *** host=db");
  EXPECT_EQ(RedactStoreSpec("postgres:postgresql://rs:s3cret@db:5432/x?sslmode=require"),
            "postgres:postgresql://rs:***@db:5432/x?sslmode=require");
  EXPECT_EQ(RedactStoreSpec("postgres:postgresql://db/x?user=rs&password=s3cret&sslmode=require"),
            "postgres:postgresql://db/x?user=rs&password=***&sslmode=require");
  EXPECT_EQ(RedactStoreSpec("sqlite:/var/lib/sessions.db"), "sqlite:/var/lib/sessions.db");
  auto bad = OpenSessionStore("mysql:password=s3cret");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message().find("s3cret"), std::string::npos) << bad.status().message();
}

}  // namespace
}  // namespace rs::sessions::testing
