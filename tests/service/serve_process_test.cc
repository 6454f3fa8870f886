// The real `recurrent serve` process: streamed generation equals `recurrent
// generate` (and `recurrent client`) for the same seed, and SIGTERM drains
// without losing a stream in flight, then exits 0.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <thread>

#include "engine/util/json.h"
#include "tests/service/serve_process.h"
#include "tests/service/service_test_util.h"

namespace rs::service::testing {
namespace {

using namespace std::chrono_literals;

std::string RunCommand(const std::string& cmd, int* exit_code) {
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  char buf[65536];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
  const int status = pclose(p);
  *exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return out;
}

std::vector<int32_t> TokensOf(const std::string& json_text) {
  auto v = json::Parse(json_text);
  EXPECT_TRUE(v.ok()) << json_text;
  std::vector<int32_t> out;
  if (!v.ok()) return out;
  const json::Value* tokens = v->Find("tokens");
  EXPECT_NE(tokens, nullptr);
  if (tokens == nullptr) return out;
  for (const json::Value& t : tokens->AsArray()) out.push_back(static_cast<int32_t>(t.AsInt()));
  return out;
}

TEST(ServeProcessTest, StreamEqualsRecurrentGenerateForTheSameSeed) {
  ServeProcess serve({});
  const std::string target = "127.0.0.1:" + std::to_string(serve.port());
  auto stub = v1::Inference::NewStub(grpc::CreateChannel(target, grpc::InsecureChannelCredentials()));
  v1::GenerateRequest req;
  req.set_prompt("Recurrent states are fixed-size");
  req.set_seed(42);
  req.set_temperature(0.7f);
  req.set_top_k(20);
  req.set_max_tokens(24);
  req.set_ignore_eos(true);
  StreamResult r = Generate(*stub, req);
  ASSERT_TRUE(r.status.ok()) << r.status.error_message();
  const std::string flags =
      " --prompt 'Recurrent states are fixed-size' --seed 42 --temperature 0.7 --top-k 20 --max-tokens 24 "
      "--ignore-eos --json 2>/dev/null";
  int code = 0;
  const std::string gen =
      RunCommand(std::string(RS_RECURRENT_BIN) + " generate --threads 1 --model " + ModelDir() + flags, &code);
  ASSERT_EQ(code, 0) << gen;
  EXPECT_EQ(r.tokens, TokensOf(gen));
  EXPECT_EQ(r.tokens.size(), 24u);
  const std::string client =
      RunCommand(std::string(RS_RECURRENT_BIN) + " client --target " + target + flags, &code);
  ASSERT_EQ(code, 0) << client;
  EXPECT_EQ(r.tokens, TokensOf(client));
  // One structured log line per request.
  std::this_thread::sleep_for(100ms);
  EXPECT_NE(serve.log().find("\"method\":\"Generate\""), std::string::npos) << serve.log();
  EXPECT_NE(serve.log().find("AUTHENTICATION IS OFF"), std::string::npos);
}

TEST(ServeProcessTest, SeveralModelFlagsServeSeveralModels) {
  ServeProcess serve({"--model", "second=" + ModelDir(), "--max-seqs", "4"});
  auto stub = v1::Inference::NewStub(
      grpc::CreateChannel("127.0.0.1:" + std::to_string(serve.port()), grpc::InsecureChannelCredentials()));
  grpc::ClientContext ctx;
  v1::ListModelsResponse resp;
  ASSERT_TRUE(stub->ListModels(&ctx, v1::ListModelsRequest(), &resp).ok());
  ASSERT_EQ(resp.models_size(), 2);
  EXPECT_EQ(resp.models(0).name(), "m");
  EXPECT_EQ(resp.models(1).name(), "second");
  EXPECT_EQ(resp.models(1).max_seqs(), 4);
  v1::GenerateRequest req = TokenRequest({1, 2}, 4, 1);
  req.set_model("second");
  StreamResult r = Generate(*stub, req);
  EXPECT_TRUE(r.status.ok()) << r.status.error_message();
  EXPECT_EQ(r.final_msg.model(), "second");
  ASSERT_EQ(kill(serve.pid(), SIGTERM), 0);
  EXPECT_EQ(serve.Wait(), 0);
}

TEST(ServeProcessTest, SigtermDrainsWithoutLosingAStream) {
  ServeProcess serve({"--drain-seconds", "60", "--max-tokens-limit", "100000"});
  constexpr int kTokens = 10000;  // the streams outlast the checks made during the drain
  const std::string target = "127.0.0.1:" + std::to_string(serve.port());
  auto channel = grpc::CreateChannel(target, grpc::InsecureChannelCredentials());
  auto stub = v1::Inference::NewStub(channel);
  constexpr int kStreams = 3;
  std::vector<StreamResult> results(kStreams);
  std::atomic<int> started{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kStreams; ++i) {
    threads.emplace_back([&, i] {
      grpc::ClientContext ctx;
      results[static_cast<size_t>(i)] =
          Generate(*stub, TokenRequest({1, 2, 3}, kTokens, static_cast<uint64_t>(i)), &ctx, [&](int c) {
            if (c == 1) started++;
          });
    });
  }
  while (started.load() < kStreams) std::this_thread::sleep_for(1ms);
  ASSERT_EQ(kill(serve.pid(), SIGTERM), 0);
  std::this_thread::sleep_for(100ms);
  // A new request during the drain is refused.
  StreamResult refused = Generate(*stub, TokenRequest({1}, 2, 1));
  EXPECT_EQ(refused.status.error_code(), grpc::StatusCode::UNAVAILABLE);
  for (auto& t : threads) t.join();
  for (int i = 0; i < kStreams; ++i) {
    EXPECT_TRUE(results[static_cast<size_t>(i)].status.ok()) << results[static_cast<size_t>(i)].status.error_message();
    EXPECT_EQ(results[static_cast<size_t>(i)].tokens.size(), static_cast<size_t>(kTokens));
  }
  EXPECT_EQ(serve.Wait(), 0) << serve.log();
  EXPECT_NE(serve.log().find("draining"), std::string::npos);
}

}  // namespace
}  // namespace rs::service::testing
