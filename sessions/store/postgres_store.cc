#include "sessions/store/postgres_store.h"

#include <libpq-fe.h>

#include <cstdlib>
#include <cstring>
#include <deque>

namespace rs::sessions {
namespace {

using internal::PageCursor;
using internal::StoreTx;

// Type OIDs of the binary parameters (pg_type.h is a server header).
constexpr Oid kBoolOid = 16, kByteaOid = 17, kInt8Oid = 20, kTextOid = 25, kFloat4Oid = 700;

// Any constant: the advisory lock key migrations hold ("rs-sess" in ASCII).
constexpr const char* kMigrationLockSql = "SELECT pg_advisory_xact_lock(7526411573625971)";

// The schema, as ordered migrations: migration i (1-based) brings the schema
// from version i-1 to i. Append only; never edit a released one.
const std::vector<const char*>& Migrations() {
  static const std::vector<const char*> kMigrations = {
      // 1: sessions, turn attempts, long-term memory, snapshots.
      R"sql(
CREATE TABLE sessions (
  id TEXT COLLATE "C" PRIMARY KEY,
  tenant TEXT COLLATE "C" NOT NULL,
  model TEXT NOT NULL,
  mode BIGINT NOT NULL,
  system_prompt TEXT NOT NULL,
  short_term_budget_tokens BIGINT NOT NULL,
  retrieval_k BIGINT NOT NULL,
  chat_template TEXT NOT NULL,
  temperature REAL NOT NULL,
  top_p REAL NOT NULL,
  max_reply_tokens BIGINT NOT NULL,
  short_term TEXT NOT NULL,
  turns BIGINT NOT NULL,
  created_ms BIGINT NOT NULL,
  updated_ms BIGINT NOT NULL,
  forked_from TEXT NOT NULL,
  forked_at_turn BIGINT NOT NULL
);
CREATE INDEX sessions_by_tenant ON sessions (tenant, created_ms DESC, id DESC);
CREATE TABLE turns (
  seq BIGSERIAL PRIMARY KEY,
  session_id TEXT COLLATE "C" NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
  idx BIGINT NOT NULL,
  status BIGINT NOT NULL,
  request_id TEXT NOT NULL,
  input TEXT NOT NULL,
  reply TEXT NOT NULL,
  short_term_after TEXT NOT NULL,
  plans BYTEA NOT NULL,
  retrieved BYTEA NOT NULL,
  rebuilt_from_text BOOLEAN NOT NULL,
  error TEXT NOT NULL,
  owner TEXT NOT NULL,
  created_ms BIGINT NOT NULL,
  committed_ms BIGINT NOT NULL
);
CREATE INDEX turns_by_session ON turns (session_id, idx, seq);
CREATE UNIQUE INDEX turns_one_committed ON turns (session_id, idx) WHERE status = 1;
CREATE UNIQUE INDEX turns_one_pending ON turns (session_id) WHERE status = 0;
CREATE UNIQUE INDEX turns_by_request ON turns (session_id, request_id) WHERE status = 1 AND request_id <> '';
CREATE INDEX turns_pending_by_owner ON turns (owner) WHERE status = 0;
CREATE TABLE memory_items (
  id BIGSERIAL PRIMARY KEY,
  session_id TEXT COLLATE "C" NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
  turn BIGINT NOT NULL,
  text TEXT NOT NULL,
  embedding BYTEA NOT NULL,
  created_ms BIGINT NOT NULL,
  updated_ms BIGINT NOT NULL
);
CREATE INDEX memory_by_session ON memory_items (session_id, id);
CREATE TABLE snapshots (
  session_id TEXT COLLATE "C" PRIMARY KEY REFERENCES sessions (id) ON DELETE CASCADE,
  turn BIGINT NOT NULL,
  model_fingerprint TEXT NOT NULL,
  state BYTEA NOT NULL,
  consumed_tokens BIGINT NOT NULL,
  pending_token BIGINT NOT NULL,
  checksum BIGINT NOT NULL
);
)sql",
      // 2: the text the state consumed after the visible reply (bytes).
      R"sql(
ALTER TABLE snapshots ADD COLUMN tail BYTEA NOT NULL DEFAULT ''::bytea;
)sql",
      // 3: replica leases (a dead replica's pending turns stop blocking).
      R"sql(
CREATE TABLE replica_leases (
  owner TEXT COLLATE "C" PRIMARY KEY,
  expires_ms BIGINT NOT NULL
);
)sql",
  };
  return kMigrations;
}

// libpq's messages end in a newline and may span lines: one line of it.
std::string OneLine(const char* msg) {
  std::string s = msg != nullptr ? msg : "";
  for (char& c : s) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  while (!s.empty() && s.back() == ' ') s.pop_back();
  return s;
}

// The Status for a failed command, from its SQLSTATE.
Status PgError(PGconn* conn, const PGresult* res, const char* what) {
  const char* state = res != nullptr ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : nullptr;
  const std::string msg =
      std::string("postgres ") + what + ": " +
      OneLine(res != nullptr ? PQresultErrorMessage(res) : PQerrorMessage(conn));
  const std::string code = state != nullptr ? state : "";
  if (code.empty()) {
    return PQstatus(conn) == CONNECTION_BAD ? UnavailableError(msg) : InternalError(msg);
  }
  const std::string cls = code.substr(0, 2);
  if (cls == "08" || cls == "53" || cls == "57") return UnavailableError(msg);
  if (code == "40001" || code == "40P01") return AbortedError(msg);
  if (code == "23505") return AlreadyExistsError(msg);
  if (cls == "22") return InvalidArgumentError(msg);
  if (code == "XX001" || code == "XX002") return DataLossError(msg);
  return InternalError(msg);
}

// Parameters of one query: binary format, explicit types.
class Params {
 public:
  Params& Int(int64_t v) {
    char b[8];
    for (int i = 0; i < 8; ++i) b[i] = static_cast<char>(static_cast<uint64_t>(v) >> (56 - 8 * i));
    return Add(kInt8Oid, std::string(b, 8));
  }
  Params& Real(float v) {
    uint32_t bits;
    std::memcpy(&bits, &v, 4);
    char b[4];
    for (int i = 0; i < 4; ++i) b[i] = static_cast<char>(bits >> (24 - 8 * i));
    return Add(kFloat4Oid, std::string(b, 4));
  }
  Params& Bool(bool v) { return Add(kBoolOid, std::string(1, v ? 1 : 0)); }
  Params& Text(const std::string& v) { return Add(kTextOid, v); }
  Params& Bytes(const std::string& v) { return Add(kByteaOid, v); }

  int size() const { return static_cast<int>(values_.size()); }
  const Oid* types() const { return types_.data(); }
  // Pointers into the values: valid while this object is unchanged.
  std::vector<const char*> pointers() const {
    std::vector<const char*> p;
    for (const auto& v : values_) p.push_back(v.data());
    return p;
  }
  std::vector<int> lengths() const {
    std::vector<int> n;
    for (const auto& v : values_) n.push_back(static_cast<int>(v.size()));
    return n;
  }

 private:
  Params& Add(Oid type, std::string bytes) {
    types_.push_back(type);
    values_.push_back(std::move(bytes));
    return *this;
  }

  std::vector<Oid> types_;
  std::deque<std::string> values_;
};

// An owned PGresult with binary-format column readers.
class Result {
 public:
  explicit Result(PGresult* r) : r_(r) {}
  ~Result() { PQclear(r_); }
  Result(Result&& o) noexcept : r_(o.r_) { o.r_ = nullptr; }
  Result& operator=(Result&&) = delete;

  PGresult* raw() const { return r_; }
  int rows() const { return PQntuples(r_); }
  // Rows a command changed.
  int64_t affected() const { return std::atoll(PQcmdTuples(r_)); }
  int64_t Int(int row, int col) const {
    const auto* p = reinterpret_cast<const unsigned char*>(PQgetvalue(r_, row, col));
    if (PQgetlength(r_, row, col) != 8) return 0;
    uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v = (v << 8) | p[i];
    return static_cast<int64_t>(v);
  }
  float Real(int row, int col) const {
    const auto* p = reinterpret_cast<const unsigned char*>(PQgetvalue(r_, row, col));
    if (PQgetlength(r_, row, col) != 4) return 0;
    uint32_t bits = 0;
    for (int i = 0; i < 4; ++i) bits = (bits << 8) | p[i];
    float v;
    std::memcpy(&v, &bits, 4);
    return v;
  }
  bool Bool(int row, int col) const {
    return PQgetlength(r_, row, col) == 1 && PQgetvalue(r_, row, col)[0] != 0;
  }
  std::string Bytes(int row, int col) const {
    return std::string(PQgetvalue(r_, row, col), PQgetlength(r_, row, col));
  }

 private:
  PGresult* r_;
};

// Runs one parameterized statement; results in binary format.
StatusOr<Result> Exec(PGconn* conn, const char* sql, const Params& params = Params()) {
  const auto values = params.pointers();
  const auto lengths = params.lengths();
  const std::vector<int> formats(params.size(), 1);
  Result res(PQexecParams(conn, sql, params.size(), params.types(), values.data(), lengths.data(),
                          formats.data(), 1));
  const ExecStatusType st = PQresultStatus(res.raw());
  if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) return res;
  return PgError(conn, res.raw(), "query");
}

// Runs SQL without parameters (BEGIN, COMMIT, migrations of several statements).
Status ExecSimple(PGconn* conn, const char* sql, const char* what) {
  PGresult* res = PQexec(conn, sql);
  const ExecStatusType st = PQresultStatus(res);
  Status s =
      (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) ? OkStatus() : PgError(conn, res, what);
  PQclear(res);
  return s;
}

constexpr const char* kSessionCols =
    "id, tenant, model, mode, system_prompt, short_term_budget_tokens, retrieval_k, chat_template, "
    "temperature, top_p, max_reply_tokens, short_term, turns, created_ms, updated_ms, forked_from, "
    "forked_at_turn";
constexpr const char* kTurnCols =
    "idx, status, request_id, input, reply, short_term_after, plans, retrieved, rebuilt_from_text, "
    "error, "
    "created_ms, committed_ms";
constexpr int kTurnColCount = 12;  // in kTurnCols
constexpr const char* kMemoryCols = "id, turn, text, embedding, created_ms, updated_ms";

SessionRecord ReadSession(const Result& r, int i) {
  SessionRecord s;
  s.id = r.Bytes(i, 0);
  s.tenant = r.Bytes(i, 1);
  s.model = r.Bytes(i, 2);
  s.mode = static_cast<SessionMode>(r.Int(i, 3));
  s.system_prompt = r.Bytes(i, 4);
  s.memory.short_term_budget_tokens = static_cast<int32_t>(r.Int(i, 5));
  s.memory.retrieval_k = static_cast<int32_t>(r.Int(i, 6));
  s.memory.chat_template = r.Bytes(i, 7);
  s.temperature = r.Real(i, 8);
  s.top_p = r.Real(i, 9);
  s.max_reply_tokens = static_cast<int32_t>(r.Int(i, 10));
  s.short_term = r.Bytes(i, 11);
  s.turns = r.Int(i, 12);
  s.created_ms = r.Int(i, 13);
  s.updated_ms = r.Int(i, 14);
  s.forked_from = r.Bytes(i, 15);
  s.forked_at_turn = r.Int(i, 16);
  return s;
}

StatusOr<TurnRecord> ReadTurn(const Result& r, int i) {
  TurnRecord t;
  t.index = r.Int(i, 0);
  t.status = static_cast<TurnRecord::Status>(r.Int(i, 1));
  t.request_id = r.Bytes(i, 2);
  t.input = r.Bytes(i, 3);
  t.reply = r.Bytes(i, 4);
  t.short_term_after = r.Bytes(i, 5);
  RS_ASSIGN_OR_RETURN(t.plans, internal::DecodeStrings(r.Bytes(i, 6)));
  RS_ASSIGN_OR_RETURN(t.retrieved, internal::DecodeRetrievals(r.Bytes(i, 7)));
  t.rebuilt_from_text = r.Bool(i, 8);
  t.error = r.Bytes(i, 9);
  t.created_ms = r.Int(i, 10);
  t.committed_ms = r.Int(i, 11);
  return t;
}

StatusOr<MemoryItem> ReadMemory(const Result& r, int i) {
  MemoryItem m;
  m.id = r.Int(i, 0);
  m.turn = r.Int(i, 1);
  m.text = r.Bytes(i, 2);
  RS_ASSIGN_OR_RETURN(m.embedding, internal::DecodeEmbedding(r.Bytes(i, 3)));
  m.created_ms = r.Int(i, 4);
  m.updated_ms = r.Int(i, 5);
  return m;
}

template <typename T, typename Read>
StatusOr<std::vector<T>> Collect(const Result& r, Read read) {
  std::vector<T> out;
  for (int i = 0; i < r.rows(); ++i) {
    RS_ASSIGN_OR_RETURN(T v, read(r, i));
    out.push_back(std::move(v));
  }
  return out;
}

template <typename... Parts>
std::string Sql(const Parts&... parts) {
  std::string out;
  (out.append(parts), ...);
  return out;
}

class PgTx final : public StoreTx {
 public:
  explicit PgTx(PGconn* conn) : c_(conn) {}

  StatusOr<SessionRecord> LoadSession(const std::string& tenant, const std::string& id,
                                      bool for_update) override {
    const std::string sql =
        Sql("SELECT ", kSessionCols, " FROM sessions WHERE id = $1 AND tenant = $2",
            for_update ? " FOR UPDATE" : "");
    RS_ASSIGN_OR_RETURN(Result r, Exec(c_, sql.c_str(), Params().Text(id).Text(tenant)));
    if (r.rows() == 0) return NotFoundError("session " + id + " not found");
    return ReadSession(r, 0);
  }

  StatusOr<bool> SessionExists(const std::string& id) override {
    RS_ASSIGN_OR_RETURN(Result r,
                        Exec(c_, "SELECT 1 FROM sessions WHERE id = $1", Params().Text(id)));
    return r.rows() > 0;
  }

  Status InsertSession(const SessionRecord& s) override {
    const std::string sql =
        Sql("INSERT INTO sessions (", kSessionCols,
            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, "
            "$16, $17) ON CONFLICT (id) DO NOTHING");
    Params p;
    p.Text(s.id).Text(s.tenant).Text(s.model).Int(static_cast<int>(s.mode)).Text(s.system_prompt);
    p.Int(s.memory.short_term_budget_tokens).Int(s.memory.retrieval_k).Text(s.memory.chat_template);
    p.Real(s.temperature).Real(s.top_p).Int(s.max_reply_tokens).Text(s.short_term).Int(s.turns);
    p.Int(s.created_ms).Int(s.updated_ms).Text(s.forked_from).Int(s.forked_at_turn);
    RS_ASSIGN_OR_RETURN(Result r, Exec(c_, sql.c_str(), p));
    if (r.affected() != 1) return AlreadyExistsError("session " + s.id + " already exists");
    return OkStatus();
  }

  Status UpdateSession(const std::string& id, int64_t turns, const std::string& short_term,
                       int64_t updated_ms) override {
    return Exec(c_,
                "UPDATE sessions SET turns = $1, short_term = $2, updated_ms = $3 WHERE id = $4",
                Params().Int(turns).Text(short_term).Int(updated_ms).Text(id))
        .status();
  }

  Status DeleteSession(const std::string& id) override {
    return Exec(c_, "DELETE FROM sessions WHERE id = $1", Params().Text(id)).status();
  }

  StatusOr<std::vector<SessionRecord>> ListSessions(const std::string& tenant,
                                                    const std::optional<PageCursor>& after,
                                                    int64_t limit) override {
    Params p;
    p.Text(tenant).Int(limit);
    if (after) p.Int(after->created_ms).Text(after->id);
    const std::string sql =
        Sql("SELECT ", kSessionCols, " FROM sessions WHERE tenant = $1",
            after ? " AND (created_ms < $3 OR (created_ms = $3 AND id < $4))" : "",
            " ORDER BY created_ms DESC, id DESC LIMIT $2");
    RS_ASSIGN_OR_RETURN(Result r, Exec(c_, sql.c_str(), p));
    return Collect<SessionRecord>(
        r, [](const Result& rr, int i) -> StatusOr<SessionRecord> { return ReadSession(rr, i); });
  }

  StatusOr<std::optional<TurnRecord>> FindCommittedTurn(const std::string& id,
                                                        const std::string& request_id) override {
    const std::string sql =
        Sql("SELECT ", kTurnCols,
            " FROM turns WHERE session_id = $1 AND request_id = $2 AND status = 1");
    return FirstTurn(sql, Params().Text(id).Text(request_id));
  }

  StatusOr<std::optional<PendingTurn>> FindPendingTurn(const std::string& id) override {
    // t.owner and l.expires_ms follow kTurnCols (none shadowed).
    RS_ASSIGN_OR_RETURN(Result r, Exec(c_,
                                       Sql("SELECT ", kTurnCols,
                                           ", t.owner, COALESCE(l.expires_ms, -1) FROM turns t LEFT JOIN "
                                           "replica_leases l ON l.owner = t.owner WHERE t.session_id = $1 "
                                           "AND t.status = 0")
                                           .c_str(),
                                       Params().Text(id)));
    if (r.rows() == 0) return std::optional<PendingTurn>();
    RS_ASSIGN_OR_RETURN(TurnRecord t, ReadTurn(r, 0));
    return std::optional<PendingTurn>(
        PendingTurn{std::move(t), r.Bytes(0, kTurnColCount), r.Int(0, kTurnColCount + 1)});
  }

  Status InsertTurn(const std::string& id, const TurnRecord& t, const std::string& owner) override {
    const std::string sql =
        Sql("INSERT INTO turns (session_id, owner, ", kTurnCols,
            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)");
    Params p;
    p.Text(id)
        .Text(owner)
        .Int(t.index)
        .Int(static_cast<int>(t.status))
        .Text(t.request_id)
        .Text(t.input);
    p.Text(t.reply).Text(t.short_term_after).Bytes(internal::EncodeStrings(t.plans));
    p.Bytes(internal::EncodeRetrievals(t.retrieved)).Bool(t.rebuilt_from_text).Text(t.error);
    p.Int(t.created_ms).Int(t.committed_ms);
    return Exec(c_, sql.c_str(), p).status();
  }

  StatusOr<bool> FinishPendingTurn(const std::string& id, const TurnRecord& t) override {
    Params p;
    p.Int(static_cast<int>(t.status)).Text(t.reply).Text(t.short_term_after);
    p.Bytes(internal::EncodeStrings(t.plans)).Bytes(internal::EncodeRetrievals(t.retrieved));
    p.Bool(t.rebuilt_from_text).Text(t.error).Int(t.committed_ms).Text(id).Int(t.index);
    RS_ASSIGN_OR_RETURN(Result r,
                        Exec(c_,
                             "UPDATE turns SET status = $1, reply = $2, short_term_after = $3, "
                             "plans = $4, retrieved = $5, rebuilt_from_text = $6, error = $7, "
                             "committed_ms = $8 WHERE session_id = $9 AND idx = $10 AND status = 0",
                             p));
    return r.affected() == 1;
  }

  StatusOr<int64_t> FailPendingTurns(const std::string& owner, const std::string& error) override {
    RS_ASSIGN_OR_RETURN(Result r, Exec(c_,
                                       "UPDATE turns SET status = 2, error = $1, committed_ms = $2 "
                                       "WHERE owner = $3 AND status = 0",
                                       Params().Text(error).Int(internal::NowMs()).Text(owner)));
    return r.affected();
  }

  Status PutReplicaLease(const std::string& owner, int64_t expires_ms) override {
    return Exec(c_,
                "INSERT INTO replica_leases (owner, expires_ms) VALUES ($1, $2) "
                "ON CONFLICT (owner) DO UPDATE SET expires_ms = EXCLUDED.expires_ms",
                Params().Text(owner).Int(expires_ms))
        .status();
  }

  StatusOr<std::vector<TurnRecord>> ListTurns(const std::string& id, int64_t from, int64_t to,
                                              bool include_failed) override {
    Params p;
    p.Text(id).Int(from);
    if (to > 0) p.Int(to);
    const std::string sql =
        Sql("SELECT ", kTurnCols, " FROM turns WHERE session_id = $1 AND idx >= $2",
            to > 0 ? " AND idx <= $3" : "", include_failed ? "" : " AND status = 1",
            " ORDER BY idx, seq");
    RS_ASSIGN_OR_RETURN(Result r, Exec(c_, sql.c_str(), p));
    return Collect<TurnRecord>(r, ReadTurn);
  }

  Status DeleteTurnsAfter(const std::string& id, int64_t turn) override {
    return Exec(c_, "DELETE FROM turns WHERE session_id = $1 AND idx > $2",
                Params().Text(id).Int(turn))
        .status();
  }

  StatusOr<std::vector<MemoryItem>> ListMemory(const std::string& id) override {
    const std::string sql =
        Sql("SELECT ", kMemoryCols, " FROM memory_items WHERE session_id = $1 ORDER BY id");
    RS_ASSIGN_OR_RETURN(Result r, Exec(c_, sql.c_str(), Params().Text(id)));
    return Collect<MemoryItem>(r, ReadMemory);
  }

  StatusOr<int64_t> InsertMemory(const std::string& id, const MemoryItem& m) override {
    Params p;
    p.Text(id).Int(m.turn).Text(m.text).Bytes(internal::EncodeEmbedding(m.embedding));
    p.Int(m.created_ms).Int(m.updated_ms);
    RS_ASSIGN_OR_RETURN(Result r,
                        Exec(c_,
                             "INSERT INTO memory_items (session_id, turn, text, embedding, "
                             "created_ms, updated_ms) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
                             p));
    if (r.rows() != 1) return InternalError("INSERT ... RETURNING id returned no row");
    return r.Int(0, 0);
  }

  StatusOr<bool> UpdateMemory(const std::string& id, const MemoryItem& m) override {
    Params p;
    p.Text(m.text)
        .Bytes(internal::EncodeEmbedding(m.embedding))
        .Int(m.updated_ms)
        .Text(id)
        .Int(m.id);
    RS_ASSIGN_OR_RETURN(Result r,
                        Exec(c_,
                             "UPDATE memory_items SET text = $1, embedding = $2, updated_ms = $3 "
                             "WHERE session_id = $4 AND id = $5",
                             p));
    return r.affected() == 1;
  }

  StatusOr<bool> DeleteMemory(const std::string& id, int64_t item_id) override {
    RS_ASSIGN_OR_RETURN(Result r,
                        Exec(c_, "DELETE FROM memory_items WHERE session_id = $1 AND id = $2",
                             Params().Text(id).Int(item_id)));
    return r.affected() == 1;
  }

  Status DeleteMemoryAfter(const std::string& id, int64_t turn) override {
    return Exec(c_, "DELETE FROM memory_items WHERE session_id = $1 AND turn > $2",
                Params().Text(id).Int(turn))
        .status();
  }

  StatusOr<std::optional<Snapshot>> GetSnapshot(const std::string& id) override {
    RS_ASSIGN_OR_RETURN(
        Result r, Exec(c_,
                       "SELECT turn, model_fingerprint, state, consumed_tokens, pending_token, "
                       "checksum, tail FROM snapshots WHERE session_id = $1",
                       Params().Text(id)));
    if (r.rows() == 0) return std::optional<Snapshot>();
    Snapshot s;
    s.turn = r.Int(0, 0);
    s.model_fingerprint = r.Bytes(0, 1);
    s.state = r.Bytes(0, 2);
    s.consumed_tokens = r.Int(0, 3);
    s.pending_token = static_cast<int32_t>(r.Int(0, 4));
    s.checksum = static_cast<uint64_t>(r.Int(0, 5));
    s.tail = r.Bytes(0, 6);
    return std::optional<Snapshot>(std::move(s));
  }

  Status PutSnapshot(const std::string& id, const Snapshot& s) override {
    Params p;
    p.Text(id).Int(s.turn).Text(s.model_fingerprint).Bytes(s.state).Int(s.consumed_tokens);
    p.Int(s.pending_token).Int(static_cast<int64_t>(s.checksum)).Bytes(s.tail);
    return Exec(c_,
                "INSERT INTO snapshots (session_id, turn, model_fingerprint, state, "
                "consumed_tokens, "
                "pending_token, checksum, tail) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT "
                "(session_id) DO "
                "UPDATE SET turn = EXCLUDED.turn, model_fingerprint = EXCLUDED.model_fingerprint, "
                "state = "
                "EXCLUDED.state, consumed_tokens = EXCLUDED.consumed_tokens, pending_token = "
                "EXCLUDED.pending_token, checksum = EXCLUDED.checksum, tail = EXCLUDED.tail",
                p)
        .status();
  }

  Status DeleteSnapshot(const std::string& id) override {
    return Exec(c_, "DELETE FROM snapshots WHERE session_id = $1", Params().Text(id)).status();
  }

 private:
  StatusOr<std::optional<TurnRecord>> FirstTurn(const std::string& sql, const Params& p) {
    RS_ASSIGN_OR_RETURN(Result r, Exec(c_, sql.c_str(), p));
    if (r.rows() == 0) return std::optional<TurnRecord>();
    RS_ASSIGN_OR_RETURN(TurnRecord t, ReadTurn(r, 0));
    return std::optional<TurnRecord>(std::move(t));
  }

  PGconn* c_;
};

void IgnoreNotice(void*, const char*) {}

StatusOr<PGconn*> Connect(const std::string& conninfo, int connect_timeout_s) {
  const std::string timeout = std::to_string(connect_timeout_s);
  // dbname is expanded as a conninfo string; its settings override the default timeout.
  const char* keys[] = {"connect_timeout", "dbname", nullptr};
  const char* values[] = {timeout.c_str(), conninfo.c_str(), nullptr};
  PGconn* conn = PQconnectdbParams(keys, values, 1);
  if (conn == nullptr) return ResourceExhaustedError("libpq could not allocate a connection");
  if (PQstatus(conn) != CONNECTION_OK) {
    Status s = UnavailableError("postgres connect: " + OneLine(PQerrorMessage(conn)));
    PQfinish(conn);
    return s;
  }
  PQsetNoticeProcessor(conn, IgnoreNotice, nullptr);
  return conn;
}

// Runs `body` between BEGIN and COMMIT (ROLLBACK when it fails).
Status InTransaction(PGconn* conn, const std::function<Status()>& body) {
  RS_RETURN_IF_ERROR(ExecSimple(conn, "BEGIN", "begin"));
  Status s = body();
  if (s.ok()) return ExecSimple(conn, "COMMIT", "commit");
  (void)ExecSimple(conn, "ROLLBACK", "rollback");  // the first error is the one to report
  return s;
}

StatusOr<int64_t> ReadSchemaVersion(PGconn* conn) {
  RS_ASSIGN_OR_RETURN(Result r,
                      Exec(conn, "SELECT COALESCE(MAX(version), 0)::BIGINT FROM schema_version"));
  return r.rows() == 1 ? r.Int(0, 0) : 0;
}

Status TooNew(int64_t have, int64_t latest) {
  return FailedPreconditionError("the database has schema version " + std::to_string(have) +
                                 ", newer than this binary's " + std::to_string(latest));
}

// Applies the migrations the database lacks, one transaction each, under the
// advisory lock (concurrent replicas wait, then find the work done).
Status Migrate(PGconn* conn) {
  RS_RETURN_IF_ERROR(InTransaction(conn, [&] {
    RS_RETURN_IF_ERROR(ExecSimple(conn, kMigrationLockSql, "migration lock"));
    return ExecSimple(conn,
                      "CREATE TABLE IF NOT EXISTS schema_version ("
                      "version BIGINT PRIMARY KEY, applied_ms BIGINT NOT NULL)",
                      "create schema_version");
  }));
  const auto& migrations = Migrations();
  const auto latest = static_cast<int64_t>(migrations.size());
  for (int64_t v = 1; v <= latest; ++v) {
    RS_RETURN_IF_ERROR(InTransaction(conn, [&]() -> Status {
      RS_RETURN_IF_ERROR(ExecSimple(conn, kMigrationLockSql, "migration lock"));
      RS_ASSIGN_OR_RETURN(int64_t have, ReadSchemaVersion(conn));
      if (have > latest) return TooNew(have, latest);
      if (have >= v) return OkStatus();
      RS_RETURN_IF_ERROR(ExecSimple(conn, migrations[v - 1], "migration"));
      return Exec(conn, "INSERT INTO schema_version (version, applied_ms) VALUES ($1, $2)",
                  Params().Int(v).Int(internal::NowMs()))
          .status();
    }));
  }
  RS_ASSIGN_OR_RETURN(int64_t have, ReadSchemaVersion(conn));
  return have > latest ? TooNew(have, latest) : OkStatus();
}

}  // namespace

StatusOr<std::unique_ptr<PostgresSessionStore>> PostgresSessionStore::Open(
    const std::string& conninfo, const Options& options) {
  if (options.max_connections < 1) return InvalidArgumentError("max_connections must be >= 1");
  std::unique_ptr<PostgresSessionStore> store(new PostgresSessionStore(conninfo, options));
  RS_ASSIGN_OR_RETURN(PGconn * conn, store->Acquire());
  Status s = Migrate(conn);
  store->Release(conn);
  RS_RETURN_IF_ERROR(s);
  return store;
}

int64_t PostgresSessionStore::LatestSchemaVersion() {
  return static_cast<int64_t>(Migrations().size());
}

PostgresSessionStore::~PostgresSessionStore() {
  for (PGconn* c : idle_) PQfinish(c);
}

StatusOr<pg_conn*> PostgresSessionStore::Acquire() {
  {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return !idle_.empty() || open_ < options_.max_connections; });
    if (!idle_.empty()) {
      PGconn* c = idle_.back();
      idle_.pop_back();
      return c;
    }
    ++open_;
  }
  StatusOr<PGconn*> c = Connect(conninfo_, options_.connect_timeout_s);
  if (!c.ok()) {
    std::lock_guard<std::mutex> lock(mu_);
    --open_;
    cv_.notify_one();
  }
  return c;
}

void PostgresSessionStore::Release(pg_conn* conn) {
  const bool healthy = PQstatus(conn) == CONNECTION_OK && PQtransactionStatus(conn) == PQTRANS_IDLE;
  if (!healthy) PQfinish(conn);
  std::lock_guard<std::mutex> lock(mu_);
  if (healthy) {
    idle_.push_back(conn);
  } else {
    --open_;
  }
  cv_.notify_one();
}

Status PostgresSessionStore::RunTx(bool write,
                                   const std::function<Status(internal::StoreTx&)>& body) {
  RS_ASSIGN_OR_RETURN(PGconn * conn, Acquire());
  // A pooled connection may have died while idle (server restart): nothing
  // was sent yet, so reset it once and begin again.
  Status begun = ExecSimple(conn, write ? "BEGIN" : "BEGIN READ ONLY", "begin");
  if (!begun.ok() && PQstatus(conn) == CONNECTION_BAD) {
    PQreset(conn);
    if (PQstatus(conn) == CONNECTION_OK) {
      PQsetNoticeProcessor(conn, IgnoreNotice, nullptr);
      begun = ExecSimple(conn, write ? "BEGIN" : "BEGIN READ ONLY", "begin");
    } else {
      begun = UnavailableError("postgres connect: " + OneLine(PQerrorMessage(conn)));
    }
  }
  Status s = begun;
  if (s.ok()) {
    PgTx tx(conn);
    s = body(tx);
    if (s.ok()) {
      s = ExecSimple(conn, "COMMIT", "commit");
    } else {
      (void)ExecSimple(conn, "ROLLBACK", "rollback");
    }
  }
  Release(conn);
  return s;
}

}  // namespace rs::sessions
