// PostgresSessionStore: the SessionStore (session_store.h) for clusters, on
// PostgreSQL through libpq, so any replica can serve any session.
//
// Every call is one transaction on a pooled connection (READ COMMITTED; a
// write locks its session's row with SELECT ... FOR UPDATE, so concurrent
// writers of one session, on any replica, are serialized). Queries are
// parameterized (binary parameters with explicit types), never built from
// user data. Snapshots and embeddings are bytea (embeddings: little-endian
// float32). The schema is created and upgraded by versioned migrations
// recorded in `schema_version`, each in one transaction holding
// pg_advisory_xact_lock, so replicas starting together do not race.
//
// A connection found broken is reset before a transaction begins; a server
// that cannot be reached is UNAVAILABLE (the caller may retry); a transaction
// cut off mid-way is UNAVAILABLE too and, as always, changed nothing or
// everything.
//
// Thread-safety: every method may be called concurrently; up to
// Options::max_connections transactions run at once, the rest wait.
#pragma once

#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "sessions/store/store_core.h"

struct pg_conn;

namespace rs::sessions {

class PostgresSessionStore final : public internal::StoreCore {
 public:
  struct Options {
    int max_connections = 8;    // the pool's size
    int connect_timeout_s = 5;  // libpq connect_timeout, unless conninfo sets one
  };

  // Connects with the libpq `conninfo` ("host=... dbname=..." or a
  // postgresql:// URI) and migrates the schema.
  static StatusOr<std::unique_ptr<PostgresSessionStore>> Open(const std::string& conninfo,
                                                              const Options& options);
  static StatusOr<std::unique_ptr<PostgresSessionStore>> Open(const std::string& conninfo) {
    return Open(conninfo, Options());
  }
  // The schema version this binary migrates to.
  static int64_t LatestSchemaVersion();

  ~PostgresSessionStore() override;
  PostgresSessionStore(const PostgresSessionStore&) = delete;
  PostgresSessionStore& operator=(const PostgresSessionStore&) = delete;

  const char* kind() const override { return "postgres"; }

 protected:
  Status RunTx(bool write, const std::function<Status(internal::StoreTx&)>& body) override;

 private:
  PostgresSessionStore(std::string conninfo, const Options& options)
      : conninfo_(std::move(conninfo)), options_(options) {}

  // A pooled connection (connecting a new one when the pool has room),
  // waiting while all are in use. UNAVAILABLE when the server is unreachable.
  StatusOr<pg_conn*> Acquire();
  // Back to the pool; a broken connection is closed instead.
  void Release(pg_conn* conn);

  const std::string conninfo_;
  const Options options_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<pg_conn*> idle_;  // guarded by mu_
  int open_ = 0;                // guarded by mu_: idle + in use
};

}  // namespace rs::sessions
