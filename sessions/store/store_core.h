// StoreCore: the SessionStore contract (session_store.h) written once over a
// backend's transactions. A backend (SQLite, PostgreSQL) supplies RunTx and a
// StoreTx: the row-level reads and writes of the schema, in SQL; StoreCore
// does the rest (tenancy, turn states, idempotency, optimistic concurrency,
// rollback, fork, export and import), so both backends behave alike.
//
// Decisions the contract leaves open, taken here for every backend:
//   * Rollback and Fork at the current turn count keep the session's current
//     short-term memory (an edit made after the last turn survives); at an
//     earlier turn they take that turn's short_term_after.
//   * Rollback while a turn is pending is ABORTED (the pending turn would
//     commit on top of the rolled-back history).
//   * Rollback deletes every attempt (failed too) after to_turn, so request
//     ids of removed turns may be reused.
//   * Export leaves out a snapshot that fails its checksum (nothing could
//     load it); Fork copies it as it is (still detected on GetSnapshot).
//   * Fork and Import rewrite the memory ids that copied turns name in
//     `retrieved` to the new items' ids.
//
// Thread-safety: as SessionStore; a backend's RunTx must serialize or isolate
// concurrent transactions.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "sessions/store/session_store.h"
#include "sessions/store/store_codec.h"

namespace rs::sessions::internal {

// One open transaction. Rows are addressed by session id (unique per store);
// tenancy is checked by LoadSession, which every call starts with.
class StoreTx {
 public:
  virtual ~StoreTx() = default;

  // NOT_FOUND unless session `id` exists and belongs to `tenant`. With
  // `for_update` the row stays locked until the transaction ends.
  virtual StatusOr<SessionRecord> LoadSession(const std::string& tenant, const std::string& id,
                                              bool for_update) = 0;
  virtual StatusOr<bool> SessionExists(const std::string& id) = 0;
  // ALREADY_EXISTS if the id is taken.
  virtual Status InsertSession(const SessionRecord& s) = 0;
  // Sets turns, short_term and updated_ms.
  virtual Status UpdateSession(const std::string& id, int64_t turns, const std::string& short_term,
                               int64_t updated_ms) = 0;
  virtual Status DeleteSession(const std::string& id) = 0;
  // Sessions of `tenant` after `after` (none: from the newest), newest first.
  virtual StatusOr<std::vector<SessionRecord>> ListSessions(const std::string& tenant,
                                                            const std::optional<PageCursor>& after,
                                                            int64_t limit) = 0;

  virtual StatusOr<std::optional<TurnRecord>> FindCommittedTurn(const std::string& id,
                                                                const std::string& request_id) = 0;
  // Session `id`'s pending attempt, with its owner and when that owner's
  // lease expires (-1: the owner never sent a heartbeat); nullopt when none.
  struct PendingTurn {
    TurnRecord turn;
    std::string owner;
    int64_t lease_expires_ms = -1;
  };
  virtual StatusOr<std::optional<PendingTurn>> FindPendingTurn(const std::string& id) = 0;
  virtual Status InsertTurn(const std::string& id, const TurnRecord& t,
                            const std::string& owner) = 0;
  // Rewrites the pending attempt `t.index` with t (status, results, times);
  // false when there is no such pending attempt.
  virtual StatusOr<bool> FinishPendingTurn(const std::string& id, const TurnRecord& t) = 0;
  virtual StatusOr<int64_t> FailPendingTurns(const std::string& owner,
                                             const std::string& error) = 0;
  // Upserts replica `owner`'s lease expiry.
  virtual Status PutReplicaLease(const std::string& owner, int64_t expires_ms) = 0;
  // Attempts with index in [from, to] (to <= 0: no bound), ascending by
  // index then attempt order; committed only unless include_failed.
  virtual StatusOr<std::vector<TurnRecord>> ListTurns(const std::string& id, int64_t from,
                                                      int64_t to, bool include_failed) = 0;
  virtual Status DeleteTurnsAfter(const std::string& id, int64_t turn) = 0;

  virtual StatusOr<std::vector<MemoryItem>> ListMemory(const std::string& id) = 0;
  // Returns the new item's id.
  virtual StatusOr<int64_t> InsertMemory(const std::string& id, const MemoryItem& item) = 0;
  // Text, embedding and updated_ms of item.id; false when it is not there.
  virtual StatusOr<bool> UpdateMemory(const std::string& id, const MemoryItem& item) = 0;
  virtual StatusOr<bool> DeleteMemory(const std::string& id, int64_t item_id) = 0;
  // Items written by turns after `turn` (hand-added ones, turn 0, stay).
  virtual Status DeleteMemoryAfter(const std::string& id, int64_t turn) = 0;

  // The stored snapshot as it is (not verified).
  virtual StatusOr<std::optional<Snapshot>> GetSnapshot(const std::string& id) = 0;
  virtual Status PutSnapshot(const std::string& id, const Snapshot& s) = 0;
  virtual Status DeleteSnapshot(const std::string& id) = 0;
};

class StoreCore : public SessionStore {
 public:
  Status CreateSession(const SessionRecord& session) override;
  StatusOr<SessionRecord> GetSession(const std::string& tenant, const std::string& id) override;
  StatusOr<ListPage> ListSessions(const std::string& tenant, int32_t page_size,
                                  const std::string& page_token) override;
  Status DeleteSession(const std::string& tenant, const std::string& id) override;
  StatusOr<TurnRecord> BeginTurn(const std::string& tenant, const std::string& id,
                                 int64_t expected_turn, const std::string& request_id,
                                 const std::string& input, const std::string& owner,
                                 TurnRecord* existing) override;
  StatusOr<TurnRecord> CommitTurn(const std::string& tenant, const std::string& id, int64_t index,
                                  const TurnCommit& commit) override;
  Status FailTurn(const std::string& tenant, const std::string& id, int64_t index,
                  const std::string& error, const std::string& owner) override;
  StatusOr<int64_t> FailPendingTurns(const std::string& owner) override;
  Status Heartbeat(const std::string& owner, int64_t lease_ms) override;
  StatusOr<std::vector<TurnRecord>> ListTurns(const std::string& tenant, const std::string& id,
                                              int64_t from, int64_t to,
                                              bool include_failed = false) override;
  StatusOr<std::vector<MemoryItem>> ListMemory(const std::string& tenant,
                                               const std::string& id) override;
  StatusOr<MemoryItem> AddMemory(const std::string& tenant, const std::string& id,
                                 const MemoryItem& item) override;
  Status UpdateMemory(const std::string& tenant, const std::string& id,
                      const MemoryItem& item) override;
  Status DeleteMemory(const std::string& tenant, const std::string& id, int64_t item_id) override;
  Status SetShortTerm(const std::string& tenant, const std::string& id,
                      const std::string& text) override;
  StatusOr<Snapshot> GetSnapshot(const std::string& tenant, const std::string& id) override;
  StatusOr<SessionRecord> Rollback(const std::string& tenant, const std::string& id,
                                   int64_t to_turn) override;
  StatusOr<SessionRecord> Fork(const std::string& tenant, const std::string& id, int64_t at_turn,
                               const std::string& new_id) override;
  StatusOr<SessionDump> Export(const std::string& tenant, const std::string& id) override;
  StatusOr<SessionRecord> Import(const std::string& tenant, const SessionDump& dump) override;

 protected:
  // Runs `body` in one transaction: committed when it returns OK, rolled
  // back otherwise (its error returned). `write`: the body may write.
  virtual Status RunTx(bool write, const std::function<Status(StoreTx&)>& body) = 0;

 private:
  // Session `id`'s pending attempt at `index` (of `owner` unless empty);
  // NOT_FOUND otherwise.
  static StatusOr<TurnRecord> LoadPending(StoreTx& tx, const std::string& id, int64_t index,
                                          const std::string& owner);
  // The short-term memory of turn `turn` (see the decisions above).
  static StatusOr<std::string> ShortTermAt(StoreTx& tx, const SessionRecord& s, int64_t turn);
  // Copies turns, memory (ids remapped) and a snapshot into session `to_id`.
  static Status CopyHistory(StoreTx& tx, const std::string& to_id, std::vector<TurnRecord> turns,
                            const std::vector<MemoryItem>& memory,
                            const std::optional<Snapshot>& snapshot);
};

}  // namespace rs::sessions::internal
