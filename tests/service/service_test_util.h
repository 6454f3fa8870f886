// Helpers of the service tests: a random-weight model on disk, an in-process
// server on an ephemeral port, a streaming Generate that collects everything,
// the reference run of a request without any server, and /metrics scraping.
#pragma once

#include <arpa/inet.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <vector>

#include "engine/models/random_model.h"
#include "engine/sampler/sampler.h"
#include "engine/tokenizer/tokenizer.h"
#include "recurrent/v1/inference.grpc.pb.h"
#include "scheduler/scheduler.h"
#include "service/server.h"
#include "tests/engine/model_test_util.h"
#include "tests/scheduler/run_alone.h"

namespace rs::service::testing {

namespace v1 = recurrent::v1;
using engine::testing::TempDir;

// A small Mamba-1 with the byte vocabulary (the byte tokenizer serves text).
inline const std::string& ModelDir() {
  static TempDir* dir = [] {
    auto* d = new TempDir("service-model");
    engine::RandomMamba1Options o = engine::testing::OddMamba1Shape();
    o.vocab_size = 256;
    EXPECT_TRUE(engine::WriteRandomMamba1(d->path(), o).ok());
    return d;
  }();
  static const std::string path = dir->path();
  return path;
}

inline std::unique_ptr<engine::Model> LoadTestModel() { return engine::testing::Load(ModelDir(), 1); }

struct TestServer {
  std::unique_ptr<Server> server;
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<v1::Inference::Stub> stub;
  std::string address() const { return "127.0.0.1:" + std::to_string(server->port()); }
};

// A port that was free a moment ago (civetweb, under prometheus-cpp's
// Exposer, cannot bind port 0).
inline int FreePort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  socklen_t len = sizeof(addr);
  EXPECT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  ::close(fd);
  return ntohs(addr.sin_port);
}

// Metrics are read in-process (ServiceMetrics::Serialize) except in the test
// of the HTTP endpoint.
inline ServerOptions DefaultServerOptions() {
  ServerOptions o;
  o.listen = "127.0.0.1:0";
  o.metrics_listen = "";
  o.request_log = nullptr;
  return o;
}

inline scheduler::Options DefaultSchedulerOptions() {
  scheduler::Options o;
  o.max_seqs = 16;
  o.max_queue = 256;
  return o;
}

// Starts a server with the test model as "m" (unless add_model is false) and
// marks it serving (unless serve is false).
inline TestServer StartServer(ServerOptions o = DefaultServerOptions(),
                              scheduler::Options so = DefaultSchedulerOptions(), ModelLimits limits = {},
                              bool add_model = true, bool serve = true,
                              std::shared_ptr<grpc::ChannelCredentials> creds = grpc::InsecureChannelCredentials()) {
  TestServer t;
  auto s = Server::Start(o);
  EXPECT_TRUE(s.ok()) << s.status().ToString();
  if (!s.ok()) return t;
  t.server = std::move(s).value();
  if (add_model) {
    Status st = t.server->models().Add("m", LoadTestModel(), engine::NewByteTokenizer(), so, limits);
    EXPECT_TRUE(st.ok()) << st.ToString();
  }
  if (serve) t.server->SetServing();
  grpc::ChannelArguments args;
  args.SetSslTargetNameOverride("localhost");
  t.channel = grpc::CreateCustomChannel(t.address(), creds, args);
  t.stub = v1::Inference::NewStub(t.channel);
  return t;
}

struct StreamResult {
  grpc::Status status;
  std::vector<int32_t> tokens;
  std::string text;
  std::vector<v1::TokenLogprob> logprobs;
  bool has_final = false;
  v1::GenerateFinal final_msg;
  int chunks = 0;
  bool request_id_echoed = true;
};

// Runs one Generate to its end. `on_chunk` (optional) sees each chunk count.
template <typename OnChunk>
StreamResult Generate(v1::Inference::Stub& stub, const v1::GenerateRequest& req, grpc::ClientContext* ctx,
                      OnChunk on_chunk) {
  StreamResult r;
  auto reader = stub.Generate(ctx, req);
  v1::GenerateResponse resp;
  while (reader->Read(&resp)) {
    if (resp.request_id() != req.request_id()) r.request_id_echoed = false;
    if (resp.has_chunk()) {
      EXPECT_FALSE(r.has_final) << "a chunk after the final message";
      ++r.chunks;
      r.tokens.insert(r.tokens.end(), resp.chunk().token_ids().begin(), resp.chunk().token_ids().end());
      r.text += resp.chunk().text();
      for (const auto& lp : resp.chunk().logprobs()) r.logprobs.push_back(lp);
      on_chunk(r.chunks);
    } else if (resp.has_final()) {
      EXPECT_FALSE(r.has_final) << "two final messages";
      r.has_final = true;
      r.final_msg = resp.final();
    }
  }
  r.status = reader->Finish();
  return r;
}

inline StreamResult Generate(v1::Inference::Stub& stub, const v1::GenerateRequest& req,
                             grpc::ClientContext* ctx = nullptr) {
  grpc::ClientContext local;
  return Generate(stub, req, ctx != nullptr ? ctx : &local, [](int) {});
}

inline v1::GenerateRequest TokenRequest(const std::vector<int32_t>& prompt, int max_tokens, uint64_t seed) {
  v1::GenerateRequest r;
  for (int32_t t : prompt) r.mutable_token_ids()->add_ids(t);
  r.set_max_tokens(max_tokens);
  r.set_seed(seed);
  r.set_temperature(0.8f);
  r.set_top_k(40);
  r.set_repetition_penalty(1.1f);
  r.set_ignore_eos(true);
  return r;
}

// The request (prompt, sampling) run alone on `model`, with no scheduler and
// no server.
inline std::vector<int32_t> RunAlone(engine::Model& model, const std::vector<int32_t>& prompt,
                                     const engine::SamplingParams& params) {
  scheduler::Request r;
  r.prompt = prompt;
  r.params = params;
  return scheduler::RunAloneOn(model, r);
}

// GET http://127.0.0.1:port/metrics (plain HTTP/1.0 over a socket).
inline std::string HttpGet(int port, const std::string& path) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    return "";
  }
  const std::string req = "GET " + path + " HTTP/1.0\r\nHost: localhost\r\n\r\n";
  EXPECT_EQ(::write(fd, req.data(), req.size()), static_cast<ssize_t>(req.size()));
  std::string out;
  char buf[8192];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof(buf))) > 0) out.append(buf, static_cast<size_t>(n));
  ::close(fd);
  return out;
}

// The value of the sample `series` (name plus labels exactly as exposed, e.g.
// `recurrent_requests_total{code="OK",method="Generate",model="m"}`), or -1.
inline double MetricValue(const std::string& text, const std::string& series) {
  size_t pos = 0;
  while ((pos = text.find(series + " ", pos)) != std::string::npos) {
    if (pos == 0 || text[pos - 1] == '\n') return std::stod(text.substr(pos + series.size() + 1));
    pos += series.size();
  }
  return -1;
}

}  // namespace rs::service::testing
