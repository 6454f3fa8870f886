// What a client hands the scheduler (Request), what it gets back while the
// request runs (TokenChunk, through its Sink) and once it ends (Result).
//
// The gRPC service maps its messages onto these types 1:1; the CLI and the
// serving benchmark use them directly.
//
// Thread-safety: value types, except Sink (see there).
#pragma once

#include <chrono>
#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "engine/sampler/finish_reason.h"
#include "engine/sampler/sampling_params.h"
#include "engine/sampler/stop.h"
#include "engine/util/status.h"
#include "scheduler/session_state.h"

namespace rs::scheduler {

using Clock = std::chrono::steady_clock;

struct Request {
  // Client-chosen id for logs and metrics; need not be unique.
  std::string request_id;
  // The new input tokens (each in [0, vocab)). Without a session or a cached
  // prefix this is the whole history; with `session_id` it is what follows
  // the session's kept history. Must be non-empty unless the session has a
  // pending token (see Result::cached_tokens).
  std::vector<int32_t> prompt;
  // Sampling (validated by Submit; max_tokens is copied into stop.max_tokens).
  engine::SamplingParams params;
  // Stop strings / ids / EOS (validated by Submit). Stop strings need the
  // scheduler to have a tokenizer.
  engine::StopCriteria stop;
  // Higher runs first; FCFS within a priority. A waiting request may swap out
  // a running one of strictly lower priority.
  int priority = 0;
  // For the per-tenant cap on concurrent slots (empty: the default tenant).
  std::string tenant;
  // Continue from the state kept under this id (see session_mode), and keep
  // the final state under it. Empty: no session.
  std::string session_id;
  // With a session_id: kContinueOrStart continues the kept session or starts
  // one; kContinue requires a kept one (the request finishes with a NOT_FOUND
  // error when the id is unknown or its state was evicted, so a client never
  // silently loses its context); kStart ignores any kept state and starts
  // the session over (its result replaces the kept one).
  enum class SessionMode { kContinueOrStart, kContinue, kStart };
  SessionMode session_mode = SessionMode::kContinueOrStart;
  // With a session_id: the id the final state is kept under (replacing what
  // is kept there) instead of session_id; empty: session_id. The entry under
  // session_id is then left as it was, so per-turn keys ("s@3" continues and
  // keeps "s@4") let a retried or rolled-back turn continue from the earlier
  // state. INVALID_ARGUMENT without a session_id.
  std::string keep_session_as;
  // With a session_id: on success (FinishReason kStop or kLength), return a
  // copy of the session state this request leaves behind in
  // Result::session_state (also when the state cache does not keep it, e.g.
  // session_cache_bytes == 0). INVALID_ARGUMENT without a session_id.
  bool return_session_state = false;
  // With a session_id: the state to continue from when the session is NOT in
  // the state cache (never kept here, evicted, or a restarted server): it is
  // restored into the slot, its pending token is fed first and then the
  // prompt, exactly as for a kept session (kContinue then does not fail
  // NOT_FOUND). When the session IS in the cache, the cached state wins and
  // this is ignored, not even checked (the cache holds what this server ran
  // last under that id; a caller that rolls back uses per-turn ids, see
  // keep_session_as). A state of another model (fingerprint) or state layout
  // finishes the request with a FAILED_PRECONDITION error (the caller then
  // rebuilds the conversation from its text). INVALID_ARGUMENT at Submit:
  // without a session_id, with kStart, or with tokens / a pending token
  // outside the vocabulary.
  std::shared_ptr<const SessionState> restore_session;
  // Whether the prompt may start from a cached state, and whether this
  // request's final state is offered to the prefix cache.
  bool use_prefix_cache = true;
  // An embedding instead of a generation: the prompt (non-empty) is read
  // from a fresh zero state, in prefill chunks within the step token budget,
  // and Result::embedding gets the mean over its positions of the model's
  // final normed hidden states (engine SeqChunk::embed), L2-normalized.
  // Nothing is sampled or streamed (no OnChunk), and neither the session
  // nor the prefix cache is read or written. `params`, `stop` and
  // use_prefix_cache are ignored (not validated); session_id,
  // keep_session_as, return_session_state and restore_session must be unset
  // (INVALID_ARGUMENT). Finishes with FinishReason::kStop (it completed: the
  // whole input was read), generated_tokens 0, ttft_seconds 0. Submit
  // answers UNIMPLEMENTED on a model without embeddings (the CUDA models,
  // Model::SupportsEmbed).
  bool embed = false;
  // Expiry: queued past it => finish kDeadline without running; running past
  // it => finish kDeadline at the next step.
  Clock::time_point deadline = Clock::time_point::max();
};

// One streamed piece of output: the tokens sampled in one step (one token
// today) and the text they completed (after stop-string hold-back).
struct TokenChunk {
  std::vector<int32_t> token_ids;
  std::string text;
  // When params.logprobs: log p of each token under the final distribution.
  std::vector<float> logprobs;
  // When params.top_logprobs > 0: per token, the top alternatives
  // (id, log-probability over the raw logits).
  std::vector<std::vector<std::pair<int32_t, float>>> top_logprobs;
};

struct Result {
  engine::FinishReason finish_reason = engine::FinishReason::kError;
  // Why, when finish_reason is kError (else OK).
  Status error;
  std::vector<int32_t> tokens;  // every generated token
  std::string text;             // their text, as streamed (no stop string)
  // Usage: tokens given in the request (plus the session's pending token),
  // of those (and of the session history) restored from a kept state, and
  // generated.
  int64_t prompt_tokens = 0;
  int64_t cached_tokens = 0;
  int64_t generated_tokens = 0;
  // Timings in seconds from submission: waiting for a slot, to the first
  // token, to the end. ttft is 0 when no token was generated.
  double queue_seconds = 0;
  double ttft_seconds = 0;
  double total_seconds = 0;
  // How often the request was swapped out to host memory and back.
  int swaps = 0;
  // Request::embed: d_model floats, L2-normalized (all zero in the
  // degenerate case of a zero mean). Empty otherwise.
  std::vector<float> embedding;
  // Request::return_session_state, on success: the session state after this
  // request (its next turn continues from it). Null otherwise.
  std::shared_ptr<const SessionState> session_state;
};

// Receives one request's output. OnChunk is called zero or more times, then
// OnFinish exactly once (also for a request rejected after Submit returned,
// e.g. a deadline that expires while queued). Both run on the scheduler's
// engine thread: they must be quick, and must not call the scheduler's
// Submit, WaitIdle or Stop (they would wait on the engine thread itself);
// Cancel is allowed.
class Sink {
 public:
  virtual ~Sink() = default;
  virtual void OnChunk(const TokenChunk& chunk) = 0;
  virtual void OnFinish(const Result& result) = 0;
};

}  // namespace rs::scheduler
