// kill -9 during turns: a child process commits turns of one session in a
// loop and writes each turn's index to a pipe after CommitTurn returns OK
// (an acknowledged turn); the parent kills it with SIGKILL at a random point,
// at least kRounds times, sometimes while it is still opening the store.
// After each kill the store must open cleanly (PRAGMA integrity_check ok),
// hold every acknowledged turn with everything it committed (reply, short-
// term memory, its memory item, its snapshot), and the interrupted turn must
// be absent or pending/failed, never half-applied.
//
// RS_CRASH_SEED=<n> replays a run (the seed is printed).
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <thread>

#include "sessions/store/sqlite_store.h"

namespace rs::sessions {
namespace {

constexpr int kRounds = 24;
constexpr const char* kTenant = "acme";
constexpr const char* kSession = "crash";
constexpr const char* kOwner = "child";

// The snapshot turn k commits: 64 KiB, so a commit spans many pages.
std::string SnapshotBytes(int64_t k) {
  std::string s(64 << 10, '\0');
  for (size_t i = 0; i < s.size(); ++i) s[i] = static_cast<char>((i * 131 + k * 7) & 0xff);
  return s;
}

TurnCommit CommitOf(int64_t k) {
  TurnCommit c;
  c.reply = "reply " + std::to_string(k);
  c.short_term_after = "after " + std::to_string(k);
  MemoryItem m;
  m.text = "item " + std::to_string(k);
  m.embedding = {1.0f, static_cast<float>(k)};
  c.new_items.push_back(m);
  Snapshot snap;
  snap.model_fingerprint = "fp";
  snap.state = SnapshotBytes(k);
  snap.consumed_tokens = k;
  c.snapshot = snap;
  return c;
}

// The child: a replica restarting, then serving turns until it is killed.
[[noreturn]] void ChildLoop(const std::string& path, int ack_fd) {
  auto store = SqliteSessionStore::Open(path);
  if (!store.ok()) _exit(2);
  if (!(*store)->FailPendingTurns(kOwner).ok()) _exit(3);
  auto s = (*store)->GetSession(kTenant, kSession);
  if (!s.ok()) _exit(4);
  for (int64_t turns = s->turns;; ++turns) {
    const int64_t k = turns + 1;
    auto b = (*store)->BeginTurn(kTenant, kSession, turns, "req-" + std::to_string(k), "input",
                                 kOwner, nullptr);
    if (!b.ok() || b->index != k) _exit(5);
    if (!(*store)->CommitTurn(kTenant, kSession, k, CommitOf(k)).ok()) _exit(6);
    if (write(ack_fd, &k, sizeof(k)) != static_cast<ssize_t>(sizeof(k))) _exit(7);
  }
}

// Reads the acknowledgements available within timeout_ms; returns the last
// (0: none). Sets *eof when the child's end closed.
int64_t ReadAcks(int fd, int timeout_ms, bool* eof) {
  int64_t last = 0;
  pollfd p{fd, POLLIN, 0};
  while (!*eof && poll(&p, 1, timeout_ms) > 0) {
    int64_t k = 0;
    const ssize_t n = read(fd, &k, sizeof(k));
    if (n <= 0) {
      *eof = true;
    } else if (n == sizeof(k)) {
      last = k;
    }
    timeout_ms = 0;  // drain what is there, then return
  }
  return last;
}

std::string IntegrityCheck(const std::string& path) {
  sqlite3* db = nullptr;
  std::string out = "open failed";
  if (sqlite3_open(path.c_str(), &db) == SQLITE_OK) {
    sqlite3_stmt* st = nullptr;
    out = "prepare failed";
    if (sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, nullptr) == SQLITE_OK) {
      out = sqlite3_step(st) == SQLITE_ROW
                ? reinterpret_cast<const char*>(sqlite3_column_text(st, 0))
                : "no row";
    }
    sqlite3_finalize(st);
  }
  sqlite3_close(db);
  return out;
}

// Everything the store must hold after a kill, given the last acknowledged turn
// and the turns committed when the killed child started (it may have committed
// one more than either without acknowledging it, e.g. when killed while
// starting after an earlier round left an unacknowledged turn).
// *pending_out: 1 when the kill left the interrupted turn pending.
void VerifyStore(const std::string& path, int64_t acked, int64_t before, int64_t* turns_out,
                 int* pending_out) {
  auto store = SqliteSessionStore::Open(path);
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  EXPECT_EQ(IntegrityCheck(path), "ok");
  auto s = (*store)->GetSession(kTenant, kSession);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  const int64_t t = s->turns;
  *turns_out = t;
  // Every acknowledged turn is there; at most one more committed unacknowledged.
  ASSERT_GE(t, acked);
  ASSERT_GE(t, before);
  ASSERT_LE(t, std::max(acked, before) + 1);
  EXPECT_EQ(s->short_term, t == 0 ? "" : "after " + std::to_string(t));

  auto committed = (*store)->ListTurns(kTenant, kSession, 1, 0);
  ASSERT_TRUE(committed.ok());
  ASSERT_EQ(static_cast<int64_t>(committed->size()), t);
  for (int64_t i = 0; i < t; ++i) {
    EXPECT_EQ((*committed)[i].index, i + 1);
    EXPECT_EQ((*committed)[i].reply, "reply " + std::to_string(i + 1));
  }
  auto all = (*store)->ListTurns(kTenant, kSession, 1, 0, true);
  ASSERT_TRUE(all.ok());
  int pending = 0;
  for (const TurnRecord& r : *all) {
    if (r.status == TurnRecord::Status::kCommitted) continue;
    EXPECT_LE(r.index, t + 1) << "an attempt beyond the next turn";
    if (r.status == TurnRecord::Status::kPending) {
      ++pending;
      EXPECT_EQ(r.index, t + 1) << "the interrupted turn is pending at the next index";
    }
  }
  EXPECT_LE(pending, 1);
  *pending_out = pending;

  auto memory = (*store)->ListMemory(kTenant, kSession);
  ASSERT_TRUE(memory.ok());
  ASSERT_EQ(static_cast<int64_t>(memory->size()), t);
  for (int64_t i = 0; i < t; ++i) {
    EXPECT_EQ((*memory)[i].turn, i + 1);
    EXPECT_EQ((*memory)[i].text, "item " + std::to_string(i + 1));
  }
  if (t > 0) {
    auto snap = (*store)->GetSnapshot(kTenant, kSession);
    ASSERT_TRUE(snap.ok()) << snap.status().ToString();
    EXPECT_EQ(snap->turn, t);
    EXPECT_TRUE(snap->state == SnapshotBytes(t)) << "snapshot bytes of turn " << t;
  }
}

TEST(SqliteCrash, AcknowledgedTurnsSurviveKill9) {
  const std::string dir = ::testing::TempDir() + "rs_sqlite_crash_" + std::to_string(getpid());
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  const std::string path = dir + "/sessions.db";
  {
    auto store = SqliteSessionStore::Open(path);
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    SessionRecord s;
    s.id = kSession;
    s.tenant = kTenant;
    ASSERT_TRUE((*store)->CreateSession(s).ok());
  }
  const char* seed_env = std::getenv("RS_CRASH_SEED");
  const uint64_t seed = seed_env != nullptr
                            ? std::strtoull(seed_env, nullptr, 10)
                            : std::chrono::steady_clock::now().time_since_epoch().count();
  std::printf("RS_CRASH_SEED=%llu\n", static_cast<unsigned long long>(seed));
  std::mt19937_64 rng(seed);

  int64_t acked = 0, turns = 0;
  int killed_mid_run = 0, killed_early = 0, left_pending = 0, unacknowledged = 0;
  for (int round = 0; round < kRounds; ++round) {
    int fds[2];
    ASSERT_EQ(pipe(fds), 0);
    const pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      close(fds[0]);
      ChildLoop(path, fds[1]);
    }
    close(fds[1]);
    bool eof = false;
    // A quarter of the rounds die while opening / restarting; the rest after
    // the child got going, a random moment later.
    const bool early = rng() % 4 == 0;
    if (early) {
      std::this_thread::sleep_for(std::chrono::microseconds(rng() % 20000));
    } else {
      const int64_t first = ReadAcks(fds[0], 20000, &eof);
      ASSERT_GT(first, 0) << "the child acknowledged nothing in 20 s (round " << round << ")";
      acked = std::max(acked, first);
      std::this_thread::sleep_for(std::chrono::microseconds(rng() % 40000));
    }
    ASSERT_EQ(kill(pid, SIGKILL), 0);
    int wstatus = 0;
    ASSERT_EQ(waitpid(pid, &wstatus, 0), pid);
    ASSERT_TRUE(WIFSIGNALED(wstatus) && WTERMSIG(wstatus) == SIGKILL)
        << "the child ended by itself (exit code "
        << (WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : -1) << ") in round " << round;
    // Acks written before the kill are still in the pipe.
    while (!eof) acked = std::max(acked, ReadAcks(fds[0], 1000, &eof));
    close(fds[0]);
    (early ? killed_early : killed_mid_run)++;

    const int64_t before = turns;
    int pending = 0;
    VerifyStore(path, acked, before, &turns, &pending);
    if (HasFatalFailure()) return;
    left_pending += pending;
    unacknowledged += turns > acked ? 1 : 0;
  }
  std::printf(
      "%d kills (%d while starting; %d left a pending turn, %d a committed unacknowledged one), "
      "%lld turns committed, %lld acknowledged\n",
      killed_mid_run + killed_early, killed_early, left_pending, unacknowledged,
      static_cast<long long>(turns), static_cast<long long>(acked));
  EXPECT_GE(killed_mid_run + killed_early, 20);
  EXPECT_GE(killed_mid_run, 10);
  EXPECT_GE(acked, killed_mid_run);  // every mid-run round acknowledged turns
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace rs::sessions
