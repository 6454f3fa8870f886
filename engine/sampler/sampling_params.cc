#include "engine/sampler/sampling_params.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>

namespace rs::engine {
namespace {

std::string Num(double v) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.9g", v);
  return buf;
}

Status RangeError(const char* field, double value, const char* range) {
  return InvalidArgumentError(std::string(field) + " must be in " + range + ", got " + Num(value));
}

}  // namespace

Status SamplingParams::Validate(int64_t vocab_size) const {
  if (vocab_size < 1 || vocab_size > INT32_MAX) {
    return InvalidArgumentError("vocab_size must be in [1, 2^31), got " +
                                std::to_string(vocab_size));
  }
  // Each test is written so that NaN fails it.
  if (!(temperature >= 0.0f && temperature <= kMaxTemperature)) {
    return RangeError("temperature", temperature, "[0, 100]");
  }
  if (top_k < 0) return RangeError("top_k", top_k, "[0, inf) (0 = off)");
  if (!(top_p > 0.0f && top_p <= 1.0f)) return RangeError("top_p", top_p, "(0, 1]");
  if (!(min_p >= 0.0f && min_p <= 1.0f)) return RangeError("min_p", min_p, "[0, 1]");
  if (!(repetition_penalty > 0.0f && repetition_penalty <= kMaxRepetitionPenalty)) {
    return RangeError("repetition_penalty", repetition_penalty, "(0, 10]");
  }
  if (!(std::fabs(presence_penalty) <= kMaxAbsPresenceFrequencyPenalty)) {
    return RangeError("presence_penalty", presence_penalty, "[-2, 2]");
  }
  if (!(std::fabs(frequency_penalty) <= kMaxAbsPresenceFrequencyPenalty)) {
    return RangeError("frequency_penalty", frequency_penalty, "[-2, 2]");
  }
  if (max_tokens < 1) return RangeError("max_tokens", max_tokens, "[1, inf)");
  if (top_logprobs < 0 || top_logprobs > kMaxTopLogprobs) {
    return RangeError("top_logprobs", top_logprobs, "[0, 20]");
  }
  if (static_cast<int64_t>(logit_bias.size()) > vocab_size) {
    return InvalidArgumentError("logit_bias has " + std::to_string(logit_bias.size()) +
                                " entries, more than the vocabulary (" +
                                std::to_string(vocab_size) + ")");
  }
  for (const auto& [id, bias] : logit_bias) {
    if (id < 0 || id >= vocab_size) {
      return InvalidArgumentError("logit_bias token id " + std::to_string(id) +
                                  " is outside the vocabulary [0, " + std::to_string(vocab_size) +
                                  ")");
    }
    const bool ban = std::isinf(bias) && bias < 0.0f;
    if (!ban && !(std::fabs(bias) <= kMaxAbsLogitBias)) {
      return InvalidArgumentError("logit_bias for token " + std::to_string(id) +
                                  " must be finite in [-1e6, 1e6] or -inf (a ban), got " +
                                  Num(bias));
    }
  }
  if (logit_bias.size() > 1) {
    std::vector<int32_t> ids;
    ids.reserve(logit_bias.size());
    for (const auto& entry : logit_bias) ids.push_back(entry.first);
    std::sort(ids.begin(), ids.end());
    auto dup = std::adjacent_find(ids.begin(), ids.end());
    if (dup != ids.end()) {
      return InvalidArgumentError("logit_bias lists token id " + std::to_string(*dup) +
                                  " more than once");
    }
  }
  return OkStatus();
}

}  // namespace rs::engine
