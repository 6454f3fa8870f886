#include "sessions/store/sqlite_store.h"

#include <sqlite3.h>

#include <cstring>
#include <vector>

namespace rs::sessions {
namespace {

using internal::PageCursor;
using internal::StoreTx;

// The schema, as ordered migrations: migration i (1-based) brings the schema
// from version i-1 to i. Append only; never edit a released one.
const std::vector<const char*>& Migrations() {
  static const std::vector<const char*> kMigrations = {
      // 1: sessions, turn attempts, long-term memory, snapshots.
      R"sql(
CREATE TABLE sessions (
  id TEXT PRIMARY KEY,
  tenant TEXT NOT NULL,
  model TEXT NOT NULL,
  mode INTEGER NOT NULL,
  system_prompt TEXT NOT NULL,
  short_term_budget_tokens INTEGER NOT NULL,
  retrieval_k INTEGER NOT NULL,
  chat_template TEXT NOT NULL,
  temperature REAL NOT NULL,
  top_p REAL NOT NULL,
  max_reply_tokens INTEGER NOT NULL,
  short_term TEXT NOT NULL,
  turns INTEGER NOT NULL,
  created_ms INTEGER NOT NULL,
  updated_ms INTEGER NOT NULL,
  forked_from TEXT NOT NULL,
  forked_at_turn INTEGER NOT NULL
);
CREATE INDEX sessions_by_tenant ON sessions (tenant, created_ms DESC, id DESC);
CREATE TABLE turns (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
  idx INTEGER NOT NULL,
  status INTEGER NOT NULL,
  request_id TEXT NOT NULL,
  input TEXT NOT NULL,
  reply TEXT NOT NULL,
  short_term_after TEXT NOT NULL,
  plans BLOB NOT NULL,
  retrieved BLOB NOT NULL,
  rebuilt_from_text INTEGER NOT NULL,
  error TEXT NOT NULL,
  owner TEXT NOT NULL,
  created_ms INTEGER NOT NULL,
  committed_ms INTEGER NOT NULL
);
CREATE INDEX turns_by_session ON turns (session_id, idx, seq);
CREATE UNIQUE INDEX turns_one_committed ON turns (session_id, idx) WHERE status = 1;
CREATE UNIQUE INDEX turns_one_pending ON turns (session_id) WHERE status = 0;
CREATE UNIQUE INDEX turns_by_request ON turns (session_id, request_id) WHERE status = 1 AND request_id <> '';
CREATE INDEX turns_pending_by_owner ON turns (owner) WHERE status = 0;
CREATE TABLE memory_items (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
  turn INTEGER NOT NULL,
  text TEXT NOT NULL,
  embedding BLOB NOT NULL,
  created_ms INTEGER NOT NULL,
  updated_ms INTEGER NOT NULL
);
CREATE INDEX memory_by_session ON memory_items (session_id, id);
CREATE TABLE snapshots (
  session_id TEXT PRIMARY KEY REFERENCES sessions (id) ON DELETE CASCADE,
  turn INTEGER NOT NULL,
  model_fingerprint TEXT NOT NULL,
  state BLOB NOT NULL,
  consumed_tokens INTEGER NOT NULL,
  pending_token INTEGER NOT NULL,
  checksum INTEGER NOT NULL
);
)sql",
      // 2: the text the state consumed after the visible reply (bytes).
      R"sql(
ALTER TABLE snapshots ADD COLUMN tail BLOB NOT NULL DEFAULT x'';
)sql",
      // 3: replica leases (a dead replica's pending turns stop blocking).
      R"sql(
CREATE TABLE replica_leases (
  owner TEXT PRIMARY KEY,
  expires_ms INTEGER NOT NULL
);
)sql",
  };
  return kMigrations;
}

// One line for a failed SQLite call: the code class decides the Status code.
Status SqliteError(sqlite3* db, int rc, const char* what) {
  const std::string msg = std::string("sqlite ") + what + ": " +
                          (db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
  switch (rc & 0xff) {
    case SQLITE_NOTADB:
      return DataLossError(msg + " (the file is not a SQLite database)");
    case SQLITE_CORRUPT:
      return DataLossError(msg + " (the database is corrupt)");
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_CANTOPEN:
    case SQLITE_FULL:
    case SQLITE_IOERR:
    case SQLITE_READONLY:
      return UnavailableError(msg);
    case SQLITE_TOOBIG:
    case SQLITE_RANGE:
      return InvalidArgumentError(msg);
    default:
      return InternalError(msg);
  }
}

// A prepared statement: binds in order, steps, reads columns by index.
class Stmt {
 public:
  Stmt(sqlite3* db, const char* sql) : db_(db) {
    rc_ = sqlite3_prepare_v2(db, sql, -1, &st_, nullptr);
  }
  ~Stmt() { sqlite3_finalize(st_); }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;

  Stmt& Int(int64_t v) { return Check(sqlite3_bind_int64(st_, ++n_, v)); }
  Stmt& Real(double v) { return Check(sqlite3_bind_double(st_, ++n_, v)); }
  Stmt& Text(const std::string& v) {
    return Check(sqlite3_bind_text64(st_, ++n_, v.data(), v.size(), SQLITE_TRANSIENT, SQLITE_UTF8));
  }
  Stmt& Blob(const std::string& v) {
    return Check(sqlite3_bind_blob64(st_, ++n_, v.data(), v.size(), SQLITE_TRANSIENT));
  }

  // true: a row is ready; false: done.
  StatusOr<bool> Step() {
    if (rc_ != SQLITE_OK) return SqliteError(db_, rc_, "prepare/bind");
    const int rc = sqlite3_step(st_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    return SqliteError(db_, rc, "step");
  }
  // Runs a statement that returns no rows.
  Status Run() { return Step().status(); }

  int64_t ColInt(int i) { return sqlite3_column_int64(st_, i); }
  double ColReal(int i) { return sqlite3_column_double(st_, i); }
  std::string ColBytes(int i) {
    const void* p = sqlite3_column_blob(st_, i);
    const int n = sqlite3_column_bytes(st_, i);
    return p == nullptr ? std::string() : std::string(static_cast<const char*>(p), n);
  }

 private:
  Stmt& Check(int rc) {
    if (rc_ == SQLITE_OK && rc != SQLITE_OK) rc_ = rc;
    return *this;
  }

  sqlite3* db_;
  sqlite3_stmt* st_ = nullptr;
  int rc_ = SQLITE_OK;
  int n_ = 0;
};

Status Exec(sqlite3* db, const char* sql, const char* what) {
  const int rc = sqlite3_exec(db, sql, nullptr, nullptr, nullptr);
  return rc == SQLITE_OK ? OkStatus() : SqliteError(db, rc, what);
}

// The column lists every read uses, in the order the readers expect.
constexpr const char* kSessionCols =
    "id, tenant, model, mode, system_prompt, short_term_budget_tokens, retrieval_k, chat_template, "
    "temperature, top_p, max_reply_tokens, short_term, turns, created_ms, updated_ms, forked_from, "
    "forked_at_turn";
constexpr const char* kTurnCols =
    "idx, status, request_id, input, reply, short_term_after, plans, retrieved, rebuilt_from_text, "
    "error, "
    "created_ms, committed_ms";
constexpr const char* kMemoryCols = "id, turn, text, embedding, created_ms, updated_ms";
constexpr int kTurnColCount = 12;  // in kTurnCols
// The pending attempt of a session with its owner's lease (t.owner and
// l.expires_ms follow kTurnCols, which no lease column shadows).
constexpr const char* kPendingFrom =
    "FROM turns t LEFT JOIN replica_leases l ON l.owner = t.owner WHERE t.session_id = ? AND t.status = 0";

SessionRecord ReadSession(Stmt& st) {
  SessionRecord s;
  s.id = st.ColBytes(0);
  s.tenant = st.ColBytes(1);
  s.model = st.ColBytes(2);
  s.mode = static_cast<SessionMode>(st.ColInt(3));
  s.system_prompt = st.ColBytes(4);
  s.memory.short_term_budget_tokens = static_cast<int32_t>(st.ColInt(5));
  s.memory.retrieval_k = static_cast<int32_t>(st.ColInt(6));
  s.memory.chat_template = st.ColBytes(7);
  s.temperature = static_cast<float>(st.ColReal(8));
  s.top_p = static_cast<float>(st.ColReal(9));
  s.max_reply_tokens = static_cast<int32_t>(st.ColInt(10));
  s.short_term = st.ColBytes(11);
  s.turns = st.ColInt(12);
  s.created_ms = st.ColInt(13);
  s.updated_ms = st.ColInt(14);
  s.forked_from = st.ColBytes(15);
  s.forked_at_turn = st.ColInt(16);
  return s;
}

StatusOr<TurnRecord> ReadTurn(Stmt& st) {
  TurnRecord t;
  t.index = st.ColInt(0);
  t.status = static_cast<TurnRecord::Status>(st.ColInt(1));
  t.request_id = st.ColBytes(2);
  t.input = st.ColBytes(3);
  t.reply = st.ColBytes(4);
  t.short_term_after = st.ColBytes(5);
  RS_ASSIGN_OR_RETURN(t.plans, internal::DecodeStrings(st.ColBytes(6)));
  RS_ASSIGN_OR_RETURN(t.retrieved, internal::DecodeRetrievals(st.ColBytes(7)));
  t.rebuilt_from_text = st.ColInt(8) != 0;
  t.error = st.ColBytes(9);
  t.created_ms = st.ColInt(10);
  t.committed_ms = st.ColInt(11);
  return t;
}

StatusOr<MemoryItem> ReadMemory(Stmt& st) {
  MemoryItem m;
  m.id = st.ColInt(0);
  m.turn = st.ColInt(1);
  m.text = st.ColBytes(2);
  RS_ASSIGN_OR_RETURN(m.embedding, internal::DecodeEmbedding(st.ColBytes(3)));
  m.created_ms = st.ColInt(4);
  m.updated_ms = st.ColInt(5);
  return m;
}

// Runs `st` and collects every row with `read`.
template <typename T, typename Read>
StatusOr<std::vector<T>> Collect(Stmt& st, Read read) {
  std::vector<T> out;
  while (true) {
    RS_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) return out;
    RS_ASSIGN_OR_RETURN(T v, read(st));
    out.push_back(std::move(v));
  }
}

StatusOr<std::optional<TurnRecord>> FirstTurn(Stmt& st) {
  RS_ASSIGN_OR_RETURN(std::vector<TurnRecord> v, Collect<TurnRecord>(st, ReadTurn));
  if (v.empty()) return std::optional<TurnRecord>();
  return std::optional<TurnRecord>(std::move(v[0]));
}

class SqliteTx final : public StoreTx {
 public:
  explicit SqliteTx(sqlite3* db) : db_(db) {}

  StatusOr<SessionRecord> LoadSession(const std::string& tenant, const std::string& id,
                                      bool) override {
    Stmt st(db_,
            Sql("SELECT ", kSessionCols, " FROM sessions WHERE id = ? AND tenant = ?").c_str());
    st.Text(id).Text(tenant);
    RS_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) return NotFoundError("session " + id + " not found");
    return ReadSession(st);
  }

  StatusOr<bool> SessionExists(const std::string& id) override {
    Stmt st(db_, "SELECT 1 FROM sessions WHERE id = ?");
    st.Text(id);
    return st.Step();
  }

  Status InsertSession(const SessionRecord& s) override {
    RS_ASSIGN_OR_RETURN(bool taken, SessionExists(s.id));
    if (taken) return AlreadyExistsError("session " + s.id + " already exists");
    Stmt st(db_, Sql("INSERT INTO sessions (", kSessionCols,
                     ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
                     .c_str());
    st.Text(s.id).Text(s.tenant).Text(s.model).Int(static_cast<int>(s.mode)).Text(s.system_prompt);
    st.Int(s.memory.short_term_budget_tokens)
        .Int(s.memory.retrieval_k)
        .Text(s.memory.chat_template);
    st.Real(s.temperature).Real(s.top_p).Int(s.max_reply_tokens).Text(s.short_term).Int(s.turns);
    st.Int(s.created_ms).Int(s.updated_ms).Text(s.forked_from).Int(s.forked_at_turn);
    return st.Run();
  }

  Status UpdateSession(const std::string& id, int64_t turns, const std::string& short_term,
                       int64_t updated_ms) override {
    Stmt st(db_, "UPDATE sessions SET turns = ?, short_term = ?, updated_ms = ? WHERE id = ?");
    st.Int(turns).Text(short_term).Int(updated_ms).Text(id);
    return st.Run();
  }

  Status DeleteSession(const std::string& id) override {
    Stmt st(db_, "DELETE FROM sessions WHERE id = ?");
    st.Text(id);
    return st.Run();
  }

  StatusOr<std::vector<SessionRecord>> ListSessions(const std::string& tenant,
                                                    const std::optional<PageCursor>& after,
                                                    int64_t limit) override {
    const std::string sql = Sql("SELECT ", kSessionCols, " FROM sessions WHERE tenant = ?",
                                after ? " AND (created_ms < ? OR (created_ms = ? AND id < ?))" : "",
                                " ORDER BY created_ms DESC, id DESC LIMIT ?");
    Stmt st(db_, sql.c_str());
    st.Text(tenant);
    if (after) st.Int(after->created_ms).Int(after->created_ms).Text(after->id);
    st.Int(limit);
    return Collect<SessionRecord>(
        st, [](Stmt& s) -> StatusOr<SessionRecord> { return ReadSession(s); });
  }

  StatusOr<std::optional<TurnRecord>> FindCommittedTurn(const std::string& id,
                                                        const std::string& request_id) override {
    Stmt st(db_, Sql("SELECT ", kTurnCols,
                     " FROM turns WHERE session_id = ? AND request_id = ? AND status = 1")
                     .c_str());
    st.Text(id).Text(request_id);
    return FirstTurn(st);
  }

  StatusOr<std::optional<PendingTurn>> FindPendingTurn(const std::string& id) override {
    Stmt st(db_, Sql("SELECT ", kTurnCols, ", t.owner, COALESCE(l.expires_ms, -1) ", kPendingFrom).c_str());
    st.Text(id);
    RS_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) return std::optional<PendingTurn>();
    RS_ASSIGN_OR_RETURN(TurnRecord t, ReadTurn(st));
    return std::optional<PendingTurn>(PendingTurn{std::move(t), st.ColBytes(kTurnColCount),
                                                  st.ColInt(kTurnColCount + 1)});
  }

  Status InsertTurn(const std::string& id, const TurnRecord& t, const std::string& owner) override {
    Stmt st(db_, Sql("INSERT INTO turns (session_id, owner, ", kTurnCols,
                     ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
                     .c_str());
    st.Text(id).Text(owner);
    BindTurn(st, t);
    return st.Run();
  }

  StatusOr<bool> FinishPendingTurn(const std::string& id, const TurnRecord& t) override {
    Stmt st(
        db_,
        "UPDATE turns SET status = ?, reply = ?, short_term_after = ?, plans = ?, retrieved = ?, "
        "rebuilt_from_text = ?, error = ?, committed_ms = ? "
        "WHERE session_id = ? AND idx = ? AND status = 0");
    st.Int(static_cast<int>(t.status)).Text(t.reply).Text(t.short_term_after);
    st.Blob(internal::EncodeStrings(t.plans)).Blob(internal::EncodeRetrievals(t.retrieved));
    st.Int(t.rebuilt_from_text ? 1 : 0).Text(t.error).Int(t.committed_ms).Text(id).Int(t.index);
    RS_RETURN_IF_ERROR(st.Run());
    return sqlite3_changes64(db_) == 1;
  }

  StatusOr<int64_t> FailPendingTurns(const std::string& owner, const std::string& error) override {
    Stmt st(
        db_,
        "UPDATE turns SET status = 2, error = ?, committed_ms = ? WHERE owner = ? AND status = 0");
    st.Text(error).Int(internal::NowMs()).Text(owner);
    RS_RETURN_IF_ERROR(st.Run());
    return static_cast<int64_t>(sqlite3_changes64(db_));
  }

  Status PutReplicaLease(const std::string& owner, int64_t expires_ms) override {
    Stmt st(db_,
            "INSERT INTO replica_leases (owner, expires_ms) VALUES (?, ?) "
            "ON CONFLICT (owner) DO UPDATE SET expires_ms = excluded.expires_ms");
    st.Text(owner).Int(expires_ms);
    return st.Run();
  }

  StatusOr<std::vector<TurnRecord>> ListTurns(const std::string& id, int64_t from, int64_t to,
                                              bool include_failed) override {
    const std::string sql =
        Sql("SELECT ", kTurnCols, " FROM turns WHERE session_id = ? AND idx >= ?",
            to > 0 ? " AND idx <= ?" : "", include_failed ? "" : " AND status = 1",
            " ORDER BY idx, seq");
    Stmt st(db_, sql.c_str());
    st.Text(id).Int(from);
    if (to > 0) st.Int(to);
    return Collect<TurnRecord>(st, ReadTurn);
  }

  Status DeleteTurnsAfter(const std::string& id, int64_t turn) override {
    Stmt st(db_, "DELETE FROM turns WHERE session_id = ? AND idx > ?");
    st.Text(id).Int(turn);
    return st.Run();
  }

  StatusOr<std::vector<MemoryItem>> ListMemory(const std::string& id) override {
    Stmt st(
        db_,
        Sql("SELECT ", kMemoryCols, " FROM memory_items WHERE session_id = ? ORDER BY id").c_str());
    st.Text(id);
    return Collect<MemoryItem>(st, ReadMemory);
  }

  StatusOr<int64_t> InsertMemory(const std::string& id, const MemoryItem& m) override {
    Stmt st(db_,
            "INSERT INTO memory_items (session_id, turn, text, embedding, created_ms, updated_ms) "
            "VALUES (?, ?, ?, ?, ?, ?)");
    st.Text(id).Int(m.turn).Text(m.text).Blob(internal::EncodeEmbedding(m.embedding));
    st.Int(m.created_ms).Int(m.updated_ms);
    RS_RETURN_IF_ERROR(st.Run());
    return static_cast<int64_t>(sqlite3_last_insert_rowid(db_));
  }

  StatusOr<bool> UpdateMemory(const std::string& id, const MemoryItem& m) override {
    Stmt st(db_,
            "UPDATE memory_items SET text = ?, embedding = ?, updated_ms = ? WHERE session_id = ? "
            "AND id = ?");
    st.Text(m.text)
        .Blob(internal::EncodeEmbedding(m.embedding))
        .Int(m.updated_ms)
        .Text(id)
        .Int(m.id);
    RS_RETURN_IF_ERROR(st.Run());
    return sqlite3_changes64(db_) == 1;
  }

  StatusOr<bool> DeleteMemory(const std::string& id, int64_t item_id) override {
    Stmt st(db_, "DELETE FROM memory_items WHERE session_id = ? AND id = ?");
    st.Text(id).Int(item_id);
    RS_RETURN_IF_ERROR(st.Run());
    return sqlite3_changes64(db_) == 1;
  }

  Status DeleteMemoryAfter(const std::string& id, int64_t turn) override {
    Stmt st(db_, "DELETE FROM memory_items WHERE session_id = ? AND turn > ?");
    st.Text(id).Int(turn);
    return st.Run();
  }

  StatusOr<std::optional<Snapshot>> GetSnapshot(const std::string& id) override {
    Stmt st(db_,
            "SELECT turn, model_fingerprint, state, consumed_tokens, pending_token, checksum, tail "
            "FROM snapshots WHERE session_id = ?");
    st.Text(id);
    RS_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) return std::optional<Snapshot>();
    Snapshot s;
    s.turn = st.ColInt(0);
    s.model_fingerprint = st.ColBytes(1);
    s.state = st.ColBytes(2);
    s.consumed_tokens = st.ColInt(3);
    s.pending_token = static_cast<int32_t>(st.ColInt(4));
    s.checksum = static_cast<uint64_t>(st.ColInt(5));
    s.tail = st.ColBytes(6);
    return std::optional<Snapshot>(std::move(s));
  }

  Status PutSnapshot(const std::string& id, const Snapshot& s) override {
    Stmt st(db_,
            "INSERT OR REPLACE INTO snapshots (session_id, turn, model_fingerprint, state, "
            "consumed_tokens, "
            "pending_token, checksum, tail) VALUES (?, ?, ?, ?, ?, ?, ?, ?)");
    st.Text(id).Int(s.turn).Text(s.model_fingerprint).Blob(s.state).Int(s.consumed_tokens);
    st.Int(s.pending_token).Int(static_cast<int64_t>(s.checksum)).Blob(s.tail);
    return st.Run();
  }

  Status DeleteSnapshot(const std::string& id) override {
    Stmt st(db_, "DELETE FROM snapshots WHERE session_id = ?");
    st.Text(id);
    return st.Run();
  }

 private:
  template <typename... Parts>
  static std::string Sql(const Parts&... parts) {
    std::string out;
    (out.append(parts), ...);
    return out;
  }

  // Binds the kTurnCols of `t`, in order.
  static void BindTurn(Stmt& st, const TurnRecord& t) {
    st.Int(t.index).Int(static_cast<int>(t.status)).Text(t.request_id).Text(t.input).Text(t.reply);
    st.Text(t.short_term_after).Blob(internal::EncodeStrings(t.plans));
    st.Blob(internal::EncodeRetrievals(t.retrieved)).Int(t.rebuilt_from_text ? 1 : 0).Text(t.error);
    st.Int(t.created_ms).Int(t.committed_ms);
  }

  sqlite3* db_;
};

// Runs `body` between BEGIN and COMMIT (ROLLBACK when it fails).
Status InTransaction(sqlite3* db, bool write, const std::function<Status()>& body) {
  RS_RETURN_IF_ERROR(Exec(db, write ? "BEGIN IMMEDIATE" : "BEGIN", "begin"));
  Status s = body();
  if (s.ok()) s = Exec(db, "COMMIT", "commit");
  if (!s.ok() && !sqlite3_get_autocommit(db)) {
    (void)Exec(db, "ROLLBACK", "rollback");  // the first error is the one to report
  }
  return s;
}

StatusOr<int64_t> ReadSchemaVersion(sqlite3* db) {
  Stmt st(db, "SELECT COALESCE(MAX(version), 0) FROM schema_version");
  RS_ASSIGN_OR_RETURN(bool row, st.Step());
  return row ? st.ColInt(0) : 0;
}

// Applies the migrations the file lacks, one transaction each.
Status Migrate(sqlite3* db) {
  RS_RETURN_IF_ERROR(InTransaction(db, true, [&] {
    return Exec(db,
                "CREATE TABLE IF NOT EXISTS schema_version ("
                "version INTEGER PRIMARY KEY, applied_ms INTEGER NOT NULL)",
                "create schema_version");
  }));
  const auto& migrations = Migrations();
  const auto latest = static_cast<int64_t>(migrations.size());
  for (int64_t v = 1; v <= latest; ++v) {
    RS_RETURN_IF_ERROR(InTransaction(db, true, [&]() -> Status {
      RS_ASSIGN_OR_RETURN(int64_t have, ReadSchemaVersion(db));
      if (have > latest) {
        return FailedPreconditionError("the database has schema version " + std::to_string(have) +
                                       ", newer than this binary's " + std::to_string(latest));
      }
      if (have >= v) return OkStatus();  // applied (perhaps by another process)
      RS_RETURN_IF_ERROR(Exec(db, migrations[v - 1], "migration"));
      Stmt st(db, "INSERT INTO schema_version (version, applied_ms) VALUES (?, ?)");
      st.Int(v).Int(internal::NowMs());
      return st.Run();
    }));
  }
  // A newer file with every migration we know applied is caught here.
  RS_ASSIGN_OR_RETURN(int64_t have, ReadSchemaVersion(db));
  if (have > latest) {
    return FailedPreconditionError("the database has schema version " + std::to_string(have) +
                                   ", newer than this binary's " + std::to_string(latest));
  }
  return OkStatus();
}

// Expects `sql` to return one text row equal to `want`.
Status ExpectRow(sqlite3* db, const char* sql, const char* want, StatusCode code) {
  Stmt st(db, sql);
  RS_ASSIGN_OR_RETURN(bool row, st.Step());
  const std::string got = row ? st.ColBytes(0) : "";
  if (got != want) return Status(code, std::string(sql) + " returned '" + got + "'");
  return OkStatus();
}

Status Configure(sqlite3* db, const SqliteSessionStore::Options& options) {
  sqlite3_extended_result_codes(db, 1);
  sqlite3_busy_timeout(db, options.busy_timeout_ms);
  RS_RETURN_IF_ERROR(ExpectRow(db, "PRAGMA journal_mode = WAL", "wal", StatusCode::kUnavailable));
  RS_RETURN_IF_ERROR(Exec(db, "PRAGMA synchronous = FULL", "pragma synchronous"));
  RS_RETURN_IF_ERROR(Exec(db, "PRAGMA foreign_keys = ON", "pragma foreign_keys"));
  if (options.check_on_open) {
    RS_RETURN_IF_ERROR(ExpectRow(db, "PRAGMA quick_check", "ok", StatusCode::kDataLoss));
  }
  return Migrate(db);
}

}  // namespace

StatusOr<std::unique_ptr<SqliteSessionStore>> SqliteSessionStore::Open(const std::string& path,
                                                                       const Options& options) {
  sqlite3* db = nullptr;
  const int rc = sqlite3_open_v2(
      path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    Status s = SqliteError(db, rc, "open");
    sqlite3_close_v2(db);
    return s.WithPrefix(path);
  }
  Status s = Configure(db, options);
  if (!s.ok()) {
    sqlite3_close_v2(db);
    return s.WithPrefix(path);
  }
  return std::unique_ptr<SqliteSessionStore>(new SqliteSessionStore(db));
}

int64_t SqliteSessionStore::LatestSchemaVersion() {
  return static_cast<int64_t>(Migrations().size());
}

SqliteSessionStore::~SqliteSessionStore() { sqlite3_close_v2(db_); }

Status SqliteSessionStore::RunTx(bool write,
                                 const std::function<Status(internal::StoreTx&)>& body) {
  std::lock_guard<std::mutex> lock(mu_);
  SqliteTx tx(db_);
  return InTransaction(db_, write, [&] { return body(tx); });
}

}  // namespace rs::sessions
