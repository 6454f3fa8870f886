// Request validation: a client's GenerateRequest (untrusted bytes, already
// parsed by protobuf) -> a scheduler::Request, or INVALID_ARGUMENT naming the
// first offending field.
//
// Checked here (before the engine is touched): an input is given (a session
// may continue without one); text is valid UTF-8 and the model has a
// tokenizer; token ids lie in [0, vocab); the prompt is at most
// max_prompt_tokens tokens; every sampling option is in range
// (SamplingParams::Validate); max_tokens in [1, max_tokens_limit]; stop
// strings / ids are valid (StopCriteria::Validate) and stop strings have a
// tokenizer; priority in [-kMaxPriority, kMaxPriority]; ids of sessions and
// requests are at most kMaxIdBytes of valid UTF-8; new_session has a
// session_id and an input. A session_id maps to SessionMode::kStart with
// new_session, else to kContinue (the scheduler answers NOT_FOUND for an
// unknown session).
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "engine/tokenizer/tokenizer.h"
#include "engine/util/status.h"
#include "recurrent/v1/inference.pb.h"
#include "scheduler/request.h"

namespace rs::service {

inline constexpr int32_t kMaxPriority = 1000;
inline constexpr size_t kMaxIdBytes = 256;

// What validation needs to know about the model that will serve a request.
struct ValidationContext {
  int64_t vocab_size = 0;
  const engine::Tokenizer* tokenizer = nullptr;  // null: token ids only
  std::vector<int32_t> eos_ids;                  // the model's end-of-sequence ids
  int32_t max_tokens_limit = 4096;
  int64_t max_prompt_tokens = 65536;
};

// OK, or INVALID_ARGUMENT naming `field`[i] when an id lies outside
// [0, vocab_size) (Generate's token_ids, Detokenize's).
Status CheckTokenIds(std::span<const int32_t> ids, int64_t vocab_size, const char* field);

// `random_seed` is used when the request sets no seed. The result's
// `deadline` is left unset (the caller knows the call's deadline) and its
// `tenant` empty.
StatusOr<scheduler::Request> BuildSchedulerRequest(const recurrent::v1::GenerateRequest& request,
                                                   const ValidationContext& context, uint64_t random_seed);

}  // namespace rs::service
