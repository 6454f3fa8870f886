// SqliteSessionStore: the embedded SessionStore (session_store.h), one SQLite
// file. The file is opened in WAL mode with synchronous=FULL (a call that
// returned OK survives kill -9 and power loss), foreign keys on and a busy
// timeout; each call is one transaction (BEGIN IMMEDIATE for writes). The
// schema is created and upgraded by versioned migrations recorded in the
// `schema_version` table, each applied in its own transaction.
//
// A file that is not a SQLite database, or a database that fails
// `PRAGMA quick_check` at Open or reports corruption later, is DATA_LOSS;
// a file written by a newer schema is FAILED_PRECONDITION.
//
// Thread-safety: every method may be called concurrently; calls are
// serialized on one connection. Several processes may open the same file
// (SQLite's locking, waited out up to busy_timeout_ms, then UNAVAILABLE).
#pragma once

#include <memory>
#include <mutex>
#include <string>

#include "sessions/store/store_core.h"

struct sqlite3;

namespace rs::sessions {

class SqliteSessionStore final : public internal::StoreCore {
 public:
  struct Options {
    int busy_timeout_ms = 5000;  // wait this long for another process's lock
    // Run PRAGMA quick_check at Open (reads the whole file: seconds for GBs).
    bool check_on_open = true;
  };

  // Opens (creating if missing) the database at `path` and migrates it.
  static StatusOr<std::unique_ptr<SqliteSessionStore>> Open(const std::string& path,
                                                            const Options& options);
  static StatusOr<std::unique_ptr<SqliteSessionStore>> Open(const std::string& path) {
    return Open(path, Options());
  }
  // The schema version this binary migrates to.
  static int64_t LatestSchemaVersion();

  ~SqliteSessionStore() override;
  SqliteSessionStore(const SqliteSessionStore&) = delete;
  SqliteSessionStore& operator=(const SqliteSessionStore&) = delete;

  const char* kind() const override { return "sqlite"; }

 protected:
  Status RunTx(bool write, const std::function<Status(internal::StoreTx&)>& body) override;

 private:
  explicit SqliteSessionStore(sqlite3* db) : db_(db) {}

  std::mutex mu_;
  sqlite3* const db_;  // guarded by mu_
};

}  // namespace rs::sessions
