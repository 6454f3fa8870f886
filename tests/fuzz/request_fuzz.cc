// libFuzzer target: what the server does with a client's bytes before the
// engine sees them. The first byte picks the mode:
//   even: the bytes (after it) parse as a recurrent.v1.GenerateRequest (the
//         protobuf parser) and go through BuildSchedulerRequest with a byte
//         tokenizer (vocab 256) or without one (vocab 300); whatever it
//         accepts must satisfy the scheduler's preconditions: ids in range,
//         a non-empty prompt unless a session continues, prompt and
//         max_tokens within the limits, sampling and stop options valid.
//   odd:  the bytes are an API key file (ApiKeys::Parse), then the last
//         line is tried as an authorization header.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include <google/protobuf/stubs/logging.h>

#include "engine/tokenizer/tokenizer.h"
#include "service/auth.h"
#include "service/request_validation.h"

namespace {

void Check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "accepted request violates: %s\n", what);
    std::abort();
  }
}

void FuzzRequest(const std::string& bytes) {
  recurrent::v1::GenerateRequest req;
  if (!req.ParseFromString(bytes)) return;
  static const auto byte_tokenizer = rs::engine::NewByteTokenizer();
  for (int with_tokenizer = 0; with_tokenizer < 2; ++with_tokenizer) {
    rs::service::ValidationContext ctx;
    ctx.vocab_size = with_tokenizer ? 256 : 300;
    ctx.tokenizer = with_tokenizer ? byte_tokenizer.get() : nullptr;
    ctx.eos_ids = {0};
    ctx.max_tokens_limit = 64;
    ctx.max_prompt_tokens = 512;
    auto r = rs::service::BuildSchedulerRequest(req, ctx, 7);
    if (!r.ok()) {
      Check(r.status().code() == rs::StatusCode::kInvalidArgument, "rejection is INVALID_ARGUMENT");
      Check(!r.status().message().empty(), "rejection has a message");
      continue;
    }
    using Mode = rs::scheduler::Request::SessionMode;
    Check(!r->prompt.empty() || (!r->session_id.empty() && r->session_mode == Mode::kContinue),
          "input, or a session that continues");
    Check(r->session_id.empty() || r->session_mode == (req.new_session() ? Mode::kStart : Mode::kContinue),
          "session mode");
    Check(static_cast<int64_t>(r->prompt.size()) <= ctx.max_prompt_tokens, "prompt limit");
    for (int32_t t : r->prompt) Check(t >= 0 && t < ctx.vocab_size, "prompt ids in the vocabulary");
    Check(r->params.Validate(ctx.vocab_size).ok(), "sampling valid");
    Check(r->stop.Validate(ctx.vocab_size).ok(), "stop valid");
    Check(r->params.max_tokens >= 1 && r->params.max_tokens <= ctx.max_tokens_limit, "max_tokens limit");
    Check(r->stop.max_tokens == r->params.max_tokens, "stop.max_tokens");
    Check(r->stop.stop_strings.empty() || ctx.tokenizer != nullptr, "stop strings need a tokenizer");
    Check(r->priority >= -rs::service::kMaxPriority && r->priority <= rs::service::kMaxPriority, "priority");
    Check(r->request_id.size() <= rs::service::kMaxIdBytes && r->session_id.size() <= rs::service::kMaxIdBytes,
          "id sizes");
    Check(req.has_seed() ? r->params.seed == req.seed() : r->params.seed == 7, "seed");
  }
}

void FuzzKeys(const std::string& text) {
  auto keys = rs::service::ApiKeys::Parse(text);
  const size_t nl = text.rfind('\n');
  const std::string last = nl == std::string::npos ? text : text.substr(nl + 1);
  if (!keys.ok()) {
    Check(keys.status().code() == rs::StatusCode::kInvalidArgument, "key file rejection is INVALID_ARGUMENT");
    return;
  }
  auto tenant = keys->Authenticate(last);
  if (tenant.ok()) {
    Check(*tenant != nullptr && !(*tenant)->name.empty(), "tenant");
    Check(last.rfind("Bearer ", 0) == 0, "only a Bearer value authenticates");
  } else {
    Check(tenant.status().code() == rs::StatusCode::kUnauthenticated, "UNAUTHENTICATED");
  }
}

}  // namespace

// Protobuf logs every string with invalid UTF-8 it refuses: silence it.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  google::protobuf::SetLogHandler(nullptr);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  if (data[0] % 2 == 0) {
    FuzzRequest(rest);
  } else {
    FuzzKeys(rest);
  }
  return 0;
}
