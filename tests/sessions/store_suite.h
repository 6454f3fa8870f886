// The SessionStore conformance suite (session_store.h): every implementation
// runs these same tests through a StoreHarness that opens a fresh, empty store
// and can corrupt it behind the store's back.
//
// Include from exactly one test file per implementation and instantiate:
//   INSTANTIATE_TEST_SUITE_P(Sqlite, StoreSuite, ::testing::Values(StoreParam{"sqlite",
//   MakeHarness}),
//                            StoreParamName);
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <functional>
#include <memory>
#include <ostream>
#include <string>
#include <thread>
#include <vector>

#include "sessions/store/session_store.h"

namespace rs::sessions::testing {

// Opens stores of one implementation for one test.
class StoreHarness {
 public:
  virtual ~StoreHarness() = default;
  // Why this implementation cannot run here (empty: it can).
  virtual std::string Unavailable() { return ""; }
  // A fresh, empty store (a new file / database), the same one on every call
  // of this harness: a second call after the first store is destroyed is a
  // restart.
  virtual StatusOr<std::unique_ptr<SessionStore>> Open() = 0;
  // Flips a byte of session `id`'s stored snapshot with raw SQL.
  virtual Status CorruptSnapshot(const std::string& id) = 0;
};

struct StoreParam {
  const char* name;
  std::function<std::unique_ptr<StoreHarness>()> make;
};
inline void PrintTo(const StoreParam& p, std::ostream* os) { *os << p.name; }
inline std::string StoreParamName(const ::testing::TestParamInfo<StoreParam>& info) {
  return info.param.name;
}

// ---- Short strings of state, for comparisons --------------------------------

inline std::string Code(const Status& s) { return StatusCodeName(s.code()); }
template <typename T>
std::string Code(const StatusOr<T>& s) {
  return StatusCodeName(s.status().code());
}

inline std::string Str(const SessionRecord& s) {
  return s.id + "|" + s.tenant + "|" + s.model + "|" + std::to_string(static_cast<int>(s.mode)) +
         "|" + s.system_prompt + "|" + std::to_string(s.memory.short_term_budget_tokens) + "," +
         std::to_string(s.memory.retrieval_k) + "," + s.memory.chat_template + "|" +
         std::to_string(s.temperature) + "," + std::to_string(s.top_p) + "," +
         std::to_string(s.max_reply_tokens) + "|st=" + s.short_term +
         "|turns=" + std::to_string(s.turns) + "|fork=" + s.forked_from + "@" +
         std::to_string(s.forked_at_turn);
}

// A turn without its memory ids (they change on Fork / Import).
inline std::string Str(const TurnRecord& t) {
  std::string out = std::to_string(t.index) + ":" + std::to_string(static_cast<int>(t.status)) +
                    ":" + t.request_id + ":" + t.input + "->" + t.reply +
                    "|st=" + t.short_term_after + "|plans=";
  for (const auto& p : t.plans) out += p + ";";
  out += "|ret=";
  for (const auto& r : t.retrieved) out += std::to_string(r.score) + ";";
  out += t.rebuilt_from_text ? "|rebuilt" : "";
  out += t.error.empty() ? "" : "|err=" + t.error;
  return out;
}

inline std::string Str(const MemoryItem& m) {
  std::string out = "t";  // (built in steps: GCC 12 warns, wrongly, on "t" + to_string)
  out += std::to_string(m.turn) + ":" + m.text + "[";
  for (float x : m.embedding) out += std::to_string(x) + ",";
  return out + "]";
}

template <typename T>
std::string Str(const std::vector<T>& v) {
  std::string out;
  for (const auto& x : v) out += Str(x) + "\n";
  return out;
}

inline std::string Str(const Snapshot& s) {
  return "t" + std::to_string(s.turn) + ":" + s.model_fingerprint + ":" +
         std::to_string(s.state.size()) + "B:" + std::to_string(s.consumed_tokens) + ":" +
         std::to_string(s.pending_token) + ":" + std::to_string(s.checksum) + ":tail=" + s.tail;
}

// ---- The suite ---------------------------------------------------------------

class StoreSuite : public ::testing::TestWithParam<StoreParam> {
 protected:
  void SetUp() override {
    harness_ = GetParam().make();
    const std::string why = harness_->Unavailable();
    if (!why.empty()) {
      const char* allow = std::getenv("RS_ALLOW_NO_PG");
      if (allow != nullptr && std::string(allow) == "1")
        GTEST_SKIP() << why << " (RS_ALLOW_NO_PG=1)";
      FAIL() << why << " (set RS_ALLOW_NO_PG=1 to skip)";
    }
    Reopen();
  }
  void TearDown() override { store_.reset(); }

  // Closes the store and opens it again: a restart.
  void Reopen() {
    store_.reset();
    auto s = harness_->Open();
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(s).value();
  }

  static SessionRecord NewSession(const std::string& tenant, const std::string& id,
                                  int64_t created_ms = 0) {
    SessionRecord s;
    s.id = id;
    s.tenant = tenant;
    s.model = "rwkv7-0.1b";
    s.mode = SessionMode::kStory;
    s.system_prompt = "a premise";
    s.memory.short_term_budget_tokens = 128;
    s.memory.retrieval_k = 2;
    s.memory.chat_template = "User: {}\n\nAssistant:";
    s.temperature = 0.7f;
    s.top_p = 0.9f;
    s.max_reply_tokens = 64;
    s.created_ms = created_ms;
    return s;
  }

  void Create(const std::string& tenant, const std::string& id, int64_t created_ms = 0) {
    Status s = store_->CreateSession(NewSession(tenant, id, created_ms));
    ASSERT_TRUE(s.ok()) << s.ToString();
  }

  static Snapshot MakeSnapshot(int64_t turn, size_t bytes) {
    Snapshot s;
    s.turn = turn;
    s.model_fingerprint = "fp-1234";
    for (size_t i = 0; i < bytes; ++i) s.state.push_back(static_cast<char>((i * 31 + turn) % 256));
    s.consumed_tokens = 100 * turn;
    s.pending_token = static_cast<int32_t>(7 + turn);
    s.tail = std::string("\n\nUser\0:", 8) + std::to_string(turn);  // bytes, NUL included
    return s;
  }

  static TurnCommit MakeCommit(int64_t index, bool with_snapshot) {
    TurnCommit c;
    c.reply = "reply " + std::to_string(index);
    c.short_term_after = "summary after " + std::to_string(index);
    c.plans = {"plan a" + std::to_string(index), "", "plan c"};
    c.rebuilt_from_text = index % 2 == 1;
    MemoryItem m;
    m.text = "exchange " + std::to_string(index);
    m.embedding = {0.6f, -0.8f, static_cast<float>(index)};
    c.new_items.push_back(m);
    if (with_snapshot) c.snapshot = MakeSnapshot(index, 4096);
    return c;
  }

  // Runs turn expected_turn + 1 to commit; returns its record.
  TurnRecord RunTurn(const std::string& tenant, const std::string& id, int64_t expected_turn,
                     bool with_snapshot = false, const std::string& request_id = "") {
    auto b = store_->BeginTurn(tenant, id, expected_turn, request_id,
                               "input " + std::to_string(expected_turn + 1), "replica-a", nullptr);
    EXPECT_TRUE(b.ok()) << b.status().ToString();
    if (!b.ok()) return {};
    auto c = store_->CommitTurn(tenant, id, b->index, MakeCommit(b->index, with_snapshot));
    EXPECT_TRUE(c.ok()) << c.status().ToString();
    return c.ok() ? *c : TurnRecord{};
  }

  std::unique_ptr<StoreHarness> harness_;
  std::unique_ptr<SessionStore> store_;
};

TEST_P(StoreSuite, CreateGetDelete) {
  SessionRecord want = NewSession("acme", "s1");
  want.short_term = "initial";
  ASSERT_TRUE(store_->CreateSession(want).ok());
  auto got = store_->GetSession("acme", "s1");
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(Str(*got), Str(want));
  EXPECT_GT(got->created_ms, 0);
  EXPECT_GE(got->updated_ms, got->created_ms);
  // Ids are unique per store, whoever asks.
  EXPECT_EQ(Code(store_->CreateSession(want)), "ALREADY_EXISTS");
  EXPECT_EQ(Code(store_->CreateSession(NewSession("other", "s1"))), "ALREADY_EXISTS");
  EXPECT_EQ(Code(store_->GetSession("acme", "nope")), "NOT_FOUND");
  EXPECT_EQ(Code(store_->DeleteSession("acme", "s1")), "OK");
  EXPECT_EQ(Code(store_->GetSession("acme", "s1")), "NOT_FOUND");
  EXPECT_EQ(Code(store_->DeleteSession("acme", "s1")), "NOT_FOUND");
}

TEST_P(StoreSuite, RejectsMalformedArguments) {
  EXPECT_EQ(Code(store_->CreateSession(NewSession("acme", ""))), "INVALID_ARGUMENT");
  EXPECT_EQ(Code(store_->CreateSession(NewSession("", "s1"))), "INVALID_ARGUMENT");
  Create("acme", "s1");
  EXPECT_EQ(Code(store_->BeginTurn("acme", "s1", -1, "", "x", "o", nullptr)), "INVALID_ARGUMENT");
  EXPECT_EQ(Code(store_->AddMemory("acme", "s1", MemoryItem{})), "INVALID_ARGUMENT");
  EXPECT_EQ(Code(store_->ListSessions("acme", 0, "")), "INVALID_ARGUMENT");
  EXPECT_EQ(Code(store_->ListSessions("acme", 1001, "")), "INVALID_ARGUMENT");
  EXPECT_EQ(Code(store_->ListSessions("acme", 10, "garbage")), "INVALID_ARGUMENT");
  EXPECT_EQ(Code(store_->Rollback("acme", "s1", -1)), "INVALID_ARGUMENT");
}

TEST_P(StoreSuite, SqlInDataIsData) {
  const std::string id = "x'); DROP TABLE sessions; --";
  Create("t' OR '1'='1", id);
  EXPECT_EQ(Code(store_->GetSession("t' OR '1'='1", id)), "OK");
  EXPECT_EQ(Code(store_->GetSession("t", id)), "NOT_FOUND");
  auto page = store_->ListSessions("t' OR '1'='1", 10, "");
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->sessions.size(), 1u);
  EXPECT_EQ(page->sessions[0].id, id);
}

TEST_P(StoreSuite, ListPagesNewestFirst) {
  // Seven sessions of acme (two share a created_ms: id breaks the tie), two of another tenant.
  const std::vector<std::pair<std::string, int64_t>> made = {
      {"a", 1000}, {"b", 1001}, {"c", 1002}, {"d", 1002}, {"e", 1003}, {"f", 1004}, {"g", 1005}};
  for (const auto& [id, ms] : made) Create("acme", id, ms);
  Create("other", "x", 1006);
  Create("other", "y", 999);
  std::string order, token;
  int pages = 0;
  do {
    auto page = store_->ListSessions("acme", 3, token);
    ASSERT_TRUE(page.ok()) << page.status().ToString();
    for (const auto& s : page->sessions) {
      EXPECT_EQ(s.tenant, "acme");
      order += s.id;
    }
    token = page->next_page_token;
    ASSERT_LT(++pages, 10);
  } while (!token.empty());
  EXPECT_EQ(order, "gfedcba");
  EXPECT_EQ(pages, 3);
  auto all = store_->ListSessions("acme", 1000, "");
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->sessions.size(), 7u);
  EXPECT_TRUE(all->next_page_token.empty());
  auto none = store_->ListSessions("nobody", 10, "");
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->sessions.empty());
}

TEST_P(StoreSuite, AnotherTenantGetsNotFoundFromEveryMethod) {
  Create("acme", "s1");
  RunTurn("acme", "s1", 0, true);
  auto item = store_->AddMemory("acme", "s1", MemoryItem{0, 0, "hand", {1.0f}, 0, 0});
  ASSERT_TRUE(item.ok());
  auto pending = store_->BeginTurn("acme", "s1", 1, "r2", "in", "replica-a", nullptr);
  ASSERT_TRUE(pending.ok());
  auto before = store_->Export("acme", "s1");
  ASSERT_TRUE(before.ok());

  const std::string evil = "evil";
  EXPECT_EQ(Code(store_->GetSession(evil, "s1")), "NOT_FOUND");
  EXPECT_EQ(Code(store_->DeleteSession(evil, "s1")), "NOT_FOUND");
  TurnRecord existing;
  EXPECT_EQ(Code(store_->BeginTurn(evil, "s1", 1, "r1", "in", "o", &existing)), "NOT_FOUND");
  EXPECT_EQ(Code(store_->CommitTurn(evil, "s1", 2, MakeCommit(2, true))), "NOT_FOUND");
  EXPECT_EQ(Code(store_->FailTurn(evil, "s1", 2, "x", "")), "NOT_FOUND");
  EXPECT_EQ(Code(store_->ListTurns(evil, "s1", 1, 0)), "NOT_FOUND");
  EXPECT_EQ(Code(store_->ListMemory(evil, "s1")), "NOT_FOUND");
  EXPECT_EQ(Code(store_->AddMemory(evil, "s1", MemoryItem{0, 0, "x", {}, 0, 0})), "NOT_FOUND");
  EXPECT_EQ(Code(store_->UpdateMemory(evil, "s1", MemoryItem{item->id, 0, "x", {}, 0, 0})),
            "NOT_FOUND");
  EXPECT_EQ(Code(store_->DeleteMemory(evil, "s1", item->id)), "NOT_FOUND");
  EXPECT_EQ(Code(store_->SetShortTerm(evil, "s1", "x")), "NOT_FOUND");
  EXPECT_EQ(Code(store_->GetSnapshot(evil, "s1")), "NOT_FOUND");
  EXPECT_EQ(Code(store_->Rollback(evil, "s1", 0)), "NOT_FOUND");
  EXPECT_EQ(Code(store_->Fork(evil, "s1", 1, "s2")), "NOT_FOUND");
  EXPECT_EQ(Code(store_->Export(evil, "s1")), "NOT_FOUND");
  auto page = store_->ListSessions(evil, 10, "");
  ASSERT_TRUE(page.ok());
  EXPECT_TRUE(page->sessions.empty());
  EXPECT_EQ(Code(store_->GetSession(evil, "s2")), "NOT_FOUND");

  // Nothing of acme's changed; its pending turn still commits.
  auto after = store_->Export("acme", "s1");
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(Str(after->session), Str(before->session));
  EXPECT_EQ(Str(after->memory), Str(before->memory));
  EXPECT_EQ(Code(store_->CommitTurn("acme", "s1", 2, MakeCommit(2, false))), "OK");
}

TEST_P(StoreSuite, TurnGoesPendingToCommitted) {
  Create("acme", "s1");
  auto b = store_->BeginTurn("acme", "s1", 0, "req-1", "hello", "replica-a", nullptr);
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  EXPECT_EQ(b->index, 1);
  EXPECT_EQ(b->status, TurnRecord::Status::kPending);
  EXPECT_GT(b->created_ms, 0);
  // Pending turns count nowhere but in include_failed listings.
  EXPECT_EQ(store_->GetSession("acme", "s1")->turns, 0);
  EXPECT_EQ(Str(*store_->ListTurns("acme", "s1", 1, 0)), "");
  EXPECT_EQ(Str(*store_->ListTurns("acme", "s1", 1, 0, true)),
            "1:0:req-1:hello->|st=|plans=|ret=\n");

  TurnCommit c = MakeCommit(1, false);
  c.retrieved = {{5, 0.25f}, {9, -0.5f}};
  auto done = store_->CommitTurn("acme", "s1", 1, c);
  ASSERT_TRUE(done.ok()) << done.status().ToString();
  const std::string want =
      "1:1:req-1:hello->reply 1|st=summary after 1|plans=plan a1;;plan "
      "c;|ret=0.250000;-0.500000;|rebuilt\n";
  EXPECT_EQ(Str(std::vector<TurnRecord>{*done}), want);
  EXPECT_GE(done->committed_ms, done->created_ms);
  auto listed = store_->ListTurns("acme", "s1", 1, 0);
  ASSERT_TRUE(listed.ok());
  EXPECT_EQ(Str(*listed), want);
  EXPECT_EQ((*listed)[0].retrieved[1].memory_id, 9);
  auto s = store_->GetSession("acme", "s1");
  EXPECT_EQ(s->turns, 1);
  EXPECT_EQ(s->short_term, "summary after 1");
  auto mem = store_->ListMemory("acme", "s1");
  ASSERT_TRUE(mem.ok());
  EXPECT_EQ(Str(*mem), "t1:exchange 1[0.600000,-0.800000,1.000000,]\n");
  // It is committed: no second commit, no failing it.
  EXPECT_EQ(Code(store_->CommitTurn("acme", "s1", 1, c)), "NOT_FOUND");
  EXPECT_EQ(Code(store_->FailTurn("acme", "s1", 1, "late", "")), "NOT_FOUND");
}

TEST_P(StoreSuite, FailedTurnChangesNothingAndMayBeRetried) {
  Create("acme", "s1");
  RunTurn("acme", "s1", 0);
  auto b = store_->BeginTurn("acme", "s1", 1, "", "boom", "replica-a", nullptr);
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->index, 2);
  EXPECT_EQ(Code(store_->CommitTurn("acme", "s1", 3, MakeCommit(3, false))), "NOT_FOUND");
  EXPECT_EQ(Code(store_->FailTurn("acme", "s1", 2, "engine error", "")), "OK");
  EXPECT_EQ(Code(store_->CommitTurn("acme", "s1", 2, MakeCommit(2, false))), "NOT_FOUND");
  EXPECT_EQ(store_->GetSession("acme", "s1")->turns, 1);
  EXPECT_EQ(store_->ListTurns("acme", "s1", 1, 0)->size(), 1u);
  auto all = store_->ListTurns("acme", "s1", 0, 0, true);
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[1].status, TurnRecord::Status::kFailed);
  EXPECT_EQ((*all)[1].error, "engine error");
  // The same turn index again.
  EXPECT_EQ(RunTurn("acme", "s1", 1).index, 2);
  EXPECT_EQ(store_->ListTurns("acme", "s1", 2, 2)->size(), 1u);
  EXPECT_EQ(store_->ListTurns("acme", "s1", 1, 0, true)->size(), 3u);
}

TEST_P(StoreSuite, StaleExpectedTurnAndSecondPendingAreAborted) {
  Create("acme", "s1");
  EXPECT_EQ(Code(store_->BeginTurn("acme", "s1", 1, "", "x", "o", nullptr)), "ABORTED");
  RunTurn("acme", "s1", 0);
  EXPECT_EQ(Code(store_->BeginTurn("acme", "s1", 0, "", "x", "o", nullptr)), "ABORTED");
  EXPECT_EQ(Code(store_->BeginTurn("acme", "s1", 2, "", "x", "o", nullptr)), "ABORTED");
  ASSERT_EQ(Code(store_->BeginTurn("acme", "s1", 1, "", "x", "o", nullptr)), "OK");
  EXPECT_EQ(Code(store_->BeginTurn("acme", "s1", 1, "", "y", "o", nullptr)), "ABORTED");
  EXPECT_EQ(Code(store_->BeginTurn("acme", "s1", 1, "other", "y", "o2", nullptr)), "ABORTED");
  EXPECT_EQ(Code(store_->Rollback("acme", "s1", 0)), "ABORTED");
}

TEST_P(StoreSuite, ConcurrentBeginTurnsOneWins) {
  Create("acme", "s1");
  std::atomic<int> ok{0}, aborted{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&, i] {
      auto b = store_->BeginTurn("acme", "s1", 0, std::to_string(i), "x", "o", nullptr);
      if (b.ok()) ++ok;
      if (b.status().code() == StatusCode::kAborted) ++aborted;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 1);
  EXPECT_EQ(aborted.load(), 7);
}

TEST_P(StoreSuite, RequestIdReplaysTheCommittedTurn) {
  Create("acme", "s1");
  const TurnRecord first = RunTurn("acme", "s1", 0, false, "req-1");
  TurnRecord existing;
  // A retry, with the expected_turn it was sent with, or after the fact.
  for (int64_t expected : {0, 1}) {
    auto again =
        store_->BeginTurn("acme", "s1", expected, "req-1", "input 1", "replica-b", &existing);
    EXPECT_EQ(Code(again), "ALREADY_EXISTS");
    EXPECT_EQ(Str(existing), Str(first));
  }
  EXPECT_EQ(store_->ListTurns("acme", "s1", 1, 0, true)->size(), 1u);
  // A failed attempt's request id may run again; a pending one's is ABORTED.
  auto b = store_->BeginTurn("acme", "s1", 1, "req-2", "x", "o", nullptr);
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(Code(store_->BeginTurn("acme", "s1", 1, "req-2", "x", "o", nullptr)), "ABORTED");
  ASSERT_TRUE(store_->FailTurn("acme", "s1", 2, "x", "").ok());
  EXPECT_EQ(Code(store_->BeginTurn("acme", "s1", 1, "req-2", "x", "o", nullptr)), "OK");
  // Request ids are per session.
  Create("acme", "s2");
  EXPECT_EQ(Code(store_->BeginTurn("acme", "s2", 0, "req-1", "x", "o", nullptr)), "OK");
}

TEST_P(StoreSuite, FailPendingTurnsOfOneOwner) {
  for (const char* id : {"s1", "s2", "s3"}) Create("acme", id);
  ASSERT_TRUE(store_->BeginTurn("acme", "s1", 0, "", "x", "replica-a", nullptr).ok());
  ASSERT_TRUE(store_->BeginTurn("acme", "s2", 0, "", "x", "replica-a", nullptr).ok());
  ASSERT_TRUE(store_->BeginTurn("acme", "s3", 0, "", "x", "replica-b", nullptr).ok());
  auto n = store_->FailPendingTurns("replica-a");
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 2);
  EXPECT_EQ(*store_->FailPendingTurns("replica-a"), 0);
  EXPECT_EQ(Code(store_->CommitTurn("acme", "s1", 1, MakeCommit(1, false))), "NOT_FOUND");
  auto s1 = store_->ListTurns("acme", "s1", 1, 0, true);
  ASSERT_EQ(s1->size(), 1u);
  EXPECT_EQ((*s1)[0].status, TurnRecord::Status::kFailed);
  EXPECT_FALSE((*s1)[0].error.empty());
  EXPECT_EQ(Code(store_->CommitTurn("acme", "s3", 1, MakeCommit(1, false))), "OK");
  EXPECT_EQ(Code(store_->BeginTurn("acme", "s1", 0, "", "x", "replica-a", nullptr)), "OK");
}

TEST_P(StoreSuite, ADeadReplicasPendingTurnIsTakenOverOnceItsLeaseExpires) {
  for (const char* id : {"s1", "s2", "s3"}) Create("acme", id);
  // replica-a holds a lease (renewed), replica-b's ran out, replica-c never sent one.
  ASSERT_TRUE(store_->Heartbeat("replica-a", 60'000).ok());
  ASSERT_TRUE(store_->Heartbeat("replica-b", 60'000).ok());
  ASSERT_TRUE(store_->BeginTurn("acme", "s1", 0, "r1", "x", "replica-a", nullptr).ok());
  ASSERT_TRUE(store_->BeginTurn("acme", "s2", 0, "r1", "x", "replica-b", nullptr).ok());
  ASSERT_TRUE(store_->BeginTurn("acme", "s3", 0, "r1", "x", "replica-c", nullptr).ok());
  ASSERT_TRUE(store_->Heartbeat("replica-a", 60'000).ok());
  ASSERT_TRUE(store_->Heartbeat("replica-b", 0).ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  // A live owner's and an owner without a lease: still pending.
  EXPECT_EQ(Code(store_->BeginTurn("acme", "s1", 0, "r1", "x", "replica-z", nullptr)), "ABORTED");
  EXPECT_EQ(Code(store_->BeginTurn("acme", "s3", 0, "r1", "x", "replica-z", nullptr)), "ABORTED");
  // The dead one's: failed, and the retry (same request id) runs on another replica.
  auto b = store_->BeginTurn("acme", "s2", 0, "r1", "x", "replica-z", nullptr);
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  EXPECT_EQ(b->index, 1);
  // The late owner can neither commit nor fail the attempt that replaced its own.
  TurnCommit late = MakeCommit(1, false);
  late.owner = "replica-b";
  EXPECT_EQ(Code(store_->CommitTurn("acme", "s2", 1, late)), "NOT_FOUND");
  EXPECT_EQ(Code(store_->FailTurn("acme", "s2", 1, "late", "replica-b")), "NOT_FOUND");
  TurnCommit taken = MakeCommit(1, false);
  taken.owner = "replica-z";
  EXPECT_EQ(Code(store_->CommitTurn("acme", "s2", 1, taken)), "OK");
  auto all = store_->ListTurns("acme", "s2", 1, 0, true);
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].status, TurnRecord::Status::kFailed);
  EXPECT_NE((*all)[0].error.find("replica-b"), std::string::npos) << (*all)[0].error;
  EXPECT_EQ((*all)[1].status, TurnRecord::Status::kCommitted);
  EXPECT_EQ(Code(store_->Heartbeat("", 1000)), "INVALID_ARGUMENT");
  EXPECT_EQ(Code(store_->Heartbeat("replica-a", -1)), "INVALID_ARGUMENT");
}

TEST_P(StoreSuite, MemoryAddUpdateDeleteList) {
  Create("acme", "s1");
  Create("acme", "s2");
  auto a = store_->AddMemory("acme", "s1", MemoryItem{0, 0, "likes tea", {0.0f, 1.0f}, 0, 0});
  auto b = store_->AddMemory("acme", "s1", MemoryItem{0, 0, "lives in Oslo", {}, 0, 0});
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_GT(a->id, 0);
  EXPECT_GT(b->id, a->id);
  EXPECT_EQ(Str(*store_->ListMemory("acme", "s1")),
            "t0:likes tea[0.000000,1.000000,]\nt0:lives in Oslo[]\n");
  EXPECT_EQ(Code(store_->AddMemory("acme", "s1", MemoryItem{0, 3, "of a future turn", {}, 0, 0})),
            "INVALID_ARGUMENT");

  const std::vector<float> exact = {0.1f, -1e-30f, 3.4e38f, 0.33333334f};
  ASSERT_EQ(
      Code(store_->UpdateMemory("acme", "s1", MemoryItem{a->id, 0, "likes coffee", exact, 0, 0})),
      "OK");
  auto list = store_->ListMemory("acme", "s1");
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].id, a->id);
  EXPECT_EQ((*list)[0].text, "likes coffee");
  EXPECT_EQ((*list)[0].embedding, exact);  // bit-exact float32
  EXPECT_GE((*list)[0].updated_ms, (*list)[0].created_ms);

  // Item ids of another session are not found through this one.
  EXPECT_EQ(Code(store_->UpdateMemory("acme", "s2", MemoryItem{a->id, 0, "x", {}, 0, 0})),
            "NOT_FOUND");
  EXPECT_EQ(Code(store_->DeleteMemory("acme", "s2", a->id)), "NOT_FOUND");
  EXPECT_EQ(Code(store_->UpdateMemory("acme", "s1", MemoryItem{999999, 0, "x", {}, 0, 0})),
            "NOT_FOUND");
  EXPECT_EQ(Code(store_->DeleteMemory("acme", "s1", a->id)), "OK");
  EXPECT_EQ(Code(store_->DeleteMemory("acme", "s1", a->id)), "NOT_FOUND");
  EXPECT_EQ(Str(*store_->ListMemory("acme", "s1")), "t0:lives in Oslo[]\n");
  EXPECT_EQ(Code(store_->SetShortTerm("acme", "s1", "edited")), "OK");
  EXPECT_EQ(store_->GetSession("acme", "s1")->short_term, "edited");
}

TEST_P(StoreSuite, SnapshotPutByCommitTurn) {
  Create("acme", "s1");
  EXPECT_EQ(Code(store_->GetSnapshot("acme", "s1")), "NOT_FOUND");
  RunTurn("acme", "s1", 0, true);
  auto snap = store_->GetSnapshot("acme", "s1");
  ASSERT_TRUE(snap.ok()) << snap.status().ToString();
  const Snapshot want = MakeSnapshot(1, 4096);
  EXPECT_EQ(snap->state, want.state);  // binary, with NUL bytes
  EXPECT_EQ(snap->checksum, SnapshotChecksum(want.state));
  EXPECT_EQ(Str(*snap),
            "t1:fp-1234:4096B:100:8:" + std::to_string(SnapshotChecksum(want.state)) + ":tail=" + want.tail);
  EXPECT_EQ(snap->tail.size(), 9u);  // bytes, the NUL kept

  // A mismatched checksum or turn is refused and applies nothing.
  ASSERT_TRUE(store_->BeginTurn("acme", "s1", 1, "", "x", "o", nullptr).ok());
  TurnCommit bad = MakeCommit(2, true);
  bad.snapshot->checksum = SnapshotChecksum(bad.snapshot->state) ^ 1;
  EXPECT_EQ(Code(store_->CommitTurn("acme", "s1", 2, bad)), "INVALID_ARGUMENT");
  bad = MakeCommit(2, true);
  bad.snapshot->turn = 5;
  EXPECT_EQ(Code(store_->CommitTurn("acme", "s1", 2, bad)), "INVALID_ARGUMENT");
  EXPECT_EQ(store_->GetSession("acme", "s1")->turns, 1);
  EXPECT_EQ(store_->GetSnapshot("acme", "s1")->turn, 1);
  // The next commit replaces it; one without a snapshot keeps it.
  ASSERT_EQ(Code(store_->CommitTurn("acme", "s1", 2, MakeCommit(2, true))), "OK");
  EXPECT_EQ(store_->GetSnapshot("acme", "s1")->turn, 2);
  RunTurn("acme", "s1", 2, false);
  EXPECT_EQ(store_->GetSnapshot("acme", "s1")->turn, 2);
}

TEST_P(StoreSuite, CorruptSnapshotIsDataLoss) {
  Create("acme", "s1");
  RunTurn("acme", "s1", 0, true);
  ASSERT_TRUE(store_->GetSnapshot("acme", "s1").ok());
  Status corrupt = harness_->CorruptSnapshot("s1");
  ASSERT_TRUE(corrupt.ok()) << corrupt.ToString();
  auto snap = store_->GetSnapshot("acme", "s1");
  EXPECT_EQ(Code(snap), "DATA_LOSS");
  EXPECT_NE(snap.status().message().find("checksum"), std::string::npos) << snap.status().message();
  // The text survives, and Export leaves the unusable snapshot out.
  auto dump = store_->Export("acme", "s1");
  ASSERT_TRUE(dump.ok());
  EXPECT_EQ(dump->turns.size(), 1u);
  EXPECT_FALSE(dump->snapshot.has_value());
}

TEST_P(StoreSuite, RollbackDropsLaterTurnsItemsAndSnapshot) {
  Create("acme", "s1");
  RunTurn("acme", "s1", 0, true);
  auto hand = store_->AddMemory("acme", "s1", MemoryItem{0, 0, "by hand", {}, 0, 0});
  ASSERT_TRUE(hand.ok());
  RunTurn("acme", "s1", 1, true);
  RunTurn("acme", "s1", 2, true);
  ASSERT_TRUE(store_->BeginTurn("acme", "s1", 3, "", "x", "o", nullptr).ok());
  ASSERT_TRUE(store_->FailTurn("acme", "s1", 4, "x", "").ok());
  EXPECT_EQ(Code(store_->Rollback("acme", "s1", 4)), "OUT_OF_RANGE");

  auto r = store_->Rollback("acme", "s1", 1);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->turns, 1);
  EXPECT_EQ(r->short_term, "summary after 1");
  EXPECT_EQ(Str(*store_->GetSession("acme", "s1")), Str(*r));
  EXPECT_EQ(store_->ListTurns("acme", "s1", 1, 0, true)->size(), 1u);
  EXPECT_EQ(Str(*store_->ListMemory("acme", "s1")),
            "t1:exchange 1[0.600000,-0.800000,1.000000,]\nt0:by hand[]\n");
  EXPECT_EQ(Code(store_->GetSnapshot("acme", "s1")), "NOT_FOUND");  // it was of turn 3
  EXPECT_EQ(RunTurn("acme", "s1", 1, true).index, 2);

  // To 0: no turns, empty short-term memory, hand-added items stay.
  auto zero = store_->Rollback("acme", "s1", 0);
  ASSERT_TRUE(zero.ok());
  EXPECT_EQ(zero->turns, 0);
  EXPECT_EQ(zero->short_term, "");
  EXPECT_EQ(Str(*store_->ListMemory("acme", "s1")), "t0:by hand[]\n");
  EXPECT_EQ(Code(store_->GetSnapshot("acme", "s1")), "NOT_FOUND");
}

TEST_P(StoreSuite, RollbackKeepsASnapshotOfAnEarlierTurn) {
  Create("acme", "s1");
  RunTurn("acme", "s1", 0, true);
  RunTurn("acme", "s1", 1, false);
  ASSERT_TRUE(store_->Rollback("acme", "s1", 1).ok());
  EXPECT_EQ(store_->GetSnapshot("acme", "s1")->turn, 1);
  // At the current turn nothing changes, a hand edit of short-term included.
  ASSERT_TRUE(store_->SetShortTerm("acme", "s1", "edited").ok());
  auto same = store_->Rollback("acme", "s1", 1);
  ASSERT_TRUE(same.ok());
  EXPECT_EQ(same->short_term, "edited");
}

TEST_P(StoreSuite, ForkCopiesHistoryUpToATurn) {
  Create("acme", "s1");
  RunTurn("acme", "s1", 0, true);
  auto hand = store_->AddMemory("acme", "s1", MemoryItem{0, 0, "by hand", {0.5f}, 0, 0});
  ASSERT_TRUE(hand.ok());
  auto b = store_->BeginTurn("acme", "s1", 1, "", "input 2", "o", nullptr);
  ASSERT_TRUE(b.ok());
  TurnCommit c2 = MakeCommit(2, true);
  c2.retrieved = {{hand->id, 0.75f}};
  ASSERT_TRUE(store_->CommitTurn("acme", "s1", 2, c2).ok());
  RunTurn("acme", "s1", 2, true);
  const auto original = store_->Export("acme", "s1");
  ASSERT_TRUE(original.ok());

  auto f = store_->Fork("acme", "s1", 2, "f2");
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  EXPECT_EQ(f->id, "f2");
  EXPECT_EQ(f->tenant, "acme");
  EXPECT_EQ(f->turns, 2);
  EXPECT_EQ(f->forked_from, "s1");
  EXPECT_EQ(f->forked_at_turn, 2);
  EXPECT_EQ(f->short_term, "summary after 2");
  EXPECT_EQ(Str(*store_->GetSession("acme", "f2")), Str(*f));
  auto turns = store_->ListTurns("acme", "f2", 1, 0);
  ASSERT_TRUE(turns.ok());
  EXPECT_EQ(Str(*turns),
            Str(std::vector<TurnRecord>(original->turns.begin(), original->turns.begin() + 2)));
  auto mem = store_->ListMemory("acme", "f2");
  ASSERT_TRUE(mem.ok());
  EXPECT_EQ(Str(*mem),
            "t1:exchange 1[0.600000,-0.800000,1.000000,]\nt0:by hand[0.500000,]\n"
            "t2:exchange 2[0.600000,-0.800000,2.000000,]\n");
  // The retrieval names the fork's own copy of the item.
  ASSERT_EQ((*turns)[1].retrieved.size(), 1u);
  EXPECT_EQ((*turns)[1].retrieved[0].memory_id, (*mem)[1].id);
  EXPECT_NE((*mem)[1].id, hand->id);
  EXPECT_EQ(Code(store_->GetSnapshot("acme", "f2")), "NOT_FOUND");  // of turn 3

  auto f3 = store_->Fork("acme", "s1", 3, "f3");
  ASSERT_TRUE(f3.ok());
  EXPECT_EQ(Str(*store_->GetSnapshot("acme", "f3")), Str(*original->snapshot));
  // The fork continues on its own; the original is untouched.
  EXPECT_EQ(RunTurn("acme", "f2", 2).index, 3);
  auto now = store_->Export("acme", "s1");
  EXPECT_EQ(Str(now->session), Str(original->session));
  EXPECT_EQ(Str(now->turns), Str(original->turns));
  EXPECT_EQ(Str(now->memory), Str(original->memory));

  EXPECT_EQ(Code(store_->Fork("acme", "s1", 1, "f2")), "ALREADY_EXISTS");
  EXPECT_EQ(Code(store_->Fork("acme", "s1", 4, "f4")), "OUT_OF_RANGE");
  auto empty = store_->Fork("acme", "s1", 0, "f0");
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(empty->turns, 0);
  EXPECT_EQ(Str(*store_->ListMemory("acme", "f0")), "t0:by hand[0.500000,]\n");
}

TEST_P(StoreSuite, ExportImportRoundTrip) {
  Create("acme", "s1");
  RunTurn("acme", "s1", 0, false, "r1");
  auto hand = store_->AddMemory("acme", "s1", MemoryItem{0, 0, "by hand", {0.25f, 0.5f}, 0, 0});
  ASSERT_TRUE(hand.ok());
  RunTurn("acme", "s1", 1, true, "r2");
  auto dump = store_->Export("acme", "s1");
  ASSERT_TRUE(dump.ok()) << dump.status().ToString();
  ASSERT_EQ(dump->turns.size(), 2u);
  ASSERT_EQ(dump->memory.size(), 3u);
  ASSERT_TRUE(dump->snapshot.has_value());

  // Another server: delete here, import there (another tenant).
  ASSERT_TRUE(store_->DeleteSession("acme", "s1").ok());
  auto imported = store_->Import("globex", *dump);
  ASSERT_TRUE(imported.ok()) << imported.status().ToString();
  EXPECT_EQ(imported->tenant, "globex");
  EXPECT_EQ(Code(store_->GetSession("acme", "s1")), "NOT_FOUND");
  auto back = store_->Export("globex", "s1");
  ASSERT_TRUE(back.ok());
  SessionRecord want = dump->session;
  want.tenant = "globex";
  EXPECT_EQ(Str(back->session), Str(want));
  EXPECT_EQ(back->session.created_ms, dump->session.created_ms);
  EXPECT_EQ(Str(back->turns), Str(dump->turns));
  EXPECT_EQ(Str(back->memory), Str(dump->memory));
  EXPECT_EQ(Str(*back->snapshot), Str(*dump->snapshot));
  EXPECT_EQ(back->snapshot->state, dump->snapshot->state);
  // Idempotency survives the move.
  TurnRecord existing;
  EXPECT_EQ(Code(store_->BeginTurn("globex", "s1", 2, "r2", "x", "o", &existing)),
            "ALREADY_EXISTS");
  EXPECT_EQ(existing.index, 2);
  EXPECT_EQ(Code(store_->Import("globex", *dump)), "ALREADY_EXISTS");
  EXPECT_EQ(Code(store_->Import("other", *dump)), "ALREADY_EXISTS");
}

TEST_P(StoreSuite, ImportRejectsInconsistentDumps) {
  Create("acme", "s1");
  RunTurn("acme", "s1", 0, true);
  RunTurn("acme", "s1", 1, false);
  auto dump = store_->Export("acme", "s1");
  ASSERT_TRUE(dump.ok());
  dump->session.id = "copy";
  SessionDump gap = *dump;
  gap.turns[1].index = 3;
  EXPECT_EQ(Code(store_->Import("acme", gap)), "INVALID_ARGUMENT");
  SessionDump bad_sum = *dump;
  bad_sum.snapshot->state[0] ^= 1;
  EXPECT_EQ(Code(store_->Import("acme", bad_sum)), "INVALID_ARGUMENT");
  SessionDump future_item = *dump;
  future_item.memory[0].turn = 9;
  EXPECT_EQ(Code(store_->Import("acme", future_item)), "INVALID_ARGUMENT");
  EXPECT_EQ(Code(store_->GetSession("acme", "copy")), "NOT_FOUND");
  EXPECT_EQ(Code(store_->Import("acme", *dump)), "OK");
}

TEST_P(StoreSuite, DeleteRemovesEverything) {
  Create("acme", "s1");
  RunTurn("acme", "s1", 0, true, "r1");
  ASSERT_TRUE(store_->DeleteSession("acme", "s1").ok());
  Create("acme", "s1");
  EXPECT_EQ(store_->GetSession("acme", "s1")->turns, 0);
  EXPECT_TRUE(store_->ListMemory("acme", "s1")->empty());
  EXPECT_TRUE(store_->ListTurns("acme", "s1", 1, 0, true)->empty());
  EXPECT_EQ(Code(store_->GetSnapshot("acme", "s1")), "NOT_FOUND");
  EXPECT_EQ(Code(store_->BeginTurn("acme", "s1", 0, "r1", "x", "o", nullptr)), "OK");
}

TEST_P(StoreSuite, RestartKeepsEverything) {
  Create("acme", "s1");
  RunTurn("acme", "s1", 0, true, "r1");
  RunTurn("acme", "s1", 1, true, "r2");
  ASSERT_TRUE(store_->BeginTurn("acme", "s1", 2, "r3", "x", "replica-a", nullptr).ok());
  auto before = store_->Export("acme", "s1");
  ASSERT_TRUE(before.ok());
  Reopen();
  auto after = store_->Export("acme", "s1");
  ASSERT_TRUE(after.ok()) << after.status().ToString();
  EXPECT_EQ(Str(after->session), Str(before->session));
  EXPECT_EQ(Str(after->turns), Str(before->turns));
  EXPECT_EQ(Str(after->memory), Str(before->memory));
  EXPECT_EQ(Str(*after->snapshot), Str(*before->snapshot));
  // The pending turn survived the restart too, until its owner gives it up.
  EXPECT_EQ(*store_->FailPendingTurns("replica-a"), 1);
  EXPECT_EQ(RunTurn("acme", "s1", 2).index, 3);
}

}  // namespace rs::sessions::testing
