#include "engine/sampler/finish_reason.h"

namespace rs::engine {

const char* FinishReasonName(FinishReason reason) {
  switch (reason) {
    case FinishReason::kStop:
      return "stop";
    case FinishReason::kLength:
      return "length";
    case FinishReason::kCancelled:
      return "cancelled";
    case FinishReason::kDeadline:
      return "deadline";
    case FinishReason::kError:
      return "error";
  }
  return "error";
}

std::optional<FinishReason> ParseFinishReason(std::string_view name) {
  for (FinishReason r : {FinishReason::kStop, FinishReason::kLength, FinishReason::kCancelled,
                         FinishReason::kDeadline, FinishReason::kError}) {
    if (name == FinishReasonName(r)) return r;
  }
  return std::nullopt;
}

}  // namespace rs::engine
