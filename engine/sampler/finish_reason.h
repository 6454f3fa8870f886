// FinishReason: why a sequence stopped generating. Shared by the sampler's stop
// logic, the scheduler, the CLI and the gRPC service (which maps it 1:1 onto the
// API's `finish_reason` strings).
//
// Thread-safety: plain enum and pure functions; safe from any thread.
#pragma once

#include <optional>
#include <string_view>

namespace rs::engine {

enum class FinishReason : int {
  kStop = 0,       // a stop string, a stop token id or EOS was produced
  kLength = 1,     // max_tokens reached (or the context limit)
  kCancelled = 2,  // the client cancelled or disconnected
  kDeadline = 3,   // the request's deadline passed
  kError = 4,      // an internal error ended the sequence
};

// Returns "stop", "length", "cancelled", "deadline" or "error" (a static string);
// "error" for a value outside the enum.
const char* FinishReasonName(FinishReason reason);

// Inverse of FinishReasonName (exact, case-sensitive); nullopt for any other text.
std::optional<FinishReason> ParseFinishReason(std::string_view name);

}  // namespace rs::engine
