#include "engine/sampler/stop.h"

#include "engine/util/utf8.h"

#include <algorithm>
#include <utility>

namespace rs::engine {
namespace {

bool IsContinuationByte(char c) { return (static_cast<unsigned char>(c) & 0xC0) == 0x80; }

Status CheckIds(const std::vector<int32_t>& ids, const char* field, int64_t vocab_size) {
  for (int32_t id : ids) {
    if (id < 0 || id >= vocab_size) {
      return InvalidArgumentError(std::string(field) + " id " + std::to_string(id) +
                                  " is outside the vocabulary [0, " + std::to_string(vocab_size) +
                                  ")");
    }
  }
  return OkStatus();
}

}  // namespace

Status StopCriteria::Validate(int64_t vocab_size) const {
  if (max_tokens < 1) {
    return InvalidArgumentError("max_tokens must be >= 1, got " + std::to_string(max_tokens));
  }
  if (stop_strings.size() > kMaxStopStrings) {
    return InvalidArgumentError("at most " + std::to_string(kMaxStopStrings) +
                                " stop strings are allowed, got " +
                                std::to_string(stop_strings.size()));
  }
  for (size_t i = 0; i < stop_strings.size(); ++i) {
    const std::string& s = stop_strings[i];
    const std::string which = "stop string " + std::to_string(i);
    if (s.empty()) return InvalidArgumentError(which + " is empty");
    if (s.size() > kMaxStopStringBytes) {
      return InvalidArgumentError(which + " is " + std::to_string(s.size()) + " bytes, more than " +
                                  std::to_string(kMaxStopStringBytes));
    }
    if (!utf8::IsValid(s)) return InvalidArgumentError(which + " is not valid UTF-8");
  }
  if (stop_token_ids.size() + eos_token_ids.size() > kMaxStopTokenIds) {
    return InvalidArgumentError("at most " + std::to_string(kMaxStopTokenIds) +
                                " stop and EOS token ids are allowed");
  }
  RS_RETURN_IF_ERROR(CheckIds(stop_token_ids, "stop token", vocab_size));
  RS_RETURN_IF_ERROR(CheckIds(eos_token_ids, "EOS token", vocab_size));
  return OkStatus();
}

bool StopCriteria::IsStopToken(int32_t token) const {
  if (std::find(stop_token_ids.begin(), stop_token_ids.end(), token) != stop_token_ids.end()) {
    return true;
  }
  return !ignore_eos &&
         std::find(eos_token_ids.begin(), eos_token_ids.end(), token) != eos_token_ids.end();
}

std::optional<FinishReason> StopCriteria::CheckToken(int32_t token, int64_t n_generated) const {
  if (IsStopToken(token)) return FinishReason::kStop;
  if (n_generated >= max_tokens) return FinishReason::kLength;
  return std::nullopt;
}

StopMatcher::StopMatcher(std::vector<std::string> stop_strings) {
  for (size_t i = 0; i < stop_strings.size(); ++i) {
    if (stop_strings[i].empty()) continue;
    Pattern p;
    p.text = std::move(stop_strings[i]);
    p.index = static_cast<int>(i);
    const std::string& t = p.text;
    p.failure.assign(t.size(), 0);
    for (size_t q = 1, k = 0; q < t.size(); ++q) {
      while (k > 0 && t[q] != t[k]) k = p.failure[k - 1];
      if (t[q] == t[k]) ++k;
      p.failure[q] = static_cast<uint32_t>(k);
    }
    patterns_.push_back(std::move(p));
  }
}

StopMatcher::Result StopMatcher::Feed(std::string_view text_delta) {
  if (stopped()) return {std::string(), true};
  // `held_` is a suffix of the stream; every live partial match lies inside it.
  const size_t base = held_.size();
  held_.append(text_delta);
  for (size_t i = base; i < held_.size(); ++i) {
    const char c = held_[i];
    const Pattern* best = nullptr;
    for (Pattern& p : patterns_) {
      uint32_t q = p.state;
      while (q > 0 && p.text[q] != c) q = p.failure[q - 1];
      if (p.text[q] == c) ++q;
      // A match may not start inside a UTF-8 character.
      while (q > 0 && IsContinuationByte(held_[i + 1 - q])) q = p.failure[q - 1];
      p.state = q;
      if (q == p.text.size() && (best == nullptr || p.text.size() > best->text.size())) best = &p;
    }
    if (best != nullptr) {
      matched_ = best->index;
      std::string emit = held_.substr(0, i + 1 - best->text.size());
      held_.clear();
      return {std::move(emit), true};
    }
  }
  size_t hold = 0;
  for (const Pattern& p : patterns_) hold = std::max<size_t>(hold, p.state);
  std::string emit = held_.substr(0, held_.size() - hold);
  held_.erase(0, held_.size() - hold);
  return {std::move(emit), false};
}

std::string StopMatcher::Flush() {
  if (stopped()) return std::string();
  std::string out = std::move(held_);
  held_.clear();
  for (Pattern& p : patterns_) p.state = 0;
  return out;
}

}  // namespace rs::engine
