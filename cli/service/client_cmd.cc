// recurrent client: a small gRPC client of recurrent.v1.Inference.
//   recurrent client [--target ADDR] [--model NAME] (--prompt TEXT | --tokens 1,2,3)
//     [--max-tokens N] [--temperature T] [--top-k K] [--top-p P] [--min-p P]
//     [--repetition-penalty R] [--presence-penalty P] [--frequency-penalty F]
//     [--seed S] [--stop STR]... [--ignore-eos] [--session ID [--new-session]] [--priority P]
//     [--timeout-seconds T] [--json]
//   recurrent client --list-models | --health [--service NAME] | --tokenize TEXT | --detokenize 1,2,3
// Common: [--api-key KEY] [--tls-ca FILE] [--tls-cert FILE --tls-key FILE]
//
// Generate streams the text to stdout; --json instead prints, at the end,
// {"tokens":[...],"text":"...","finish_reason":"..."} (the same fields as
// `recurrent generate --json`) plus usage and timings. A failed RPC prints
// "recurrent client: CODE: message" and exits 1.
#include <grpcpp/grpcpp.h>

#include <cstdio>
#include <string>

#include "cli/commands.h"
#include "cli/common.h"
#include "cli/service/credentials.h"
#include "engine/util/json.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "recurrent/v1/inference.grpc.pb.h"
#include "service/inference_service.h"

namespace rs::cli {
namespace {

namespace v1 = recurrent::v1;

const char kUsage[] =
    "usage: recurrent client [--target ADDR] [--model NAME] (--prompt TEXT | --tokens 1,2,3)\n"
    "         [--max-tokens N] [--temperature T] [--top-k K] [--top-p P] [--min-p P]\n"
    "         [--repetition-penalty R] [--presence-penalty P] [--frequency-penalty F] [--seed S]\n"
    "         [--stop STR]... [--ignore-eos] [--session ID [--new-session]] [--priority P]\n"
    "         [--request-id ID]\n"
    "         [--timeout-seconds T] [--json]\n"
    "       recurrent client --list-models | --health [--service NAME] | --tokenize TEXT |\n"
    "         --detokenize 1,2,3\n"
    "common: [--target ADDR (127.0.0.1:50051)] [--api-key KEY] [--tls-ca FILE]\n"
    "        [--tls-cert FILE --tls-key FILE]\n"
    "Generate streams the text to stdout; --json prints tokens, text, finish_reason, usage and\n"
    "timings at the end. --health exits 0 when SERVING, 3 otherwise. See docs/api.md.\n";

int FailRpc(const grpc::Status& s) {
  std::fprintf(stderr, "recurrent client: %s: %s\n", service::GrpcCodeName(s.error_code()),
               s.error_message().c_str());
  return 1;
}

StatusOr<std::shared_ptr<grpc::Channel>> MakeChannel(const Flags& flags) {
  RS_ASSIGN_OR_RETURN(std::shared_ptr<grpc::ChannelCredentials> creds, ClientCredentials(flags));
  return grpc::CreateChannel(flags.Get("target", "127.0.0.1:50051"), creds);
}

StatusOr<std::unique_ptr<grpc::ClientContext>> MakeContext(const Flags& flags) {
  auto ctx = std::make_unique<grpc::ClientContext>();
  if (flags.Has("api-key")) ctx->AddMetadata("authorization", "Bearer " + flags.Get("api-key"));
  RS_ASSIGN_OR_RETURN(double timeout, flags.GetDouble("timeout-seconds", 0));
  if (timeout < 0) return InvalidArgumentError("--timeout-seconds must be >= 0");
  if (timeout > 0) {
    ctx->set_deadline(std::chrono::system_clock::now() +
                      std::chrono::microseconds(static_cast<int64_t>(timeout * 1e6)));
  }
  return ctx;
}

Status FillRequest(const Flags& flags, v1::GenerateRequest* req) {
  req->set_model(flags.Get("model"));
  if (flags.Has("prompt") && flags.Has("tokens")) return InvalidArgumentError("give --prompt or --tokens, not both");
  if (flags.Has("prompt")) req->set_prompt(flags.Get("prompt"));
  if (flags.Has("tokens")) {
    RS_ASSIGN_OR_RETURN(std::vector<int32_t> ids, ParseIntList(flags.Get("tokens")));
    for (int32_t id : ids) req->mutable_token_ids()->add_ids(id);
  }
  if (flags.Has("temperature")) {
    RS_ASSIGN_OR_RETURN(double v, flags.GetDouble("temperature", 1));
    req->set_temperature(static_cast<float>(v));
  }
  if (flags.Has("top-p")) {
    RS_ASSIGN_OR_RETURN(double v, flags.GetDouble("top-p", 1));
    req->set_top_p(static_cast<float>(v));
  }
  if (flags.Has("min-p")) {
    RS_ASSIGN_OR_RETURN(double v, flags.GetDouble("min-p", 0));
    req->set_min_p(static_cast<float>(v));
  }
  if (flags.Has("repetition-penalty")) {
    RS_ASSIGN_OR_RETURN(double v, flags.GetDouble("repetition-penalty", 1));
    req->set_repetition_penalty(static_cast<float>(v));
  }
  if (flags.Has("presence-penalty")) {
    RS_ASSIGN_OR_RETURN(double v, flags.GetDouble("presence-penalty", 0));
    req->set_presence_penalty(static_cast<float>(v));
  }
  if (flags.Has("frequency-penalty")) {
    RS_ASSIGN_OR_RETURN(double v, flags.GetDouble("frequency-penalty", 0));
    req->set_frequency_penalty(static_cast<float>(v));
  }
  if (flags.Has("top-k")) {
    RS_ASSIGN_OR_RETURN(int64_t v, flags.GetInt("top-k", 0));
    req->set_top_k(static_cast<int32_t>(v));
  }
  if (flags.Has("seed")) {
    RS_ASSIGN_OR_RETURN(int64_t v, flags.GetInt("seed", 0));
    req->set_seed(static_cast<uint64_t>(v));
  }
  if (flags.Has("max-tokens")) {
    RS_ASSIGN_OR_RETURN(int64_t v, flags.GetInt("max-tokens", 16));
    req->set_max_tokens(static_cast<int32_t>(v));
  }
  if (flags.Has("priority")) {
    RS_ASSIGN_OR_RETURN(int64_t v, flags.GetInt("priority", 0));
    req->set_priority(static_cast<int32_t>(v));
  }
  for (const std::string& s : flags.GetAll("stop")) req->add_stop(s);
  req->set_ignore_eos(flags.Has("ignore-eos"));
  req->set_session_id(flags.Get("session"));
  req->set_new_session(flags.Has("new-session"));
  req->set_request_id(flags.Get("request-id"));
  return OkStatus();
}

int RunGenerateRpc(const Flags& flags, v1::Inference::Stub& stub) {
  v1::GenerateRequest req;
  if (Status s = FillRequest(flags, &req); !s.ok()) return Fail("client", s);
  auto ctx = MakeContext(flags);
  if (!ctx.ok()) return Fail("client", ctx.status());
  // A proxy in front of several replicas routes on it (deploy/nginx).
  if (!req.session_id().empty()) (*ctx)->AddMetadata("x-session-id", req.session_id());
  const bool as_json = flags.Has("json");
  auto reader = stub.Generate(ctx->get(), req);
  v1::GenerateResponse resp;
  std::vector<int32_t> tokens;
  std::string text;
  v1::GenerateFinal final_msg;
  while (reader->Read(&resp)) {
    if (resp.has_chunk()) {
      for (int32_t t : resp.chunk().token_ids()) tokens.push_back(t);
      text += resp.chunk().text();
      if (!as_json) {
        std::fwrite(resp.chunk().text().data(), 1, resp.chunk().text().size(), stdout);
        std::fflush(stdout);
      }
    } else if (resp.has_final()) {
      final_msg = resp.final();
    }
  }
  const grpc::Status status = reader->Finish();
  if (!status.ok()) {
    if (!as_json) std::printf("\n");
    return FailRpc(status);
  }
  if (as_json) {
    std::string out = "{\"tokens\":[";
    for (size_t i = 0; i < tokens.size(); ++i) {
      if (i > 0) out += ',';
      out += std::to_string(tokens[i]);
    }
    char nums[512];
    std::snprintf(nums, sizeof(nums),
                  ",\"usage\":{\"prompt_tokens\":%lld,\"cached_tokens\":%lld,\"generated_tokens\":%lld},"
                  "\"timings\":{\"queue_s\":%.6f,\"ttft_s\":%.6f,\"total_s\":%.6f},\"seed\":%llu}\n",
                  static_cast<long long>(final_msg.usage().prompt_tokens()),
                  static_cast<long long>(final_msg.usage().cached_tokens()),
                  static_cast<long long>(final_msg.usage().generated_tokens()),
                  final_msg.timings().queue_seconds(), final_msg.timings().time_to_first_token_seconds(),
                  final_msg.timings().total_seconds(), static_cast<unsigned long long>(final_msg.seed()));
    out += "],\"text\":" + json::Quote(text) + ",\"finish_reason\":" + json::Quote(final_msg.finish_reason()) +
           ",\"model\":" + json::Quote(final_msg.model()) + nums;
    std::fwrite(out.data(), 1, out.size(), stdout);
  } else {
    std::printf("\n");
    std::fprintf(stderr, "[%s; %lld prompt + %lld generated tokens; first token %.1f ms, total %.1f ms]\n",
                 final_msg.finish_reason().c_str(), static_cast<long long>(final_msg.usage().prompt_tokens()),
                 static_cast<long long>(final_msg.usage().generated_tokens()),
                 final_msg.timings().time_to_first_token_seconds() * 1e3, final_msg.timings().total_seconds() * 1e3);
  }
  return 0;
}

}  // namespace

int RunClient(int argc, char** argv) {
  Flags flags({"target", "model", "prompt", "tokens", "max-tokens", "temperature", "top-k", "top-p", "min-p",
               "repetition-penalty", "presence-penalty", "frequency-penalty", "seed", "stop", "session", "priority",
               "request-id", "timeout-seconds", "api-key", "tls-ca", "tls-cert", "tls-key", "service", "tokenize",
               "detokenize"},
              {"json", "ignore-eos", "new-session", "list-models", "health", "help"});
  if (Status s = flags.Parse(argc, argv, 2); !s.ok()) {
    Fail("client", s);
    return 2;
  }
  if (flags.Has("help")) {
    std::fputs(kUsage, stdout);
    return 0;
  }
  auto channel = MakeChannel(flags);
  if (!channel.ok()) return Fail("client", channel.status());
  auto ctx = MakeContext(flags);
  if (!ctx.ok()) return Fail("client", ctx.status());

  if (flags.Has("health")) {
    grpc::health::v1::HealthCheckRequest req;
    req.set_service(flags.Get("service"));
    grpc::health::v1::HealthCheckResponse resp;
    const grpc::Status s = grpc::health::v1::Health::NewStub(*channel)->Check(ctx->get(), req, &resp);
    if (!s.ok()) return FailRpc(s);
    std::printf("%s\n", grpc::health::v1::HealthCheckResponse::ServingStatus_Name(resp.status()).c_str());
    return resp.status() == grpc::health::v1::HealthCheckResponse::SERVING ? 0 : 3;
  }
  auto stub = v1::Inference::NewStub(*channel);
  if (flags.Has("list-models")) {
    v1::ListModelsResponse resp;
    const grpc::Status s = stub->ListModels(ctx->get(), v1::ListModelsRequest(), &resp);
    if (!s.ok()) return FailRpc(s);
    for (const auto& m : resp.models()) {
      std::printf("%s%s: %s %s, %lld layers, d_model %lld, vocab %lld, state %lld bytes, %d slots, %s%s\n",
                  m.name().c_str(), m.is_default() ? " (default)" : "", m.architecture().c_str(),
                  m.weight_dtype().c_str(), static_cast<long long>(m.n_layers()), static_cast<long long>(m.d_model()),
                  static_cast<long long>(m.vocab_size()), static_cast<long long>(m.state_bytes()), m.max_seqs(),
                  m.device().c_str(), m.has_tokenizer() ? "" : ", no tokenizer");
    }
    return 0;
  }
  if (flags.Has("tokenize")) {
    v1::TokenizeRequest req;
    req.set_model(flags.Get("model"));
    req.set_text(flags.Get("tokenize"));
    v1::TokenizeResponse resp;
    const grpc::Status s = stub->Tokenize(ctx->get(), req, &resp);
    if (!s.ok()) return FailRpc(s);
    for (int i = 0; i < resp.token_ids_size(); ++i) std::printf("%s%d", i ? "," : "", resp.token_ids(i));
    std::printf("\n");
    return 0;
  }
  if (flags.Has("detokenize")) {
    v1::DetokenizeRequest req;
    req.set_model(flags.Get("model"));
    auto ids = ParseIntList(flags.Get("detokenize"));
    if (!ids.ok()) return Fail("client", ids.status());
    for (int32_t id : *ids) req.add_token_ids(id);
    v1::DetokenizeResponse resp;
    const grpc::Status s = stub->Detokenize(ctx->get(), req, &resp);
    if (!s.ok()) return FailRpc(s);
    std::printf("%s\n", resp.text().c_str());
    return 0;
  }
  return RunGenerateRpc(flags, *stub);
}

}  // namespace rs::cli
