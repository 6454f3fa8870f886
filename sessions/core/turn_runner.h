// TurnRunner: one RecurrentGPT turn, start to commit (issue #6).
//
//   1. BeginTurn in the store (idempotency by request_id, optimistic
//      concurrency by expected_turn: see session_store.h).
//   2. Retrieval: embed the input, exact cosine top-k over long-term memory.
//   3. The reply, streamed: continued from the state after the previous turn
//      (the store's snapshot, when it is of that turn and of this model: only
//      the new text is processed), else rebuilt from the text memory (system
//      prompt, short-term memory, memories, last exchange).
//   4. The short-term memory update (CHAT and STORY) and, in STORY mode, three
//      plans: stateless generations in a fixed format (prompts.h), at most
//      `max_attempts` each, then a fallback (keep the previous memory; one
//      generic plan). The summary is cut to the session's token budget.
//   5. The exchange becomes a long-term item with its embedding.
//   6. CommitTurn: reply, memory, plans, item and the state snapshot in one
//      transaction. Any error before that fails the turn (FailTurn) and is
//      returned; nothing of it is visible afterwards.
//
// Thread-safety: Run may be called concurrently (for different sessions; two
// turns of one session conflict in the store: ABORTED).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/util/status.h"
#include "sessions/core/turn_model.h"
#include "sessions/store/session_store.h"

namespace rs::sessions {

struct TurnOptions {
  std::string owner = "local";          // this replica: owns the turns it begins (session_store.h)
  size_t max_message_bytes = 32 << 10;  // larger inputs: INVALID_ARGUMENT
  int max_attempts = 3;                 // per section (memory, plans)
  int plan_max_tokens = 96;
  size_t memory_item_max_bytes = 600;
};

struct TurnRequest {
  std::string tenant;
  std::string session_id;
  std::string message;                 // CHAT message / STORY user plan
  std::optional<int32_t> plan_index;   // STORY: a plan of the previous turn
  std::string request_id;
  std::optional<int64_t> expected_turn;
};

struct RetrievedMemory {
  int64_t id = 0;
  float score = 0;
  std::string text;
};

// Where a turn's time went (seconds).
struct TurnPhases {
  double begin = 0;      // store reads and BeginTurn
  double retrieval = 0;  // embedding the input, ranking the long-term memory
  double reply = 0;      // the reply's generation (queue included)
  double memory = 0;     // the short-term memory update (all attempts)
  double plans = 0;      // STORY plans (all attempts)
  double embed = 0;      // embedding the new long-term item
  double commit = 0;     // CommitTurn
};

struct TurnOutcome {
  TurnRecord record;  // the committed turn (or, replayed, the earlier one)
  std::vector<RetrievedMemory> retrieved;
  bool replayed = false;
  int memory_attempts = 0;
  bool memory_fallback = false;
  int plan_attempts = 0;
  bool plans_fallback = false;
  int64_t prompt_tokens = 0;     // of the reply's generation
  int64_t generated_tokens = 0;
  double ttft_seconds = 0;
  double total_seconds = 0;
  TurnPhases phases;
};

class TurnRunner {
 public:
  // The pointers must outlive the runner. `embedder` null: the model's own.
  TurnRunner(SessionStore* store, TurnModel* model, TurnOptions options, Embedder* embedder = nullptr);

  // The embedder of retrieval and of new long-term items (also for edits).
  Embedder* embedder() const { return embedder_; }

  // Runs one turn; on_text gets the reply's text as it streams (for a
  // replayed turn: the whole reply once). Errors: the store's (NOT_FOUND,
  // ABORTED, UNAVAILABLE, ...), INVALID_ARGUMENT for a bad message or plan
  // index, the model's (RESOURCE_EXHAUSTED, ...).
  StatusOr<TurnOutcome> Run(const TurnRequest& request,
                            const std::function<void(std::string_view)>& on_text);

  // The scheduler key of a session's state after `turn` turns.
  static std::string StateKey(const std::string& session_id, int64_t turn);

 private:
  StatusOr<std::string> ResolveInput(const TurnRequest& request, const SessionRecord& session);
  Status Retrieve(const TurnRequest& request, const SessionRecord& session, const std::string& input,
                  TurnOutcome* outcome);
  StatusOr<GenerateOutput> Reply(const SessionRecord& session, const std::string& input,
                                 const TurnOutcome& outcome,
                                 const std::function<void(std::string_view)>& on_text,
                                 bool* rebuilt);
  void UpdateMemory(const SessionRecord& session, const std::string& input, const std::string& reply,
                    std::string* short_term, TurnOutcome* outcome);
  void MakePlans(const SessionRecord& session, const std::string& short_term, const std::string& reply,
                 std::vector<std::string>* plans, TurnOutcome* outcome);
  uint64_t Seed(const SessionRecord& session, int64_t turn, int salt) const;

  SessionStore* store_;
  TurnModel* model_;
  TurnOptions options_;
  Embedder* embedder_;
};

}  // namespace rs::sessions
