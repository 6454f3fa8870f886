// TurnModel: what a RecurrentGPT turn needs from the served model, as one
// blocking interface, so the turn logic (turn_runner.h) is independent of the
// scheduler and testable with a scripted model. sessions/service implements
// it over the scheduler (SchedulerTurnModel).
//
// Thread-safety: implementations are called from several turn threads at
// once and must be thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/util/status.h"
#include "sessions/core/embedder.h"
#include "sessions/store/session_store.h"

namespace rs::sessions {

struct GenerateSpec {
  std::string prompt;  // text fed after the starting state
  // Conversation state. With state_key empty the generation is stateless
  // (fresh state, nothing kept). Otherwise it continues from the state kept
  // under state_key, or from `restore` when none is kept there, or from
  // zero when `fresh` (the rebuild path); its final state is kept under
  // keep_key and returned in GenerateOutput::snapshot.
  std::string state_key;
  std::string keep_key;
  std::optional<Snapshot> restore;
  bool fresh = false;
  // Sampling.
  float temperature = 1.0f;
  float top_p = 1.0f;
  int max_tokens = 256;
  uint64_t seed = 0;
  std::vector<std::string> stops;
};

struct GenerateOutput {
  std::string text;             // the visible text (stop string excluded)
  bool stopped_by_string = false;  // ended with one of spec.stops
  // The decoded text of the generated tokens after `text` (the stop string
  // and anything after it in its last token): the state consumed it.
  std::string tail;
  std::string finish_reason;    // "stop", "length", ...
  // Tokens the model read for this generation: the prompt (and a pending
  // token), not the history the starting state already held.
  int64_t prompt_tokens = 0;
  int64_t generated_tokens = 0;
  double ttft_seconds = 0;
  double total_seconds = 0;
  // With a state_key: the final state (turn left 0 for the caller to set).
  std::optional<Snapshot> snapshot;
};

// A TurnModel is also the default Embedder (the served model's own).
class TurnModel : public Embedder {
 public:
  // The served model's architecture name ("mamba1", "rwkv7", ...) and
  // fingerprint (snapshots of another fingerprint are never restored).
  virtual std::string arch() const = 0;
  virtual std::string fingerprint() const = 0;

  // Runs one generation; on_text receives the visible text as it streams.
  // Errors: FAILED_PRECONDITION when `restore` is of another model; the
  // scheduler's errors otherwise (RESOURCE_EXHAUSTED, UNAVAILABLE, ...).
  virtual StatusOr<GenerateOutput> Generate(const GenerateSpec& spec,
                                            const std::function<void(std::string_view)>& on_text) = 0;
  // Embedder: the L2-normalized mean of the final hidden states of `text`.
  StatusOr<std::vector<float>> Embed(std::string_view text) override = 0;
  // Tokens of `text` under the model's tokenizer.
  virtual StatusOr<int64_t> CountTokens(std::string_view text) = 0;
  // The longest prefix of `text` of at most max_tokens tokens, cut at a
  // character boundary.
  virtual StatusOr<std::string> TruncateToTokens(std::string_view text, int64_t max_tokens) = 0;
};

}  // namespace rs::sessions
