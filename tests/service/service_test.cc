// End-to-end tests of recurrent.v1.Inference over loopback with a real gRPC
// client: exactness of streamed generation, concurrency, cancellation,
// deadlines, health, reflection, every INVALID_ARGUMENT case, overload,
// drain, /metrics.
#include <grpcpp/generic/generic_stub.h>
#include <google/protobuf/unknown_field_set.h>

#include <atomic>
#include <chrono>
#include <random>
#include <thread>

#include "grpc/health/v1/health.grpc.pb.h"
#include "tests/service/service_test_util.h"

namespace rs::service::testing {
namespace {

using namespace std::chrono_literals;
using grpc::StatusCode;
using HealthStatus = grpc::health::v1::HealthCheckResponse;

engine::SamplingParams ParamsOf(const v1::GenerateRequest& r) {
  engine::SamplingParams p;
  p.temperature = r.temperature();
  p.top_k = r.top_k();
  p.repetition_penalty = r.repetition_penalty();
  p.seed = r.seed();
  p.max_tokens = r.max_tokens();
  return p;
}

std::vector<int32_t> RandomPrompt(std::mt19937& rng, int n) {
  std::vector<int32_t> p(static_cast<size_t>(n));
  for (auto& t : p) t = static_cast<int32_t>(rng() % 256);
  return p;
}

HealthStatus::ServingStatus Health(grpc::Channel* channel, const std::string& service, grpc::StatusCode* code) {
  auto stub = grpc::health::v1::Health::NewStub(std::shared_ptr<grpc::Channel>(channel, [](grpc::Channel*) {}));
  grpc::ClientContext ctx;
  grpc::health::v1::HealthCheckRequest req;
  req.set_service(service);
  HealthStatus resp;
  grpc::Status s = stub->Check(&ctx, req, &resp);
  *code = s.error_code();
  return resp.status();
}

// A call's OnDone (which logs and counts it) may run just after its client
// saw the status: wait for every call to be done.
bool NoneInFlight(const TestServer& t) {
  return t.server->service().WaitNoneInFlight(std::chrono::steady_clock::now() + 10s);
}

// Waits (up to 10 s) until `pred(metrics text)` holds; returns the last text.
template <typename Pred>
std::string WaitForMetrics(const TestServer& t, Pred pred) {
  std::string text;
  for (int i = 0; i < 1000; ++i) {
    text = t.server->metrics().Serialize();
    if (pred(text)) break;
    std::this_thread::sleep_for(10ms);
  }
  return text;
}

TEST(ServiceTest, StreamEqualsTheRequestRunAloneAndReportsUsage) {
  TestServer t = StartServer();
  auto ref = LoadTestModel();
  v1::GenerateRequest req = TokenRequest({72, 101, 108, 108, 111, 32, 119}, 40, 1234);
  req.set_request_id("req-1");
  req.set_logprobs(true);
  req.set_top_logprobs(3);
  StreamResult r = Generate(*t.stub, req);
  ASSERT_TRUE(r.status.ok()) << r.status.error_message();
  EXPECT_EQ(r.tokens, RunAlone(*ref, {72, 101, 108, 108, 111, 32, 119}, ParamsOf(req)));
  ASSERT_TRUE(r.has_final);
  EXPECT_TRUE(r.request_id_echoed);
  EXPECT_EQ(r.final_msg.finish_reason(), "length");
  EXPECT_EQ(r.final_msg.usage().prompt_tokens(), 7);
  EXPECT_EQ(r.final_msg.usage().generated_tokens(), 40);
  EXPECT_EQ(r.final_msg.seed(), 1234u);
  EXPECT_EQ(r.final_msg.model(), "m");
  EXPECT_GT(r.final_msg.timings().total_seconds(), 0);
  EXPECT_LE(r.final_msg.timings().time_to_first_token_seconds(), r.final_msg.timings().total_seconds());
  // Logprobs: one per token, each <= 0, with 3 alternatives.
  ASSERT_EQ(r.logprobs.size(), r.tokens.size());
  for (size_t i = 0; i < r.tokens.size(); ++i) {
    EXPECT_EQ(r.logprobs[i].token_id(), r.tokens[i]);
    EXPECT_LE(r.logprobs[i].logprob(), 0.0f);
    EXPECT_EQ(r.logprobs[i].top_size(), 3);
  }
  // The text is the byte tokenizer's decoding of the tokens (valid UTF-8 parts).
  EXPECT_FALSE(r.text.empty());
}

TEST(ServiceTest, TextPromptStopStringAndUnsetSeedIsReported) {
  TestServer t = StartServer();
  v1::GenerateRequest req;
  req.set_prompt("The state of a recurrent model");
  req.set_max_tokens(30);
  req.set_temperature(0);  // greedy
  StreamResult a = Generate(*t.stub, req);
  ASSERT_TRUE(a.status.ok()) << a.status.error_message();
  EXPECT_EQ(a.final_msg.usage().prompt_tokens(), 30);
  // A stop string taken from the greedy output cuts it there.
  // (One ASCII character from past the start: the noise text of random
  // weights is arbitrary UTF-8.)
  size_t at = 3;
  while (at < a.text.size() && static_cast<unsigned char>(a.text[at]) >= 0x80) ++at;
  ASSERT_LT(at, a.text.size()) << "no ASCII character in the output";
  v1::GenerateRequest stop_req = req;
  const std::string stop = a.text.substr(at, 1);
  stop_req.add_stop(stop);
  StreamResult b = Generate(*t.stub, stop_req);
  ASSERT_TRUE(b.status.ok());
  EXPECT_EQ(b.final_msg.finish_reason(), "stop");
  EXPECT_EQ(b.text, a.text.substr(0, a.text.find(stop)));
  // Without a seed the server draws one and reports it; replaying it gives
  // the same tokens.
  v1::GenerateRequest sampled;
  sampled.set_prompt("abc");
  sampled.set_max_tokens(12);
  StreamResult c = Generate(*t.stub, sampled);
  ASSERT_TRUE(c.status.ok());
  sampled.set_seed(c.final_msg.seed());
  StreamResult d = Generate(*t.stub, sampled);
  EXPECT_EQ(c.tokens, d.tokens);
}

TEST(ServiceTest, SixtyFourConcurrentStreamsEachEqualTheirSoloRun) {
  scheduler::Options so = DefaultSchedulerOptions();
  so.max_seqs = 24;  // fewer slots than streams: some wait in the queue
  TestServer t = StartServer(DefaultServerOptions(), so);
  auto ref = LoadTestModel();
  std::mt19937 rng(5);
  constexpr int kStreams = 64;
  std::vector<v1::GenerateRequest> reqs;
  for (int i = 0; i < kStreams; ++i) {
    reqs.push_back(TokenRequest(RandomPrompt(rng, 1 + static_cast<int>(rng() % 40)), 8 + static_cast<int>(rng() % 24),
                                1000 + static_cast<uint64_t>(i)));
    reqs.back().set_request_id("s" + std::to_string(i));
  }
  std::vector<StreamResult> results(kStreams);
  std::vector<std::thread> threads;
  for (int i = 0; i < kStreams; ++i) {
    threads.emplace_back([&, i] { results[static_cast<size_t>(i)] = Generate(*t.stub, reqs[static_cast<size_t>(i)]); });
  }
  for (auto& th : threads) th.join();
  ASSERT_TRUE(NoneInFlight(t));
  for (int i = 0; i < kStreams; ++i) {
    const auto& r = results[static_cast<size_t>(i)];
    ASSERT_TRUE(r.status.ok()) << i << ": " << r.status.error_message();
    const auto& ids = reqs[static_cast<size_t>(i)].token_ids().ids();
    EXPECT_EQ(r.tokens, RunAlone(*ref, std::vector<int32_t>(ids.begin(), ids.end()), ParamsOf(reqs[static_cast<size_t>(i)])))
        << "stream " << i;
    EXPECT_TRUE(r.request_id_echoed);
  }
  const std::string m = WaitForMetrics(t, [](const std::string& s) {
    return MetricValue(s, "recurrent_num_requests_running{model=\"m\"}") == 0;
  });
  EXPECT_EQ(MetricValue(m, "recurrent_requests_total{code=\"OK\",method=\"Generate\",model=\"m\"}"), kStreams);
  EXPECT_EQ(MetricValue(m, "recurrent_request_success_total{finished_reason=\"length\",model=\"m\"}"), kStreams);
  EXPECT_GT(MetricValue(m, "recurrent_batch_size_count{model=\"m\"}"), 0);
}

TEST(ServiceTest, CancelMidStreamFreesTheSlot) {
  ModelLimits limits;
  limits.max_tokens_limit = 1 << 20;
  TestServer t = StartServer(DefaultServerOptions(), DefaultSchedulerOptions(), limits);
  v1::GenerateRequest req = TokenRequest({1, 2, 3}, 1 << 20, 9);
  grpc::ClientContext ctx;
  StreamResult r = Generate(*t.stub, req, &ctx, [&](int chunks) {
    if (chunks == 5) ctx.TryCancel();
  });
  EXPECT_EQ(r.status.error_code(), StatusCode::CANCELLED);
  EXPECT_GE(r.chunks, 5);
  const std::string m = WaitForMetrics(t, [](const std::string& s) {
    return MetricValue(s, "recurrent_requests_total{code=\"CANCELLED\",method=\"Generate\",model=\"m\"}") == 1 &&
           MetricValue(s, "recurrent_state_slot_usage_perc{model=\"m\"}") == 0;
  });
  EXPECT_EQ(MetricValue(m, "recurrent_requests_total{code=\"CANCELLED\",method=\"Generate\",model=\"m\"}"), 1);
  EXPECT_EQ(MetricValue(m, "recurrent_state_slot_usage_perc{model=\"m\"}"), 0);
  EXPECT_EQ(MetricValue(m, "recurrent_num_requests_running{model=\"m\"}"), 0);
  EXPECT_TRUE(NoneInFlight(t));
}

TEST(ServiceTest, DeadlineEndsTheStreamAndFreesTheSlot) {
  ModelLimits limits;
  limits.max_tokens_limit = 1 << 20;
  TestServer t = StartServer(DefaultServerOptions(), DefaultSchedulerOptions(), limits);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + 300ms);
  StreamResult r = Generate(*t.stub, TokenRequest({1, 2, 3}, 1 << 20, 9), &ctx);
  EXPECT_EQ(r.status.error_code(), StatusCode::DEADLINE_EXCEEDED);
  EXPECT_GT(r.tokens.size(), 0u);
  const std::string m = WaitForMetrics(t, [](const std::string& s) {
    return MetricValue(s, "recurrent_state_slot_usage_perc{model=\"m\"}") == 0 &&
           MetricValue(s, "recurrent_num_requests_running{model=\"m\"}") == 0;
  });
  EXPECT_EQ(MetricValue(m, "recurrent_state_slot_usage_perc{model=\"m\"}"), 0);
}

TEST(ServiceTest, HealthFollowsLoadingServingAndDraining) {
  TestServer t = StartServer(DefaultServerOptions(), DefaultSchedulerOptions(), {}, /*add_model=*/false,
                             /*serve=*/false);
  grpc::StatusCode code;
  EXPECT_EQ(Health(t.channel.get(), "", &code), HealthStatus::NOT_SERVING);
  EXPECT_EQ(Health(t.channel.get(), "recurrent.v1.Inference", &code), HealthStatus::NOT_SERVING);
  // While loading, RPCs are UNAVAILABLE.
  EXPECT_EQ(Generate(*t.stub, TokenRequest({1}, 2, 1)).status.error_code(), StatusCode::UNAVAILABLE);
  ASSERT_TRUE(t.server->models()
                  .Add("m", LoadTestModel(), engine::NewByteTokenizer(), DefaultSchedulerOptions(), {})
                  .ok());
  t.server->SetServing();
  EXPECT_EQ(Health(t.channel.get(), "", &code), HealthStatus::SERVING);
  EXPECT_EQ(Health(t.channel.get(), "recurrent.v1.Inference", &code), HealthStatus::SERVING);
  EXPECT_EQ(Health(t.channel.get(), "recurrent.v1.Inference/m", &code), HealthStatus::SERVING);
  Health(t.channel.get(), "no-such-service", &code);
  EXPECT_EQ(code, StatusCode::NOT_FOUND);
  EXPECT_TRUE(Generate(*t.stub, TokenRequest({1}, 2, 1)).status.ok());
}

TEST(ServiceTest, DrainFinishesStreamsInFlightAndRefusesNewOnes) {
  TestServer t = StartServer();
  // Two long streams in flight.
  std::vector<StreamResult> results(2);
  std::atomic<int> started{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 2; ++i) {
    threads.emplace_back([&, i] {
      grpc::ClientContext ctx;
      results[static_cast<size_t>(i)] =
          Generate(*t.stub, TokenRequest({1, 2, 3}, 300, static_cast<uint64_t>(i)), &ctx, [&](int c) {
            if (c == 1) started++;
          });
    });
  }
  while (started.load() < 2) std::this_thread::sleep_for(1ms);
  std::thread drainer([&] { EXPECT_EQ(t.server->Drain(60s), 0); });
  // Health goes NOT_SERVING at once; new requests are UNAVAILABLE.
  grpc::StatusCode code = StatusCode::OK;
  HealthStatus::ServingStatus h = HealthStatus::SERVING;
  for (int i = 0; i < 500 && h == HealthStatus::SERVING; ++i) {
    h = Health(t.channel.get(), "", &code);
    std::this_thread::sleep_for(2ms);
  }
  EXPECT_EQ(h, HealthStatus::NOT_SERVING);
  StreamResult refused = Generate(*t.stub, TokenRequest({1}, 2, 1));
  EXPECT_EQ(refused.status.error_code(), StatusCode::UNAVAILABLE);
  // After the notice the server no longer listens: a new connection fails
  // (a proxy in front tries another replica).
  std::this_thread::sleep_for(kDrainNotice + 200ms);
  auto fresh = v1::Inference::NewStub(grpc::CreateChannel(
      "127.0.0.1:" + std::to_string(t.server->port()), grpc::InsecureChannelCredentials()));
  StreamResult new_connection = Generate(*fresh, TokenRequest({1}, 2, 1));
  EXPECT_EQ(new_connection.status.error_code(), StatusCode::UNAVAILABLE)
      << new_connection.status.error_message();
  for (auto& th : threads) th.join();
  drainer.join();
  for (const auto& r : results) {
    EXPECT_TRUE(r.status.ok()) << r.status.error_message();
    EXPECT_EQ(r.tokens.size(), 300u);
  }
}

TEST(ServiceTest, EveryBadRequestIsInvalidArgument) {
  ModelLimits limits;
  limits.max_tokens_limit = 100;
  limits.max_prompt_tokens = 50;
  TestServer t = StartServer(DefaultServerOptions(), DefaultSchedulerOptions(), limits);
  auto base = [] { return TokenRequest({1, 2, 3}, 4, 1); };
  std::vector<std::pair<std::string, v1::GenerateRequest>> cases;
  cases.push_back({"empty input", [] {
                     v1::GenerateRequest r;
                     r.set_max_tokens(4);
                     return r;
                   }()});
  cases.push_back({"empty token_ids", [&] {
                     v1::GenerateRequest r = base();
                     r.mutable_token_ids()->clear_ids();
                     return r;
                   }()});
  cases.push_back({"empty prompt", [&] {
                     v1::GenerateRequest r = base();
                     r.set_prompt("");
                     return r;
                   }()});
  cases.push_back({"token id over the vocabulary", [&] {
                     v1::GenerateRequest r = base();
                     r.mutable_token_ids()->add_ids(256);
                     return r;
                   }()});
  cases.push_back({"negative token id", [&] {
                     v1::GenerateRequest r = base();
                     r.mutable_token_ids()->add_ids(-1);
                     return r;
                   }()});
  cases.push_back({"prompt over the limit", [&] {
                     v1::GenerateRequest r = base();
                     r.set_prompt(std::string(51, 'a'));
                     return r;
                   }()});
  cases.push_back({"token_ids over the limit", [&] {
                     v1::GenerateRequest r = TokenRequest(std::vector<int32_t>(51, 7), 4, 1);
                     return r;
                   }()});
  cases.push_back({"max_tokens over the limit", [&] {
                     v1::GenerateRequest r = base();
                     r.set_max_tokens(101);
                     return r;
                   }()});
  cases.push_back({"max_tokens 0", [&] {
                     v1::GenerateRequest r = base();
                     r.set_max_tokens(0);
                     return r;
                   }()});
  cases.push_back({"negative temperature", [&] {
                     v1::GenerateRequest r = base();
                     r.set_temperature(-1);
                     return r;
                   }()});
  cases.push_back({"NaN temperature", [&] {
                     v1::GenerateRequest r = base();
                     r.set_temperature(std::nanf(""));
                     return r;
                   }()});
  cases.push_back({"top_p 0", [&] {
                     v1::GenerateRequest r = base();
                     r.set_top_p(0);
                     return r;
                   }()});
  cases.push_back({"top_p over 1", [&] {
                     v1::GenerateRequest r = base();
                     r.set_top_p(1.5f);
                     return r;
                   }()});
  cases.push_back({"negative top_k", [&] {
                     v1::GenerateRequest r = base();
                     r.set_top_k(-2);
                     return r;
                   }()});
  cases.push_back({"min_p over 1", [&] {
                     v1::GenerateRequest r = base();
                     r.set_min_p(2);
                     return r;
                   }()});
  cases.push_back({"repetition_penalty 0", [&] {
                     v1::GenerateRequest r = base();
                     r.set_repetition_penalty(0);
                     return r;
                   }()});
  cases.push_back({"presence_penalty 3", [&] {
                     v1::GenerateRequest r = base();
                     r.set_presence_penalty(3);
                     return r;
                   }()});
  cases.push_back({"frequency_penalty -3", [&] {
                     v1::GenerateRequest r = base();
                     r.set_frequency_penalty(-3);
                     return r;
                   }()});
  cases.push_back({"logit_bias id out of range", [&] {
                     v1::GenerateRequest r = base();
                     (*r.mutable_logit_bias())[999] = 1;
                     return r;
                   }()});
  cases.push_back({"logit_bias NaN", [&] {
                     v1::GenerateRequest r = base();
                     (*r.mutable_logit_bias())[5] = std::nanf("");
                     return r;
                   }()});
  cases.push_back({"top_logprobs 21", [&] {
                     v1::GenerateRequest r = base();
                     r.set_top_logprobs(21);
                     return r;
                   }()});
  cases.push_back({"empty stop string", [&] {
                     v1::GenerateRequest r = base();
                     r.add_stop("");
                     return r;
                   }()});
  cases.push_back({"stop token id out of range", [&] {
                     v1::GenerateRequest r = base();
                     r.add_stop_token_ids(1000);
                     return r;
                   }()});
  cases.push_back({"priority out of range", [&] {
                     v1::GenerateRequest r = base();
                     r.set_priority(5000);
                     return r;
                   }()});
  cases.push_back({"new_session without session_id", [&] {
                     v1::GenerateRequest r = base();
                     r.set_new_session(true);
                     return r;
                   }()});
  cases.push_back({"new_session without input", [&] {
                     v1::GenerateRequest r;
                     r.set_session_id("s");
                     r.set_new_session(true);
                     return r;
                   }()});
  cases.push_back({"request_id too long", [&] {
                     v1::GenerateRequest r = base();
                     r.set_request_id(std::string(300, 'x'));
                     return r;
                   }()});
  for (const auto& [name, req] : cases) {
    StreamResult r = Generate(*t.stub, req);
    EXPECT_EQ(r.status.error_code(), StatusCode::INVALID_ARGUMENT) << name << ": " << r.status.error_message();
    EXPECT_FALSE(r.status.error_message().empty()) << name;
    EXPECT_EQ(r.chunks, 0) << name;
  }
  // An unknown model is NOT_FOUND.
  v1::GenerateRequest unknown = base();
  unknown.set_model("nope");
  EXPECT_EQ(Generate(*t.stub, unknown).status.error_code(), StatusCode::NOT_FOUND);
  // The server is still healthy and exact afterwards.
  EXPECT_TRUE(Generate(*t.stub, base()).status.ok());
  EXPECT_TRUE(NoneInFlight(t));
  const std::string m = t.server->metrics().Serialize();
  EXPECT_EQ(MetricValue(m, "recurrent_requests_total{code=\"INVALID_ARGUMENT\",method=\"Generate\",model=\"m\"}"),
            static_cast<double>(cases.size()));
}

TEST(ServiceTest, InvalidUtf8IsInvalidArgument) {
  TestServer t = StartServer();
  for (const std::string& bad : {std::string("ab\xff"), std::string("\xc3"), std::string("\xed\xa0\x80")}) {
    v1::GenerateRequest r = TokenRequest({1}, 4, 1);
    r.set_prompt(bad);
    EXPECT_EQ(Generate(*t.stub, r).status.error_code(), StatusCode::INVALID_ARGUMENT);
    v1::GenerateRequest s = TokenRequest({1}, 4, 1);
    s.add_stop(bad);
    EXPECT_EQ(Generate(*t.stub, s).status.error_code(), StatusCode::INVALID_ARGUMENT);
    grpc::ClientContext ctx;
    v1::TokenizeRequest tr;
    tr.set_text(bad);
    v1::TokenizeResponse tresp;
    EXPECT_EQ(t.stub->Tokenize(&ctx, tr, &tresp).error_code(), StatusCode::INVALID_ARGUMENT);
  }
  EXPECT_TRUE(Generate(*t.stub, TokenRequest({1}, 4, 1)).status.ok());
}

TEST(ServiceTest, OverloadIsResourceExhaustedQuicklyWhileAdmittedRequestsComplete) {
  scheduler::Options so = DefaultSchedulerOptions();
  so.max_seqs = 2;
  so.max_queue = 2;
  ModelLimits limits;
  limits.max_tokens_limit = 1 << 20;
  TestServer t = StartServer(DefaultServerOptions(), so, limits);
  constexpr int kHeldTokens = 20000;  // long enough to hold the slots while the test runs
  // Four requests fill the slots and the queue: two first, running (their
  // first tokens came), then two that wait. (Sent all at once, the engine may
  // not have taken the first two into slots before the last arrive, and those
  // would be refused: the queue holds two.)
  std::vector<StreamResult> held(4);
  std::atomic<int> first_tokens{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&, i] {
      grpc::ClientContext ctx;
      held[static_cast<size_t>(i)] = Generate(*t.stub, TokenRequest({1, 2}, kHeldTokens, static_cast<uint64_t>(i)), &ctx,
                                              [&](int c) {
                                                if (c == 1) first_tokens++;
                                              });
    });
    if (i == 1) {
      while (first_tokens.load() < 2) std::this_thread::sleep_for(1ms);
    }
  }
  WaitForMetrics(t, [](const std::string& s) {  // the other two are queued
    return MetricValue(s, "recurrent_num_requests_waiting{model=\"m\"}") == 2;
  });
  // ...so more are refused at once, and health stays SERVING.
  int exhausted = 0;
  for (int i = 0; i < 20; ++i) {
    StreamResult r = Generate(*t.stub, TokenRequest({1}, 4, 1));
    if (r.status.error_code() == StatusCode::RESOURCE_EXHAUSTED) ++exhausted;
  }
  grpc::StatusCode code;
  EXPECT_EQ(Health(t.channel.get(), "", &code), HealthStatus::SERVING);
  for (auto& th : threads) th.join();
  EXPECT_EQ(exhausted, 20);  // nothing leaves the queue while the held requests run
  ASSERT_TRUE(NoneInFlight(t));
  for (const auto& r : held) {
    EXPECT_TRUE(r.status.ok()) << r.status.error_message();
    EXPECT_EQ(r.tokens.size(), static_cast<size_t>(kHeldTokens));
  }
  const std::string m = t.server->metrics().Serialize();
  EXPECT_EQ(MetricValue(m, "recurrent_requests_total{code=\"RESOURCE_EXHAUSTED\",method=\"Generate\",model=\"m\"}"),
            exhausted);
}

TEST(ServiceTest, TokenizeDetokenizeAndListModels) {
  TestServer t = StartServer();
  {
    grpc::ClientContext ctx;
    v1::TokenizeRequest req;
    req.set_text("héllo");
    v1::TokenizeResponse resp;
    ASSERT_TRUE(t.stub->Tokenize(&ctx, req, &resp).ok());
    EXPECT_EQ(resp.token_ids_size(), 6);  // bytes
    grpc::ClientContext ctx2;
    v1::DetokenizeRequest dreq;
    dreq.mutable_token_ids()->CopyFrom(resp.token_ids());
    v1::DetokenizeResponse dresp;
    ASSERT_TRUE(t.stub->Detokenize(&ctx2, dreq, &dresp).ok());
    EXPECT_EQ(dresp.text(), "héllo");
  }
  {
    grpc::ClientContext ctx;
    v1::DetokenizeRequest dreq;
    dreq.add_token_ids(300);
    v1::DetokenizeResponse dresp;
    EXPECT_EQ(t.stub->Detokenize(&ctx, dreq, &dresp).error_code(), StatusCode::INVALID_ARGUMENT);
  }
  {
    grpc::ClientContext ctx;
    v1::ListModelsResponse resp;
    ASSERT_TRUE(t.stub->ListModels(&ctx, v1::ListModelsRequest(), &resp).ok());
    ASSERT_EQ(resp.models_size(), 1);
    EXPECT_EQ(resp.models(0).name(), "m");
    EXPECT_EQ(resp.models(0).architecture(), "mamba1");
    EXPECT_EQ(resp.models(0).vocab_size(), 256);
    EXPECT_TRUE(resp.models(0).is_default());
    EXPECT_TRUE(resp.models(0).has_tokenizer());
    EXPECT_GT(resp.models(0).state_bytes(), 0);
  }
}

TEST(ServiceTest, SessionContinuesFromItsKeptState) {
  TestServer t = StartServer();
  auto ref = LoadTestModel();
  // Continuing a session that was never started is NOT_FOUND (the client
  // must not silently lose its context); new_session starts it.
  v1::GenerateRequest turn1 = TokenRequest({10, 20, 30, 40}, 6, 77);
  turn1.set_session_id("chat-1");
  EXPECT_EQ(Generate(*t.stub, turn1).status.error_code(), StatusCode::NOT_FOUND);
  turn1.set_new_session(true);
  StreamResult a = Generate(*t.stub, turn1);
  ASSERT_TRUE(a.status.ok());
  EXPECT_EQ(a.final_msg.usage().cached_tokens(), 0);
  v1::GenerateRequest turn2 = TokenRequest({50, 60}, 6, 78);
  turn2.set_session_id("chat-1");
  StreamResult b = Generate(*t.stub, turn2);
  ASSERT_TRUE(b.status.ok()) << b.status.error_message();
  EXPECT_GT(b.final_msg.usage().cached_tokens(), 0);
  // Equal to the whole history run cold.
  std::vector<int32_t> history = {10, 20, 30, 40};
  history.insert(history.end(), a.tokens.begin(), a.tokens.end());
  history.insert(history.end(), {50, 60});
  EXPECT_EQ(b.tokens, RunAlone(*ref, history, ParamsOf(turn2)));
  // new_session on a kept id starts over: the same as a cold run of its input.
  v1::GenerateRequest restart = TokenRequest({70, 80}, 6, 79);
  restart.set_session_id("chat-1");
  restart.set_new_session(true);
  StreamResult c = Generate(*t.stub, restart);
  ASSERT_TRUE(c.status.ok());
  EXPECT_EQ(c.final_msg.usage().cached_tokens(), 0);
  EXPECT_EQ(c.tokens, RunAlone(*ref, {70, 80}, ParamsOf(restart)));
  EXPECT_TRUE(NoneInFlight(t));
  EXPECT_EQ(MetricValue(t.server->metrics().Serialize(),
                        "recurrent_requests_total{code=\"NOT_FOUND\",method=\"Generate\",model=\"m\"}"),
            1);
}

TEST(ServiceTest, SeveralModelsEachServeTheirOwnRequests) {
  // A second model with other weights: each request must reach its own.
  TempDir other_dir("service-model-b");
  engine::RandomMamba1Options o = engine::testing::OddMamba1Shape();
  o.vocab_size = 256;
  o.seed = 99;
  ASSERT_TRUE(engine::WriteRandomMamba1(other_dir.path(), o).ok());
  TestServer t = StartServer();
  ASSERT_TRUE(t.server->models()
                  .Add("b", engine::testing::Load(other_dir.path(), 1), engine::NewByteTokenizer(),
                       DefaultSchedulerOptions(), {})
                  .ok());
  t.server->SetServing();
  EXPECT_EQ(t.server->models().Add("b", LoadTestModel(), nullptr, DefaultSchedulerOptions(), {}).code(),
            rs::StatusCode::kAlreadyExists);
  {
    grpc::ClientContext ctx;
    v1::ListModelsResponse resp;
    ASSERT_TRUE(t.stub->ListModels(&ctx, v1::ListModelsRequest(), &resp).ok());
    ASSERT_EQ(resp.models_size(), 2);
    EXPECT_EQ(resp.models(0).name(), "m");
    EXPECT_TRUE(resp.models(0).is_default());
    EXPECT_EQ(resp.models(1).name(), "b");
    EXPECT_FALSE(resp.models(1).is_default());
  }
  grpc::StatusCode code;
  EXPECT_EQ(Health(t.channel.get(), "recurrent.v1.Inference/b", &code), HealthStatus::SERVING);
  auto ref_m = LoadTestModel();
  auto ref_b = engine::testing::Load(other_dir.path(), 1);
  v1::GenerateRequest req = TokenRequest({5, 6, 7}, 12, 3);
  StreamResult by_default = Generate(*t.stub, req);
  req.set_model("b");
  StreamResult by_b = Generate(*t.stub, req);
  ASSERT_TRUE(by_default.status.ok());
  ASSERT_TRUE(by_b.status.ok());
  EXPECT_EQ(by_default.final_msg.model(), "m");
  EXPECT_EQ(by_b.final_msg.model(), "b");
  EXPECT_EQ(by_default.tokens, RunAlone(*ref_m, {5, 6, 7}, ParamsOf(req)));
  EXPECT_EQ(by_b.tokens, RunAlone(*ref_b, {5, 6, 7}, ParamsOf(req)));
  EXPECT_NE(by_default.tokens, by_b.tokens);
  ASSERT_TRUE(NoneInFlight(t));
  const std::string m = t.server->metrics().Serialize();
  EXPECT_EQ(MetricValue(m, "recurrent_generation_tokens_total{model=\"b\"}"), 12);
  EXPECT_EQ(MetricValue(m, "recurrent_generation_tokens_total{model=\"m\"}"), 12);
}

TEST(ServiceTest, MetricsEndpointServesPrometheusText) {
  ServerOptions o = DefaultServerOptions();
  o.metrics_listen = "127.0.0.1:" + std::to_string(FreePort());
  TestServer t = StartServer(o);
  // The pool's gauges are set before the first request (dashboards size it).
  const std::string idle = WaitForMetrics(
      t, [](const std::string& s) { return MetricValue(s, "recurrent_state_slots_total{model=\"m\"}") == 16; });
  EXPECT_EQ(MetricValue(idle, "recurrent_state_slots_total{model=\"m\"}"), 16);
  EXPECT_GT(MetricValue(idle, "recurrent_state_slot_bytes{model=\"m\"}"), 0);
  ASSERT_TRUE(Generate(*t.stub, TokenRequest({1, 2, 3}, 5, 1)).status.ok());
  ASSERT_TRUE(NoneInFlight(t));
  ASSERT_GT(t.server->metrics_port(), 0);
  const std::string http = HttpGet(t.server->metrics_port(), "/metrics");
  ASSERT_NE(http.find("200 OK"), std::string::npos) << http.substr(0, 200);
  const std::string body = http.substr(http.find("\r\n\r\n") + 4);
  // Every sample line parses: name{labels} value.
  int samples = 0;
  size_t pos = 0;
  while (pos < body.size()) {
    size_t end = body.find('\n', pos);
    if (end == std::string::npos) end = body.size();
    const std::string line = body.substr(pos, end - pos);
    pos = end + 1;
    if (line.empty() || line[0] == '#') continue;
    ++samples;
    const size_t space = line.rfind(' ');
    ASSERT_NE(space, std::string::npos) << line;
    EXPECT_EQ(line.rfind("recurrent_", 0), 0u) << line;
    size_t used = 0;
    EXPECT_NO_THROW(std::stod(line.substr(space + 1), &used)) << line;
  }
  EXPECT_GT(samples, 50);
  EXPECT_EQ(MetricValue(body, "recurrent_generation_tokens_total{model=\"m\"}"), 5);
  EXPECT_EQ(MetricValue(body, "recurrent_prompt_tokens_total{model=\"m\"}"), 3);
  EXPECT_EQ(MetricValue(body, "recurrent_time_to_first_token_seconds_count{model=\"m\"}"), 1);
  EXPECT_EQ(MetricValue(body, "recurrent_inter_token_latency_seconds_count{model=\"m\"}"), 4);
  EXPECT_EQ(MetricValue(body, "recurrent_state_slots_total{model=\"m\"}"), 16);
  EXPECT_EQ(MetricValue(body, "recurrent_server_ready"), 1);
}

// Server reflection, through the generic stub (the reflection messages are
// read as raw protobuf fields).
TEST(ServiceTest, ReflectionListsTheService) {
  TestServer t = StartServer();
  grpc::GenericStub stub(t.channel);
  grpc::CompletionQueue cq;
  grpc::ClientContext ctx;
  auto call = stub.PrepareCall(&ctx, "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", &cq);
  auto step = [&](void* tag) {
    void* got = nullptr;
    bool ok = false;
    EXPECT_TRUE(cq.Next(&got, &ok));
    EXPECT_EQ(got, tag);
    return ok;
  };
  call->StartCall(reinterpret_cast<void*>(1));
  ASSERT_TRUE(step(reinterpret_cast<void*>(1)));
  const std::string request("\x3a\x00", 2);  // field 7 (list_services) = ""
  grpc::Slice slice(request);
  grpc::ByteBuffer buf(&slice, 1);
  call->Write(buf, reinterpret_cast<void*>(2));
  ASSERT_TRUE(step(reinterpret_cast<void*>(2)));
  grpc::ByteBuffer reply;
  call->Read(&reply, reinterpret_cast<void*>(3));
  ASSERT_TRUE(step(reinterpret_cast<void*>(3)));
  call->WritesDone(reinterpret_cast<void*>(4));
  step(reinterpret_cast<void*>(4));
  grpc::Status status;
  call->Finish(&status, reinterpret_cast<void*>(5));
  step(reinterpret_cast<void*>(5));
  std::vector<grpc::Slice> slices;
  ASSERT_TRUE(reply.Dump(&slices).ok());
  std::string bytes;
  for (const auto& s : slices) bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
  google::protobuf::UnknownFieldSet response;
  ASSERT_TRUE(response.ParseFromString(bytes));
  std::vector<std::string> services;
  for (int i = 0; i < response.field_count(); ++i) {
    const auto& f = response.field(i);
    if (f.number() != 6) continue;  // list_services_response
    google::protobuf::UnknownFieldSet list;
    ASSERT_TRUE(list.ParseFromString(f.length_delimited()));
    for (int j = 0; j < list.field_count(); ++j) {
      google::protobuf::UnknownFieldSet service;
      ASSERT_TRUE(service.ParseFromString(list.field(j).length_delimited()));
      services.push_back(service.field(0).length_delimited());
    }
  }
  EXPECT_NE(std::find(services.begin(), services.end(), "recurrent.v1.Inference"), services.end());
  EXPECT_NE(std::find(services.begin(), services.end(), "grpc.health.v1.Health"), services.end());
}

}  // namespace
}  // namespace rs::service::testing
