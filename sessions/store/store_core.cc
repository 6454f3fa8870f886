#include "sessions/store/store_core.h"

#include <map>
#include <utility>

namespace rs::sessions::internal {
namespace {

constexpr size_t kMaxTextBytes = 16u << 20;  // one text field (the service enforces far less)

Status CheckText(const std::string& text, const char* what) {
  if (text.size() > kMaxTextBytes) return InvalidArgumentError(std::string(what) + " is too large");
  return OkStatus();
}

std::string TurnName(int64_t index) { return "turn " + std::to_string(index); }

}  // namespace

Status StoreCore::CreateSession(const SessionRecord& session) {
  RS_RETURN_IF_ERROR(ValidateNewSession(session));
  SessionRecord s = session;
  s.turns = 0;
  const int64_t now = NowMs();
  if (s.created_ms == 0) s.created_ms = now;
  s.updated_ms = now;
  return RunTx(true, [&](StoreTx& tx) { return tx.InsertSession(s); });
}

StatusOr<SessionRecord> StoreCore::GetSession(const std::string& tenant, const std::string& id) {
  RS_RETURN_IF_ERROR(ValidateKey(tenant, id));
  SessionRecord out;
  RS_RETURN_IF_ERROR(RunTx(false, [&](StoreTx& tx) -> Status {
    RS_ASSIGN_OR_RETURN(out, tx.LoadSession(tenant, id, false));
    return OkStatus();
  }));
  return out;
}

StatusOr<ListPage> StoreCore::ListSessions(const std::string& tenant, int32_t page_size,
                                           const std::string& page_token) {
  RS_RETURN_IF_ERROR(ValidateKey(tenant, "-"));
  RS_RETURN_IF_ERROR(ValidatePageSize(page_size));
  std::optional<PageCursor> after;
  if (!page_token.empty()) {
    RS_ASSIGN_OR_RETURN(after, DecodePageToken(page_token));
  }
  ListPage page;
  RS_RETURN_IF_ERROR(RunTx(false, [&](StoreTx& tx) -> Status {
    RS_ASSIGN_OR_RETURN(page.sessions, tx.ListSessions(tenant, after, page_size + 1));
    return OkStatus();
  }));
  if (page.sessions.size() > static_cast<size_t>(page_size)) {
    page.sessions.resize(page_size);
    const SessionRecord& last = page.sessions.back();
    page.next_page_token = EncodePageToken({last.created_ms, last.id});
  }
  return page;
}

Status StoreCore::DeleteSession(const std::string& tenant, const std::string& id) {
  RS_RETURN_IF_ERROR(ValidateKey(tenant, id));
  return RunTx(true, [&](StoreTx& tx) -> Status {
    RS_RETURN_IF_ERROR(tx.LoadSession(tenant, id, true).status());
    return tx.DeleteSession(id);
  });
}

StatusOr<TurnRecord> StoreCore::BeginTurn(const std::string& tenant, const std::string& id,
                                          int64_t expected_turn, const std::string& request_id,
                                          const std::string& input, const std::string& owner,
                                          TurnRecord* existing) {
  RS_RETURN_IF_ERROR(ValidateKey(tenant, id));
  if (expected_turn < 0) return InvalidArgumentError("expected_turn must be >= 0");
  RS_RETURN_IF_ERROR(CheckText(input, "turn input"));
  TurnRecord out;
  RS_RETURN_IF_ERROR(RunTx(true, [&](StoreTx& tx) -> Status {
    RS_ASSIGN_OR_RETURN(SessionRecord s, tx.LoadSession(tenant, id, true));
    if (!request_id.empty()) {
      RS_ASSIGN_OR_RETURN(std::optional<TurnRecord> done, tx.FindCommittedTurn(id, request_id));
      if (done) {
        if (existing != nullptr) *existing = *done;
        return AlreadyExistsError("request_id " + request_id + " already committed as " +
                                  TurnName(done->index));
      }
    }
    RS_ASSIGN_OR_RETURN(std::optional<StoreTx::PendingTurn> pending, tx.FindPendingTurn(id));
    if (pending) {
      // A pending turn of a replica whose lease ran out: it died mid-turn.
      const int64_t now = NowMs();
      if (pending->lease_expires_ms < 0 || pending->lease_expires_ms > now) {
        return AbortedError(TurnName(pending->turn.index) + " of the session is still pending");
      }
      TurnRecord failed = pending->turn;
      failed.status = TurnRecord::Status::kFailed;
      failed.error = "abandoned: replica " + pending->owner + " stopped renewing its lease";
      failed.committed_ms = now;
      RS_ASSIGN_OR_RETURN(bool updated, tx.FinishPendingTurn(id, failed));
      if (!updated) {
        return AbortedError(TurnName(pending->turn.index) + " of the session is still pending");
      }
    }
    if (expected_turn != s.turns) {
      return AbortedError("expected_turn " + std::to_string(expected_turn) +
                          " but the session has " + std::to_string(s.turns) + " turns");
    }
    out.index = s.turns + 1;
    out.status = TurnRecord::Status::kPending;
    out.request_id = request_id;
    out.input = input;
    out.created_ms = NowMs();
    return tx.InsertTurn(id, out, owner);
  }));
  return out;
}

StatusOr<TurnRecord> StoreCore::CommitTurn(const std::string& tenant, const std::string& id,
                                           int64_t index, const TurnCommit& commit) {
  RS_RETURN_IF_ERROR(ValidateKey(tenant, id));
  RS_RETURN_IF_ERROR(CheckText(commit.reply, "reply"));
  RS_RETURN_IF_ERROR(CheckText(commit.short_term_after, "short-term memory"));
  for (const MemoryItem& m : commit.new_items) RS_RETURN_IF_ERROR(ValidateMemoryItem(m));
  std::optional<Snapshot> snapshot = commit.snapshot;
  if (snapshot) RS_RETURN_IF_ERROR(PrepareSnapshot(index, &*snapshot));
  TurnRecord out;
  RS_RETURN_IF_ERROR(RunTx(true, [&](StoreTx& tx) -> Status {
    RS_ASSIGN_OR_RETURN(SessionRecord s, tx.LoadSession(tenant, id, true));
    RS_ASSIGN_OR_RETURN(out, LoadPending(tx, id, index, commit.owner));
    const int64_t now = NowMs();
    out.status = TurnRecord::Status::kCommitted;
    out.reply = commit.reply;
    out.short_term_after = commit.short_term_after;
    out.plans = commit.plans;
    out.retrieved = commit.retrieved;
    out.rebuilt_from_text = commit.rebuilt_from_text;
    out.committed_ms = now;
    RS_ASSIGN_OR_RETURN(bool updated, tx.FinishPendingTurn(id, out));
    if (!updated) return NotFoundError(TurnName(index) + " is not pending");
    for (MemoryItem m : commit.new_items) {
      m.turn = index;
      m.created_ms = m.updated_ms = now;
      RS_RETURN_IF_ERROR(tx.InsertMemory(id, m).status());
    }
    if (snapshot) RS_RETURN_IF_ERROR(tx.PutSnapshot(id, *snapshot));
    return tx.UpdateSession(id, index, commit.short_term_after, now);
  }));
  return out;
}

Status StoreCore::FailTurn(const std::string& tenant, const std::string& id, int64_t index,
                           const std::string& error, const std::string& owner) {
  RS_RETURN_IF_ERROR(ValidateKey(tenant, id));
  return RunTx(true, [&](StoreTx& tx) -> Status {
    RS_RETURN_IF_ERROR(tx.LoadSession(tenant, id, true).status());
    RS_ASSIGN_OR_RETURN(TurnRecord t, LoadPending(tx, id, index, owner));
    t.status = TurnRecord::Status::kFailed;
    t.error = error;
    t.committed_ms = NowMs();
    RS_ASSIGN_OR_RETURN(bool updated, tx.FinishPendingTurn(id, t));
    if (!updated) return NotFoundError(TurnName(index) + " is not pending");
    return OkStatus();
  });
}

StatusOr<TurnRecord> StoreCore::LoadPending(StoreTx& tx, const std::string& id, int64_t index,
                                            const std::string& owner) {
  RS_ASSIGN_OR_RETURN(std::optional<StoreTx::PendingTurn> pending, tx.FindPendingTurn(id));
  if (!pending || pending->turn.index != index) return NotFoundError(TurnName(index) + " is not pending");
  if (!owner.empty() && pending->owner != owner) {
    return NotFoundError(TurnName(index) + " is not pending for " + owner +
                         " (its lease ran out and another replica took the turn over)");
  }
  return pending->turn;
}

StatusOr<int64_t> StoreCore::FailPendingTurns(const std::string& owner) {
  int64_t n = 0;
  RS_RETURN_IF_ERROR(RunTx(true, [&](StoreTx& tx) -> Status {
    RS_ASSIGN_OR_RETURN(n, tx.FailPendingTurns(owner, "abandoned by " + owner + " (restarted)"));
    return OkStatus();
  }));
  return n;
}

Status StoreCore::Heartbeat(const std::string& owner, int64_t lease_ms) {
  if (owner.empty()) return InvalidArgumentError("heartbeat: empty owner");
  RS_RETURN_IF_ERROR(CheckText(owner, "owner"));
  if (lease_ms < 0 || lease_ms > 86'400'000) return InvalidArgumentError("lease_ms must be in [0, 1 day]");
  const int64_t expires = NowMs() + lease_ms;
  return RunTx(true, [&](StoreTx& tx) { return tx.PutReplicaLease(owner, expires); });
}

StatusOr<std::vector<TurnRecord>> StoreCore::ListTurns(const std::string& tenant,
                                                       const std::string& id, int64_t from,
                                                       int64_t to, bool include_failed) {
  RS_RETURN_IF_ERROR(ValidateKey(tenant, id));
  std::vector<TurnRecord> out;
  RS_RETURN_IF_ERROR(RunTx(false, [&](StoreTx& tx) -> Status {
    RS_RETURN_IF_ERROR(tx.LoadSession(tenant, id, false).status());
    RS_ASSIGN_OR_RETURN(out, tx.ListTurns(id, from < 1 ? 1 : from, to, include_failed));
    return OkStatus();
  }));
  return out;
}

StatusOr<std::vector<MemoryItem>> StoreCore::ListMemory(const std::string& tenant,
                                                        const std::string& id) {
  RS_RETURN_IF_ERROR(ValidateKey(tenant, id));
  std::vector<MemoryItem> out;
  RS_RETURN_IF_ERROR(RunTx(false, [&](StoreTx& tx) -> Status {
    RS_RETURN_IF_ERROR(tx.LoadSession(tenant, id, false).status());
    RS_ASSIGN_OR_RETURN(out, tx.ListMemory(id));
    return OkStatus();
  }));
  return out;
}

StatusOr<MemoryItem> StoreCore::AddMemory(const std::string& tenant, const std::string& id,
                                          const MemoryItem& item) {
  RS_RETURN_IF_ERROR(ValidateKey(tenant, id));
  RS_RETURN_IF_ERROR(ValidateMemoryItem(item));
  RS_RETURN_IF_ERROR(CheckText(item.text, "memory text"));
  MemoryItem out = item;
  RS_RETURN_IF_ERROR(RunTx(true, [&](StoreTx& tx) -> Status {
    RS_ASSIGN_OR_RETURN(SessionRecord s, tx.LoadSession(tenant, id, true));
    if (out.turn > s.turns) return InvalidArgumentError("memory item of a turn the session lacks");
    out.created_ms = out.updated_ms = NowMs();
    RS_ASSIGN_OR_RETURN(out.id, tx.InsertMemory(id, out));
    return tx.UpdateSession(id, s.turns, s.short_term, out.updated_ms);
  }));
  return out;
}

Status StoreCore::UpdateMemory(const std::string& tenant, const std::string& id,
                               const MemoryItem& item) {
  RS_RETURN_IF_ERROR(ValidateKey(tenant, id));
  RS_RETURN_IF_ERROR(ValidateMemoryItem(item));
  RS_RETURN_IF_ERROR(CheckText(item.text, "memory text"));
  return RunTx(true, [&](StoreTx& tx) -> Status {
    RS_ASSIGN_OR_RETURN(SessionRecord s, tx.LoadSession(tenant, id, true));
    MemoryItem m = item;
    m.updated_ms = NowMs();
    RS_ASSIGN_OR_RETURN(bool found, tx.UpdateMemory(id, m));
    if (!found) return NotFoundError("memory item " + std::to_string(item.id) + " not found");
    return tx.UpdateSession(id, s.turns, s.short_term, m.updated_ms);
  });
}

Status StoreCore::DeleteMemory(const std::string& tenant, const std::string& id, int64_t item_id) {
  RS_RETURN_IF_ERROR(ValidateKey(tenant, id));
  return RunTx(true, [&](StoreTx& tx) -> Status {
    RS_ASSIGN_OR_RETURN(SessionRecord s, tx.LoadSession(tenant, id, true));
    RS_ASSIGN_OR_RETURN(bool found, tx.DeleteMemory(id, item_id));
    if (!found) return NotFoundError("memory item " + std::to_string(item_id) + " not found");
    return tx.UpdateSession(id, s.turns, s.short_term, NowMs());
  });
}

Status StoreCore::SetShortTerm(const std::string& tenant, const std::string& id,
                               const std::string& text) {
  RS_RETURN_IF_ERROR(ValidateKey(tenant, id));
  RS_RETURN_IF_ERROR(CheckText(text, "short-term memory"));
  return RunTx(true, [&](StoreTx& tx) -> Status {
    RS_ASSIGN_OR_RETURN(SessionRecord s, tx.LoadSession(tenant, id, true));
    return tx.UpdateSession(id, s.turns, text, NowMs());
  });
}

StatusOr<Snapshot> StoreCore::GetSnapshot(const std::string& tenant, const std::string& id) {
  RS_RETURN_IF_ERROR(ValidateKey(tenant, id));
  std::optional<Snapshot> snap;
  RS_RETURN_IF_ERROR(RunTx(false, [&](StoreTx& tx) -> Status {
    RS_RETURN_IF_ERROR(tx.LoadSession(tenant, id, false).status());
    RS_ASSIGN_OR_RETURN(snap, tx.GetSnapshot(id));
    return OkStatus();
  }));
  if (!snap) return NotFoundError("session " + id + " has no snapshot");
  RS_RETURN_IF_ERROR(VerifySnapshot(*snap));
  return *snap;
}

StatusOr<std::string> StoreCore::ShortTermAt(StoreTx& tx, const SessionRecord& s, int64_t turn) {
  if (turn == s.turns) return s.short_term;
  if (turn == 0) return std::string();
  RS_ASSIGN_OR_RETURN(std::vector<TurnRecord> t, tx.ListTurns(s.id, turn, turn, false));
  if (t.size() != 1)
    return InternalError(TurnName(turn) + " is missing from a session that has it");
  return t[0].short_term_after;
}

StatusOr<SessionRecord> StoreCore::Rollback(const std::string& tenant, const std::string& id,
                                            int64_t to_turn) {
  RS_RETURN_IF_ERROR(ValidateKey(tenant, id));
  if (to_turn < 0) return InvalidArgumentError("to_turn must be >= 0");
  SessionRecord out;
  RS_RETURN_IF_ERROR(RunTx(true, [&](StoreTx& tx) -> Status {
    RS_ASSIGN_OR_RETURN(out, tx.LoadSession(tenant, id, true));
    if (to_turn > out.turns) {
      return OutOfRangeError("to_turn " + std::to_string(to_turn) + " > turns " +
                             std::to_string(out.turns));
    }
    RS_ASSIGN_OR_RETURN(std::optional<StoreTx::PendingTurn> pending, tx.FindPendingTurn(id));
    if (pending) return AbortedError(TurnName(pending->turn.index) + " of the session is still pending");
    RS_ASSIGN_OR_RETURN(out.short_term, ShortTermAt(tx, out, to_turn));
    RS_ASSIGN_OR_RETURN(std::optional<Snapshot> snap, tx.GetSnapshot(id));
    if (snap && snap->turn > to_turn) RS_RETURN_IF_ERROR(tx.DeleteSnapshot(id));
    RS_RETURN_IF_ERROR(tx.DeleteTurnsAfter(id, to_turn));
    RS_RETURN_IF_ERROR(tx.DeleteMemoryAfter(id, to_turn));
    out.turns = to_turn;
    out.updated_ms = NowMs();
    return tx.UpdateSession(id, out.turns, out.short_term, out.updated_ms);
  }));
  return out;
}

Status StoreCore::CopyHistory(StoreTx& tx, const std::string& to_id, std::vector<TurnRecord> turns,
                              const std::vector<MemoryItem>& memory,
                              const std::optional<Snapshot>& snapshot) {
  std::map<int64_t, int64_t> old_to_new;
  for (const MemoryItem& m : memory) {
    RS_ASSIGN_OR_RETURN(int64_t new_id, tx.InsertMemory(to_id, m));
    old_to_new[m.id] = new_id;
  }
  RemapRetrievals(old_to_new, &turns);
  for (const TurnRecord& t : turns) RS_RETURN_IF_ERROR(tx.InsertTurn(to_id, t, ""));
  if (snapshot) RS_RETURN_IF_ERROR(tx.PutSnapshot(to_id, *snapshot));
  return OkStatus();
}

StatusOr<SessionRecord> StoreCore::Fork(const std::string& tenant, const std::string& id,
                                        int64_t at_turn, const std::string& new_id) {
  RS_RETURN_IF_ERROR(ValidateKey(tenant, id));
  RS_RETURN_IF_ERROR(ValidateKey(tenant, new_id));
  if (at_turn < 0) return InvalidArgumentError("at_turn must be >= 0");
  SessionRecord out;
  RS_RETURN_IF_ERROR(RunTx(true, [&](StoreTx& tx) -> Status {
    RS_ASSIGN_OR_RETURN(SessionRecord src, tx.LoadSession(tenant, id, true));
    if (at_turn > src.turns) {
      return OutOfRangeError("at_turn " + std::to_string(at_turn) + " > turns " +
                             std::to_string(src.turns));
    }
    RS_ASSIGN_OR_RETURN(std::string short_term, ShortTermAt(tx, src, at_turn));
    out = ForkedSession(src, at_turn, new_id, short_term, NowMs());
    RS_RETURN_IF_ERROR(tx.InsertSession(out));
    std::vector<TurnRecord> turns;
    if (at_turn > 0) {
      RS_ASSIGN_OR_RETURN(turns, tx.ListTurns(id, 1, at_turn, false));
    }
    RS_ASSIGN_OR_RETURN(std::vector<MemoryItem> memory, tx.ListMemory(id));
    std::erase_if(memory, [&](const MemoryItem& m) { return m.turn > at_turn; });
    RS_ASSIGN_OR_RETURN(std::optional<Snapshot> snap, tx.GetSnapshot(id));
    if (snap && (at_turn == 0 || snap->turn != at_turn)) snap.reset();
    return CopyHistory(tx, new_id, std::move(turns), memory, snap);
  }));
  return out;
}

StatusOr<SessionDump> StoreCore::Export(const std::string& tenant, const std::string& id) {
  RS_RETURN_IF_ERROR(ValidateKey(tenant, id));
  SessionDump dump;
  RS_RETURN_IF_ERROR(RunTx(false, [&](StoreTx& tx) -> Status {
    RS_ASSIGN_OR_RETURN(dump.session, tx.LoadSession(tenant, id, false));
    RS_ASSIGN_OR_RETURN(dump.turns, tx.ListTurns(id, 1, 0, false));
    RS_ASSIGN_OR_RETURN(dump.memory, tx.ListMemory(id));
    RS_ASSIGN_OR_RETURN(dump.snapshot, tx.GetSnapshot(id));
    return OkStatus();
  }));
  if (dump.snapshot && !VerifySnapshot(*dump.snapshot).ok()) dump.snapshot.reset();
  return dump;
}

StatusOr<SessionRecord> StoreCore::Import(const std::string& tenant, const SessionDump& dump) {
  SessionRecord s = dump.session;
  s.tenant = tenant;
  RS_RETURN_IF_ERROR(ValidateNewSession(s));
  RS_RETURN_IF_ERROR(ValidateDump(dump));
  s.turns = static_cast<int64_t>(dump.turns.size());
  const int64_t now = NowMs();
  if (s.created_ms == 0) s.created_ms = now;
  s.updated_ms = now;
  RS_RETURN_IF_ERROR(RunTx(true, [&](StoreTx& tx) -> Status {
    RS_RETURN_IF_ERROR(tx.InsertSession(s));
    return CopyHistory(tx, s.id, dump.turns, dump.memory, dump.snapshot);
  }));
  return s;
}

}  // namespace rs::sessions::internal
