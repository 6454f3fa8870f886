// Stop conditions of one generated sequence.
//
// StopCriteria says when a sequence ends: a stop token id (user-given or the
// model's EOS), a stop string in the decoded text, or max_tokens. StopMatcher
// finds stop strings in the streamed text and holds back any text that could
// still turn out to be the start of one, so clients never see a stop string or
// anything after it.
//
// Per generated token the scheduler does, in this order (as vLLM does):
//   1. reason = criteria.CheckToken(token, n_generated)   // counts the token
//      if reason == kStop (a stop token): do not decode the token; send
//      matcher.Flush() and finish with "stop".
//   2. r = matcher.Feed(decoder.Next(token)); send r.emit;
//      if r.stopped: finish with "stop" (the stop string is never sent).
//   3. if reason == kLength: send matcher.Flush(); finish with "length".
// On cancellation or a deadline the held-back text is dropped or flushed at
// the scheduler's choice (Flush() returns it).
//
// Thread-safety: StopCriteria is a value type. A StopMatcher belongs to one
// sequence and is not synchronized.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/sampler/finish_reason.h"
#include "engine/util/status.h"

namespace rs::engine {

struct StopCriteria {
  static constexpr size_t kMaxStopStrings = 32;
  static constexpr size_t kMaxStopStringBytes = 256;
  static constexpr size_t kMaxStopTokenIds = 1024;

  // Maximum number of generated tokens (>= 1), from SamplingParams::max_tokens.
  int32_t max_tokens = 16;
  // Stop strings (UTF-8 bytes, non-empty): generation ends when one appears in
  // the generated text; it and everything after it are not returned.
  std::vector<std::string> stop_strings;
  // Token ids that end generation (the API's `stop_token_ids`); always honoured.
  std::vector<int32_t> stop_token_ids;
  // The model's end-of-sequence ids; honoured unless ignore_eos.
  std::vector<int32_t> eos_token_ids;
  bool ignore_eos = false;

  // OK, or INVALID_ARGUMENT: max_tokens < 1; more than kMaxStopStrings stop
  // strings; an empty one, one longer than kMaxStopStringBytes, or one that is
  // not valid UTF-8; more than kMaxStopTokenIds stop/EOS ids; an id outside
  // [0, vocab_size).
  Status Validate(int64_t vocab_size) const;

  // Whether `token` ends generation (a stop id, or an EOS id unless ignore_eos).
  bool IsStopToken(int32_t token) const;

  // Called after each generated token; n_generated counts it. kStop if it is a
  // stop token, else kLength if n_generated >= max_tokens, else nullopt.
  std::optional<FinishReason> CheckToken(int32_t token, int64_t n_generated) const;
};

// Streaming stop-string matcher over the decoded text of one sequence.
//
// Semantics (independent of how the text is split into Feed calls): generation
// stops at the earliest byte where some stop string ENDS; if several end there,
// the longest (earliest-starting) one counts. Everything before that stop
// string is emitted, nothing from it on. Text is emitted as soon as no suffix
// of it can begin a stop string. A match never begins on a UTF-8 continuation
// byte, so with valid-UTF-8 input (what the tokenizer's streaming decoder
// yields) and valid-UTF-8 stop strings, every emitted piece is whole
// characters. Cost: O(bytes fed * number of stop strings) (one
// Knuth-Morris-Pratt automaton per stop string); memory O(total stop bytes).
class StopMatcher {
 public:
  struct Result {
    std::string emit;  // text now safe to send (may be empty)
    bool stopped;      // a stop string completed; later Feed calls emit nothing
  };

  // Empty stop strings are ignored (StopCriteria::Validate rejects them).
  explicit StopMatcher(std::vector<std::string> stop_strings);

  // Appends `text_delta` to the stream.
  Result Feed(std::string_view text_delta);

  // End of stream (no stop string matched): returns the held-back text and
  // empties it. Returns "" once stopped.
  std::string Flush();

  bool stopped() const { return matched_ >= 0; }
  // Index (into the constructor's list) of the stop string that matched, or -1.
  int matched_index() const { return matched_; }
  // Bytes currently held back.
  size_t held_bytes() const { return held_.size(); }

 private:
  struct Pattern {
    std::string text;
    std::vector<uint32_t> failure;  // KMP failure function
    uint32_t state = 0;             // length of the longest matched prefix
    int index;                      // position in the constructor's list
  };

  std::vector<Pattern> patterns_;
  std::string held_;  // the longest suffix of the stream that is a proper prefix of a pattern
  int matched_ = -1;
};

}  // namespace rs::engine
