// SamplingParams: how one request turns each logits row into a token.
//
// Every field follows the semantics of the APIs our users already know
// (OpenAI / vLLM / Hugging Face); Sampler::Sample (sampler.h) documents the order
// in which they are applied. Values arrive from untrusted clients: call
// Validate() at the API boundary; Sampler::Sample REQUIRES a validated struct
// (it stays memory-safe on an unvalidated one, but its output is then unspecified).
//
// Thread-safety: a value type; distinct objects may be used from any thread,
// a const object from many threads at once.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

#include "engine/util/status.h"

namespace rs::engine {

struct SamplingParams {
  // Limits enforced by Validate().
  static constexpr float kMaxTemperature = 100.0f;
  static constexpr float kMaxRepetitionPenalty = 10.0f;
  static constexpr float kMaxAbsPresenceFrequencyPenalty = 2.0f;  // OpenAI's range
  static constexpr float kMaxAbsLogitBias = 1e6f;                 // or -inf (a ban)
  static constexpr int32_t kMaxTopLogprobs = 20;                  // OpenAI's / vLLM's cap

  // Softmax temperature. 0 => greedy: the argmax of the processed logits, ties
  // to the lowest id (bias and penalties still apply; top-k/p, min-p and the seed
  // do not matter). Range [0, kMaxTemperature].
  float temperature = 1.0f;
  // Keep only the k most probable tokens; 0 => off (k >= vocab is also off).
  int32_t top_k = 0;
  // Keep the smallest set of most probable tokens whose probability sums to
  // >= top_p (the "nucleus"); 1 => off. Range (0, 1].
  float top_p = 1.0f;
  // Keep tokens with p >= min_p * p_max; 0 => off. Range [0, 1].
  float min_p = 0.0f;
  // HF/CTRL repetition penalty over every token seen (prompt AND generated):
  // logit > 0 ? logit / penalty : logit * penalty. 1 => off. Range (0, 10].
  float repetition_penalty = 1.0f;
  // OpenAI presence penalty: logit -= presence_penalty if the token was
  // GENERATED at least once (prompt tokens do not count, as in OpenAI/vLLM).
  // 0 => off. Range [-2, 2].
  float presence_penalty = 0.0f;
  // OpenAI frequency penalty: logit -= frequency_penalty * (times GENERATED);
  // prompt tokens do not count (OpenAI/vLLM). 0 => off. Range [-2, 2].
  float frequency_penalty = 0.0f;
  // (token id, bias) pairs added to the raw logits before anything else. A bias
  // of -infinity bans the token; a large positive one (e.g. +100) forces it.
  // Ids in [0, vocab), each id at most once; finite |bias| <= kMaxAbsLogitBias.
  std::vector<std::pair<int32_t, float>> logit_bias;
  // Randomness is a pure function of (seed, position): see Sampler::Sample.
  uint64_t seed = 0;
  // Maximum number of tokens to generate (>= 1). The sampler does not read it;
  // the scheduler copies it into StopCriteria::max_tokens (stop.h).
  int32_t max_tokens = 16;
  // Number of most-likely alternatives to report with each token (the API's
  // `top_logprobs`); 0 => none. Range [0, kMaxTopLogprobs]. The sampler does not
  // read it; the scheduler calls TopLogprobs (sampler.h) when it is > 0.
  int32_t top_logprobs = 0;
  // Whether Sample fills SampleResult::logprob and raw_logprob (the API's
  // `logprobs`); computing them costs up to two more passes over the
  // vocabulary. When false both are NaN.
  bool logprobs = false;

  // OK, or INVALID_ARGUMENT naming the first offending field and its value:
  // temperature < 0, NaN or too large; top_k < 0; top_p outside (0, 1]; min_p
  // outside [0, 1]; a penalty outside its range or NaN; a bias id outside
  // [0, vocab_size) or repeated; a NaN, +inf or out-of-range bias; max_tokens < 1;
  // top_logprobs outside [0, kMaxTopLogprobs]; vocab_size outside [1, 2^31).
  Status Validate(int64_t vocab_size) const;

  // True when temperature == 0 (greedy decoding).
  bool greedy() const { return temperature == 0.0f; }
};

}  // namespace rs::engine
