// SessionStore: the durable home of RecurrentGPT conversations (issue #6):
// sessions, their turns, short- and long-term memory, and the latest
// recurrent-state snapshot. Two implementations share this contract and one
// conformance suite (tests/sessions/store_suite.h):
//   * SqliteSessionStore (sqlite_store.h): the embedded default, one file,
//     WAL, synchronous=FULL;
//   * PostgresSessionStore (postgres_store.h): libpq, for clusters, so any
//     replica can serve any session.
//
// Contract, every implementation:
//   * Tenancy: every call names a tenant; a session of another tenant is
//     NOT_FOUND (never PERMISSION_DENIED: ids of others do not leak).
//   * Durability: a call that returned OK survives kill -9 of the process
//     (and a crash of the machine, as far as fsync goes). A call that did not
//     return changed nothing or everything (one transaction each).
//   * Turns: BeginTurn writes a kPending record; CommitTurn turns it into
//     kCommitted and applies everything the turn produced (reply, short-term
//     memory, new long-term items, snapshot, the session's turn count) in the
//     same transaction; FailTurn marks it kFailed. Only committed turns count
//     (`SessionRecord::turns`) and only they are listed by ListTurns unless
//     asked. Turn indexes are 1-based and dense over committed turns.
//   * Idempotency: (session, request_id) identifies a turn attempt: BeginTurn
//     with the request_id of a committed turn returns ALREADY_EXISTS and that
//     turn in *existing (the caller replays it, never runs a second turn).
//   * Optimistic concurrency: BeginTurn with expected_turn != the session's
//     committed turn count, or while another turn of the session is pending,
//     is ABORTED.
//   * Replica leases: a replica running turns renews its lease with
//     Heartbeat. A pending turn whose owner's lease has expired (the replica
//     died, and another took over its sessions) does not block the session:
//     the next BeginTurn marks it failed and starts its own. A pending turn
//     of an owner that never sent a heartbeat blocks as above. Leases compare
//     the wall clocks of replicas: keep them synchronized (NTP) well within
//     the lease.
//   * Errors: NOT_FOUND (unknown session, turn or memory item), ABORTED
//     (above), INVALID_ARGUMENT (malformed arguments), UNAVAILABLE (the
//     database cannot be reached; the caller may retry), DATA_LOSS (the
//     database is corrupt), INTERNAL (anything else), each with one clear
//     line.
//
// Thread-safety: every method may be called concurrently from any thread.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "engine/util/status.h"

namespace rs::sessions {

enum class SessionMode { kChat = 0, kStory = 1 };

struct MemorySettings {
  int32_t short_term_budget_tokens = 256;  // the summary is kept within this
  int32_t retrieval_k = 3;                 // long-term items per prompt
  std::string chat_template;               // empty: the model family's default
};

struct SessionRecord {
  std::string id;      // chosen by the caller (a UUID), unique per store
  std::string tenant;  // the owner
  std::string model;   // the served model's name
  SessionMode mode = SessionMode::kChat;
  std::string system_prompt;  // CHAT: the system prompt; STORY: the premise
  MemorySettings memory;
  // Sampling of the session's replies.
  float temperature = 1.0f;
  float top_p = 1.0f;
  int32_t max_reply_tokens = 256;
  std::string short_term;  // the current short-term memory (summary)
  int64_t turns = 0;       // committed turns
  int64_t created_ms = 0;  // unix milliseconds; set by CreateSession when 0
  int64_t updated_ms = 0;  // set by every write
  // Fork provenance (empty / 0 for an original session).
  std::string forked_from;
  int64_t forked_at_turn = 0;
};

struct Retrieval {
  int64_t memory_id = 0;
  float score = 0;  // cosine similarity
};

struct TurnRecord {
  enum class Status { kPending = 0, kCommitted = 1, kFailed = 2 };
  int64_t index = 0;  // 1-based among committed turns; pending: turns + 1
  Status status = Status::kPending;
  std::string request_id;  // may be empty (no idempotency)
  std::string input;       // CHAT: the user's message; STORY: the chosen plan
  std::string reply;       // the reply or paragraph
  std::string short_term_after;     // short-term memory after this turn
  std::vector<std::string> plans;   // STORY: candidate next plans
  std::vector<Retrieval> retrieved;  // long-term items the prompt used
  bool rebuilt_from_text = false;    // the state was rebuilt, not continued
  std::string error;                 // kFailed: why
  int64_t created_ms = 0;
  int64_t committed_ms = 0;
};

struct MemoryItem {
  int64_t id = 0;    // assigned by the store (AddMemory / CommitTurn), > 0
  int64_t turn = 0;  // the turn that wrote it; 0 for an item a user added
  std::string text;
  std::vector<float> embedding;  // L2-normalized; may be empty
  int64_t created_ms = 0;
  int64_t updated_ms = 0;
};

// The conversation's recurrent state after turn `turn`: engine::HostState
// bytes (self-checking: HostState::Parse verifies them) plus what the
// scheduler needs to continue (the tokens it consumed are not stored: only
// their count, and the last sampled token not yet consumed).
struct Snapshot {
  int64_t turn = 0;
  std::string model_fingerprint;
  std::string state;          // HostState::Serialize()
  int64_t consumed_tokens = 0;
  int32_t pending_token = -1;
  // Text the state consumed (or will, with pending_token) after the visible
  // reply: e.g. a stop string the model began the next turn with.
  std::string tail;
  uint64_t checksum = 0;      // FNV-1a 64 of `state`, checked again on read
};

// Everything CommitTurn applies, atomically, to a pending turn.
struct TurnCommit {
  std::string reply;
  std::string short_term_after;
  std::vector<std::string> plans;
  std::vector<Retrieval> retrieved;
  bool rebuilt_from_text = false;
  std::vector<MemoryItem> new_items;  // ids ignored; turn set to the turn
  std::optional<Snapshot> snapshot;   // replaces the session's snapshot
  // The replica that began the turn: when set, only its attempt commits (one
  // whose lease ran out, and whose turn another replica took over, gets
  // NOT_FOUND). Empty: whoever's pending attempt has this index.
  std::string owner;
};

// A whole session, for Export / Import and Fork.
struct SessionDump {
  SessionRecord session;
  std::vector<TurnRecord> turns;     // committed, ascending
  std::vector<MemoryItem> memory;    // ascending id
  std::optional<Snapshot> snapshot;
};

struct ListPage {
  std::vector<SessionRecord> sessions;  // newest first (created_ms, then id)
  std::string next_page_token;          // empty: no more
};

class SessionStore {
 public:
  virtual ~SessionStore() = default;

  // "sqlite" or "postgres" (metrics, logs).
  virtual const char* kind() const = 0;

  // ALREADY_EXISTS if the id is taken (by any tenant).
  virtual Status CreateSession(const SessionRecord& session) = 0;
  virtual StatusOr<SessionRecord> GetSession(const std::string& tenant, const std::string& id) = 0;
  // page_size in [1, 1000]; page_token from a previous page (opaque;
  // INVALID_ARGUMENT when malformed).
  virtual StatusOr<ListPage> ListSessions(const std::string& tenant, int32_t page_size,
                                          const std::string& page_token) = 0;
  // Deletes the session with its turns, memory and snapshot.
  virtual Status DeleteSession(const std::string& tenant, const std::string& id) = 0;

  // Starts turn `expected_turn + 1` (see the contract above). On success
  // returns the pending record. `owner` names the replica running it (for
  // FailPendingTurns).
  virtual StatusOr<TurnRecord> BeginTurn(const std::string& tenant, const std::string& id,
                                         int64_t expected_turn, const std::string& request_id,
                                         const std::string& input, const std::string& owner,
                                         TurnRecord* existing) = 0;
  // NOT_FOUND unless turn `index` is pending; on success the session has
  // `index` committed turns.
  virtual StatusOr<TurnRecord> CommitTurn(const std::string& tenant, const std::string& id,
                                          int64_t index, const TurnCommit& commit) = 0;
  // The same owner rule as TurnCommit::owner ("" = any).
  virtual Status FailTurn(const std::string& tenant, const std::string& id, int64_t index,
                          const std::string& error, const std::string& owner) = 0;
  // Marks every pending turn of `owner` failed (a replica's start-up: turns
  // its previous life left behind). Returns how many.
  virtual StatusOr<int64_t> FailPendingTurns(const std::string& owner) = 0;
  // Replica `owner` is alive for lease_ms from now (its pending turns block
  // their sessions until then; see "Replica leases" above). lease_ms in
  // [0, 1 day]; 0 gives the lease up at once (a clean shutdown).
  virtual Status Heartbeat(const std::string& owner, int64_t lease_ms) = 0;
  // Committed turns in [from, to] (1-based, inclusive; to <= 0: the last),
  // ascending; with include_failed also failed and pending attempts.
  virtual StatusOr<std::vector<TurnRecord>> ListTurns(const std::string& tenant, const std::string& id,
                                                      int64_t from, int64_t to,
                                                      bool include_failed = false) = 0;

  // Long-term memory.
  virtual StatusOr<std::vector<MemoryItem>> ListMemory(const std::string& tenant,
                                                       const std::string& id) = 0;
  // Returns the item with its id.
  virtual StatusOr<MemoryItem> AddMemory(const std::string& tenant, const std::string& id,
                                         const MemoryItem& item) = 0;
  // Replaces text and embedding of an existing item.
  virtual Status UpdateMemory(const std::string& tenant, const std::string& id,
                              const MemoryItem& item) = 0;
  virtual Status DeleteMemory(const std::string& tenant, const std::string& id, int64_t item_id) = 0;
  virtual Status SetShortTerm(const std::string& tenant, const std::string& id,
                              const std::string& text) = 0;

  // The latest snapshot; NOT_FOUND when there is none. DATA_LOSS when its
  // bytes do not match their checksum (the caller rebuilds from text).
  virtual StatusOr<Snapshot> GetSnapshot(const std::string& tenant, const std::string& id) = 0;

  // Keeps turns 1..to_turn (0: none): later turns, the long-term items they
  // wrote, and a snapshot of a later turn are deleted; the short-term memory
  // becomes that of turn to_turn (the empty string for 0). Items users added
  // by hand stay. OUT_OF_RANGE if to_turn > turns.
  virtual StatusOr<SessionRecord> Rollback(const std::string& tenant, const std::string& id,
                                           int64_t to_turn) = 0;
  // A new session `new_id` (same tenant) with turns 1..at_turn of `id`, its
  // long-term items of those turns and every hand-added one, the short-term
  // memory of turn at_turn, and the snapshot if it is of turn at_turn.
  virtual StatusOr<SessionRecord> Fork(const std::string& tenant, const std::string& id,
                                       int64_t at_turn, const std::string& new_id) = 0;

  virtual StatusOr<SessionDump> Export(const std::string& tenant, const std::string& id) = 0;
  // Creates the session of `dump` under `tenant` (dump.session.tenant is
  // ignored); ALREADY_EXISTS if its id is taken. Memory ids are reassigned.
  virtual StatusOr<SessionRecord> Import(const std::string& tenant, const SessionDump& dump) = 0;
};

// FNV-1a 64, the snapshot checksum.
uint64_t SnapshotChecksum(const std::string& bytes);

}  // namespace rs::sessions
