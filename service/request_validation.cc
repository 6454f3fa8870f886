#include "service/request_validation.h"

#include <cmath>
#include <string>

#include "engine/util/utf8.h"

namespace rs::service {
namespace {

Status CheckId(const std::string& id, const char* field) {
  if (id.size() > kMaxIdBytes) {
    return InvalidArgumentError(std::string(field) + " is " + std::to_string(id.size()) + " bytes; the limit is " +
                                std::to_string(kMaxIdBytes));
  }
  if (size_t bad = utf8::FindInvalid(id); bad != std::string::npos) {
    return InvalidArgumentError(std::string(field) + " is not valid UTF-8 (byte offset " + std::to_string(bad) + ")");
  }
  return OkStatus();
}

}  // namespace

Status CheckTokenIds(std::span<const int32_t> ids, int64_t vocab_size, const char* field) {
  for (size_t i = 0; i < ids.size(); ++i) {
    if (ids[i] < 0 || ids[i] >= vocab_size) {
      return InvalidArgumentError(std::string(field) + "[" + std::to_string(i) + "] = " + std::to_string(ids[i]) +
                                  " is outside the vocabulary [0, " + std::to_string(vocab_size) + ")");
    }
  }
  return OkStatus();
}

StatusOr<scheduler::Request> BuildSchedulerRequest(const recurrent::v1::GenerateRequest& req,
                                                   const ValidationContext& ctx, uint64_t random_seed) {
  using recurrent::v1::GenerateRequest;
  scheduler::Request out;
  RS_RETURN_IF_ERROR(CheckId(req.request_id(), "request_id"));
  RS_RETURN_IF_ERROR(CheckId(req.session_id(), "session_id"));
  out.request_id = req.request_id();
  out.session_id = req.session_id();

  // Input.
  const int64_t max_prompt = ctx.max_prompt_tokens;
  switch (req.input_case()) {
    case GenerateRequest::kPrompt: {
      const std::string& text = req.prompt();
      if (size_t bad = utf8::FindInvalid(text); bad != std::string::npos) {
        return InvalidArgumentError("prompt is not valid UTF-8 (byte offset " + std::to_string(bad) + ")");
      }
      if (ctx.tokenizer == nullptr) {
        return InvalidArgumentError("this model has no tokenizer: send token_ids instead of prompt");
      }
      // Every token is at least one byte for our tokenizers' inputs, but a
      // byte can never be less than a token's worth of work: bound the bytes
      // before tokenizing so a huge prompt is refused cheaply.
      if (static_cast<int64_t>(text.size()) > max_prompt * 64) {
        return InvalidArgumentError("prompt is " + std::to_string(text.size()) + " bytes: far over the limit of " +
                                    std::to_string(max_prompt) + " tokens");
      }
      RS_ASSIGN_OR_RETURN(out.prompt, ctx.tokenizer->Encode(text));
      break;
    }
    case GenerateRequest::kTokenIds: {
      const auto& ids = req.token_ids().ids();
      if (ids.size() > max_prompt) {
        return InvalidArgumentError("token_ids has " + std::to_string(ids.size()) + " tokens; the limit is " +
                                    std::to_string(max_prompt));
      }
      RS_RETURN_IF_ERROR(CheckTokenIds(std::span<const int32_t>(ids.data(), ids.size()), ctx.vocab_size, "token_ids"));
      out.prompt.assign(ids.begin(), ids.end());
      break;
    }
    case GenerateRequest::INPUT_NOT_SET:
      break;
  }
  if (req.new_session() && out.session_id.empty()) {
    return InvalidArgumentError("new_session needs a session_id");
  }
  if (out.prompt.empty() && (out.session_id.empty() || req.new_session())) {
    return InvalidArgumentError(
        "the input is empty: set prompt or token_ids (only a session that continues may go without one)");
  }
  if (!out.session_id.empty()) {
    out.session_mode = req.new_session() ? scheduler::Request::SessionMode::kStart
                                         : scheduler::Request::SessionMode::kContinue;
  }
  if (static_cast<int64_t>(out.prompt.size()) > max_prompt) {
    return InvalidArgumentError("the prompt is " + std::to_string(out.prompt.size()) + " tokens; the limit is " +
                                std::to_string(max_prompt));
  }

  // Sampling.
  engine::SamplingParams& p = out.params;
  if (req.has_temperature()) p.temperature = req.temperature();
  if (req.has_top_k()) p.top_k = req.top_k();
  if (req.has_top_p()) p.top_p = req.top_p();
  if (req.has_min_p()) p.min_p = req.min_p();
  if (req.has_repetition_penalty()) p.repetition_penalty = req.repetition_penalty();
  if (req.has_presence_penalty()) p.presence_penalty = req.presence_penalty();
  if (req.has_frequency_penalty()) p.frequency_penalty = req.frequency_penalty();
  if (req.logit_bias_size() > ctx.vocab_size) {
    return InvalidArgumentError("logit_bias has " + std::to_string(req.logit_bias_size()) +
                                " entries, more than the vocabulary");
  }
  for (const auto& [id, bias] : req.logit_bias()) p.logit_bias.emplace_back(id, bias);
  std::sort(p.logit_bias.begin(), p.logit_bias.end());  // map order is unspecified
  p.seed = req.has_seed() ? req.seed() : random_seed;
  if (req.has_max_tokens()) p.max_tokens = req.max_tokens();
  if (p.max_tokens > ctx.max_tokens_limit) {
    return InvalidArgumentError("max_tokens = " + std::to_string(p.max_tokens) + " is over this server's limit of " +
                                std::to_string(ctx.max_tokens_limit));
  }
  p.logprobs = req.logprobs();
  p.top_logprobs = req.top_logprobs();
  RS_RETURN_IF_ERROR(p.Validate(ctx.vocab_size));

  // Stop rules.
  engine::StopCriteria& stop = out.stop;
  stop.max_tokens = p.max_tokens;
  stop.stop_strings.assign(req.stop().begin(), req.stop().end());
  stop.stop_token_ids.assign(req.stop_token_ids().begin(), req.stop_token_ids().end());
  stop.eos_token_ids = ctx.eos_ids;
  stop.ignore_eos = req.ignore_eos();
  if (!stop.stop_strings.empty() && ctx.tokenizer == nullptr) {
    return InvalidArgumentError("stop strings need a tokenizer, and this model has none: use stop_token_ids");
  }
  RS_RETURN_IF_ERROR(stop.Validate(ctx.vocab_size));

  if (req.priority() < -kMaxPriority || req.priority() > kMaxPriority) {
    return InvalidArgumentError("priority = " + std::to_string(req.priority()) + " is outside [-" +
                                std::to_string(kMaxPriority) + ", " + std::to_string(kMaxPriority) + "]");
  }
  out.priority = req.priority();
  out.use_prefix_cache = !req.skip_prefix_cache();
  return out;
}

}  // namespace rs::service
