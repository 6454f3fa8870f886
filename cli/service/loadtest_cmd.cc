// recurrent loadtest --target ADDR --concurrency N (--requests M | --duration S)
//   [--prompt-len A[-B]] [--gen A[-B]] [--vocab V] [--model NAME] [--seed S]
//   [--temperature T] [--backoff-ms B] [--channels C] [--api-key KEY] [--tls-ca FILE]
//   [--tls-cert FILE --tls-key FILE] [--timeout-seconds T] [--json]
//
// A bounded load generator for `recurrent serve`, against loopback only (one
// address whose host is 127.0.0.1, localhost or ::1, or a unix: socket;
// anything else exits 2 before connecting): N client threads in a closed
// loop, each sending the next Generate (random token-id prompts of a length
// drawn from --prompt-len, max_tokens from --gen, --temperature (default 1),
// ignore_eos) when its previous one ends (--backoff-ms after a refusal:
// RESOURCE_EXHAUSTED or UNAVAILABLE),
// until M requests were sent or S seconds passed (those in
// flight then finish). Prints throughput (generated tokens / wall time),
// requests/s, time to first token, inter-token latency and end-to-end latency
// percentiles of the successful requests, the latency of refused ones, and
// error counts by status code (failures are data). --json: one object on
// stdout with the same figures. Exit code 0 when it ran, 1 when no request
// got through at all (every one UNAVAILABLE), 2 on bad flags.
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <map>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "cli/commands.h"
#include "cli/common.h"
#include "cli/service/credentials.h"
#include "engine/util/json.h"
#include "recurrent/v1/inference.grpc.pb.h"
#include "service/inference_service.h"

namespace rs::cli {
namespace {

namespace v1 = recurrent::v1;

const char kUsage[] =
    "usage: recurrent loadtest --target ADDR --concurrency N (--requests M | --duration S)\n"
    "         [--prompt-len A[-B] (16)] [--gen A[-B] (64)] [--vocab V (256)] [--temperature T (1)]\n"
    "         [--backoff-ms B (0)] [--model NAME] [--seed S] [--channels C] [--api-key KEY]\n"
    "         [--tls-ca FILE] [--tls-cert FILE --tls-key FILE] [--timeout-seconds T] [--json]\n"
    "Closed-loop load against a server on THIS machine (loopback targets only): N clients each\n"
    "send the next Generate when the previous one ends. Prints tok/s, requests/s, TTFT,\n"
    "inter-token and end-to-end latency percentiles, errors by status code. See docs/perf.md.\n";

using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point a, Clock::time_point b) { return std::chrono::duration<double>(b - a).count(); }

// Only loopback targets: this tool must not be pointed at someone's server.
// Accepts one address: [dns:[///]|ipv4:|ipv6:]HOST[:PORT] with HOST
// 127.0.0.1, localhost, ::1 or [::1], or a unix:/unix-abstract: socket.
// Rejects address lists (ipv4:a,b), DNS authorities (dns://server/...) and
// anything after the port.
bool IsLoopback(const std::string& target) {
  if (target.rfind("unix:", 0) == 0 || target.rfind("unix-abstract:", 0) == 0) {
    return target.find(':') + 1 < target.size();
  }
  std::string rest = target;
  for (const char* scheme : {"dns:", "ipv4:", "ipv6:"}) {
    if (rest.rfind(scheme, 0) == 0) {
      rest = rest.substr(std::strlen(scheme));
      if (rest.rfind("///", 0) == 0) {
        rest = rest.substr(3);
      } else if (rest.rfind("//", 0) == 0) {
        return false;  // an authority (a DNS server to ask)
      }
      break;
    }
  }
  if (rest.find(',') != std::string::npos) return false;  // one address only
  std::string host, port;
  bool has_port = false;
  if (!rest.empty() && rest[0] == '[') {
    const size_t close = rest.find(']');
    if (close == std::string::npos) return false;
    host = rest.substr(1, close - 1);
    const std::string after = rest.substr(close + 1);
    if (!after.empty()) {
      if (after[0] != ':') return false;
      port = after.substr(1);
      has_port = true;
    }
  } else if (rest == "::1") {
    host = rest;
  } else if (const size_t colon = rest.find(':'); colon != std::string::npos) {
    host = rest.substr(0, colon);
    port = rest.substr(colon + 1);
    has_port = true;
  } else {
    host = rest;
  }
  if (has_port && (port.empty() || port.size() > 5 ||
                   !std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; }))) {
    return false;
  }
  return host == "127.0.0.1" || host == "localhost" || host == "::1";
}

struct Sample {
  grpc::StatusCode code = grpc::StatusCode::OK;
  double ttft = 0, e2e = 0;
  int64_t tokens = 0;
  std::vector<double> itl;
};

struct Options {
  std::string target, model, api_key;
  int concurrency = 1, channels = 1;
  int64_t requests = 0;
  double duration = 0, timeout = 0;
  float temperature = 1.0f;
  int backoff_ms = 0;
  Range prompt_len{16, 16}, gen{64, 64};
  int64_t vocab = 256;
  uint64_t seed = 1;
};

Sample RunOne(v1::Inference::Stub& stub, const Options& o, std::mt19937_64& rng) {
  v1::GenerateRequest req;
  req.set_model(o.model);
  const int64_t n = o.prompt_len.Draw(rng);
  for (int64_t i = 0; i < n; ++i) req.mutable_token_ids()->add_ids(static_cast<int32_t>(rng() % o.vocab));
  req.set_max_tokens(static_cast<int32_t>(o.gen.Draw(rng)));
  req.set_ignore_eos(true);
  req.set_temperature(o.temperature);
  req.set_seed(rng());
  grpc::ClientContext ctx;
  if (!o.api_key.empty()) ctx.AddMetadata("authorization", "Bearer " + o.api_key);
  if (o.timeout > 0) {
    ctx.set_deadline(std::chrono::system_clock::now() +
                     std::chrono::microseconds(static_cast<int64_t>(o.timeout * 1e6)));
  }
  Sample s;
  const Clock::time_point t0 = Clock::now();
  Clock::time_point last = t0;
  auto reader = stub.Generate(&ctx, req);
  v1::GenerateResponse resp;
  while (reader->Read(&resp)) {
    if (!resp.has_chunk() || resp.chunk().token_ids_size() == 0) continue;
    const Clock::time_point now = Clock::now();
    const int k = resp.chunk().token_ids_size();
    if (s.tokens == 0) {
      // Tokens that came with the first one have no gap of their own to
      // measure (it is inside the TTFT): no inter-token samples for them.
      s.ttft = Seconds(t0, now);
    } else {
      const double gap = Seconds(last, now) / k;
      for (int i = 0; i < k; ++i) s.itl.push_back(gap);
    }
    s.tokens += k;
    last = now;
  }
  s.code = reader->Finish().error_code();
  s.e2e = Seconds(t0, Clock::now());
  return s;
}

// The run's figures (latencies in ms), computed once for both outputs.
struct Summary {
  std::vector<double> ttft, itl, e2e, refused;
  int64_t ok = 0, failed = 0, tokens = 0;
  std::map<std::string, int64_t> errors;  // code name -> count
};

Summary Summarize(const std::vector<Sample>& all) {
  Summary m;
  for (const Sample& s : all) {
    m.tokens += s.tokens;
    if (s.code == grpc::StatusCode::OK) {
      ++m.ok;
      m.ttft.push_back(s.ttft * 1e3);
      m.e2e.push_back(s.e2e * 1e3);
      for (double g : s.itl) m.itl.push_back(g * 1e3);
    } else {
      ++m.failed;
      ++m.errors[service::GrpcCodeName(s.code)];
      if (s.code == grpc::StatusCode::RESOURCE_EXHAUSTED) m.refused.push_back(s.e2e * 1e3);
    }
  }
  return m;
}

std::string Json(const Options& o, double wall, size_t sent, const Summary& m) {
  auto pct = [](const std::vector<double>& v) {
    char b[160];
    std::snprintf(b, sizeof(b), "{\"p50\":%.3f,\"p90\":%.3f,\"p99\":%.3f}", Percentile(v, 0.5), Percentile(v, 0.9),
                  Percentile(v, 0.99));
    return std::string(b);
  };
  std::string errs = "{";
  for (const auto& [code, n] : m.errors) {
    if (errs.size() > 1) errs += ',';
    errs += json::Quote(code);
    errs += ':';
    errs += std::to_string(n);
  }
  errs += '}';
  char head[512];
  std::snprintf(head, sizeof(head),
                ",\"concurrency\":%d,\"wall_s\":%.3f,\"requests\":%zu,\"ok\":%lld,\"failed\":%lld,"
                "\"generated_tokens\":%lld,\"tokens_per_s\":%.1f,\"requests_per_s\":%.2f,",
                o.concurrency, wall, sent, static_cast<long long>(m.ok), static_cast<long long>(m.failed),
                static_cast<long long>(m.tokens), static_cast<double>(m.tokens) / wall,
                static_cast<double>(sent) / wall);
  return "{\"target\":" + json::Quote(o.target) + head + "\"errors\":" + errs + ",\"ttft_ms\":" + pct(m.ttft) +
         ",\"itl_ms\":" + pct(m.itl) + ",\"e2e_ms\":" + pct(m.e2e) + ",\"refused_ms\":" + pct(m.refused) + "}";
}

void PrintText(const Options& o, double wall, size_t sent, const Summary& m) {
  std::printf("target %s, %d concurrent clients, %.2f s\n", o.target.c_str(), o.concurrency, wall);
  std::printf("requests: %zu sent, %lld ok, %lld failed (%.2f/s)\n", sent, static_cast<long long>(m.ok),
              static_cast<long long>(m.failed), static_cast<double>(sent) / wall);
  std::printf("generated tokens: %lld = %.1f tok/s\n", static_cast<long long>(m.tokens),
              static_cast<double>(m.tokens) / wall);
  std::printf("time to first token (ms): p50 %.1f  p90 %.1f  p99 %.1f\n", Percentile(m.ttft, 0.5),
              Percentile(m.ttft, 0.9), Percentile(m.ttft, 0.99));
  std::printf("inter-token latency (ms): p50 %.2f  p90 %.2f  p99 %.2f\n", Percentile(m.itl, 0.5),
              Percentile(m.itl, 0.9), Percentile(m.itl, 0.99));
  std::printf("end to end (ms):          p50 %.1f  p99 %.1f\n", Percentile(m.e2e, 0.5), Percentile(m.e2e, 0.99));
  for (const auto& [code, n] : m.errors) std::printf("errors %s: %lld\n", code.c_str(), static_cast<long long>(n));
  if (!m.refused.empty()) {
    std::printf("RESOURCE_EXHAUSTED answered in (ms): p50 %.2f  p99 %.2f  max %.2f\n", Percentile(m.refused, 0.5),
                Percentile(m.refused, 0.99), Percentile(m.refused, 1.0));
  }
}

StatusOr<Options> ParseOptions(const Flags& flags) {
  Options o;
  o.target = flags.Get("target");
  if (o.target.empty()) return InvalidArgumentError("--target is required");
  if (!IsLoopback(o.target)) {
    return InvalidArgumentError("--target must be a loopback address (127.0.0.1, localhost, ::1 or unix:): "
                                "this tool only loads servers on this machine");
  }
  RS_ASSIGN_OR_RETURN(int64_t c, flags.GetInt("concurrency", 0));
  if (c < 1 || c > 4096) return InvalidArgumentError("--concurrency must be in [1, 4096]");
  o.concurrency = static_cast<int>(c);
  if (flags.Has("requests") == flags.Has("duration")) {
    return InvalidArgumentError("give exactly one of --requests M or --duration S");
  }
  RS_ASSIGN_OR_RETURN(o.requests, flags.GetInt("requests", 0));
  RS_ASSIGN_OR_RETURN(o.duration, flags.GetDouble("duration", 0));
  if (flags.Has("requests") && (o.requests < 1 || o.requests > 10000000)) {
    return InvalidArgumentError("--requests must be in [1, 1e7]");
  }
  if (flags.Has("duration") && !(o.duration > 0 && o.duration <= 3600)) {
    return InvalidArgumentError("--duration must be in (0, 3600] seconds");
  }
  RS_ASSIGN_OR_RETURN(o.prompt_len, ParseRange(flags.Get("prompt-len", "16"), "--prompt-len", 1 << 20));
  RS_ASSIGN_OR_RETURN(o.gen, ParseRange(flags.Get("gen", "64"), "--gen", 1 << 20));
  RS_ASSIGN_OR_RETURN(o.vocab, flags.GetInt("vocab", 256));
  if (o.vocab < 1 || o.vocab > (1 << 24)) return InvalidArgumentError("--vocab must be in [1, 2^24]");
  RS_ASSIGN_OR_RETURN(int64_t seed, flags.GetInt("seed", 1));
  o.seed = static_cast<uint64_t>(seed);
  RS_ASSIGN_OR_RETURN(int64_t channels, flags.GetInt("channels", std::min(o.concurrency, 4)));
  if (channels < 1 || channels > 64) return InvalidArgumentError("--channels must be in [1, 64]");
  o.channels = static_cast<int>(channels);
  RS_ASSIGN_OR_RETURN(o.timeout, flags.GetDouble("timeout-seconds", 0));
  if (o.timeout < 0) return InvalidArgumentError("--timeout-seconds must be >= 0");
  RS_ASSIGN_OR_RETURN(double temperature, flags.GetDouble("temperature", 1.0));
  if (!(temperature >= 0 && temperature <= 100)) return InvalidArgumentError("--temperature must be in [0, 100]");
  o.temperature = static_cast<float>(temperature);
  RS_ASSIGN_OR_RETURN(int64_t backoff, flags.GetInt("backoff-ms", 0));
  if (backoff < 0 || backoff > 60000) return InvalidArgumentError("--backoff-ms must be in [0, 60000]");
  o.backoff_ms = static_cast<int>(backoff);
  o.model = flags.Get("model");
  o.api_key = flags.Get("api-key");
  return o;
}

}  // namespace

int RunLoadtest(int argc, char** argv) {
  Flags flags({"target", "concurrency", "requests", "duration", "prompt-len", "gen", "vocab", "model", "seed",
               "channels", "api-key", "tls-ca", "tls-cert", "tls-key", "timeout-seconds", "temperature", "backoff-ms"},
              {"json", "help"});
  if (Status s = flags.Parse(argc, argv, 2); !s.ok()) {
    Fail("loadtest", s);
    return 2;
  }
  if (flags.Has("help")) {
    std::fputs(kUsage, stdout);
    return 0;
  }
  auto opts = ParseOptions(flags);
  if (!opts.ok()) {
    Fail("loadtest", opts.status());
    return 2;
  }
  const Options& o = *opts;
  auto creds = ClientCredentials(flags);  // an unreadable or half-given TLS flag is a bad flag
  if (!creds.ok()) {
    Fail("loadtest", creds.status());
    return 2;
  }
  // Several HTTP/2 connections: one would serialize every stream's frames.
  std::vector<std::unique_ptr<v1::Inference::Stub>> stubs;
  for (int i = 0; i < o.channels; ++i) {
    grpc::ChannelArguments args;
    args.SetInt("rs.loadtest_channel", i);  // distinct arguments: distinct connections
    stubs.push_back(v1::Inference::NewStub(grpc::CreateCustomChannel(o.target, *creds, args)));
  }
  std::atomic<int64_t> sent{0};
  std::mutex mu;
  std::vector<Sample> all;
  const Clock::time_point start = Clock::now();
  const Clock::time_point stop_at =
      o.duration > 0 ? start + std::chrono::microseconds(static_cast<int64_t>(o.duration * 1e6)) : Clock::time_point::max();
  std::vector<std::thread> threads;
  for (int t = 0; t < o.concurrency; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937_64 rng(o.seed * 1000003 + static_cast<uint64_t>(t));
      v1::Inference::Stub& stub = *stubs[static_cast<size_t>(t % o.channels)];
      std::vector<Sample> mine;
      for (;;) {
        if (o.requests > 0 && sent.fetch_add(1) >= o.requests) break;
        if (Clock::now() >= stop_at) break;
        mine.push_back(RunOne(stub, o, rng));
        const grpc::StatusCode code = mine.back().code;
        if (o.backoff_ms > 0 &&
            (code == grpc::StatusCode::RESOURCE_EXHAUSTED || code == grpc::StatusCode::UNAVAILABLE)) {
          std::this_thread::sleep_for(std::chrono::milliseconds(o.backoff_ms));
        }
      }
      std::lock_guard<std::mutex> l(mu);
      all.insert(all.end(), mine.begin(), mine.end());
    });
  }
  for (auto& th : threads) th.join();
  const double wall = Seconds(start, Clock::now());
  const Summary m = Summarize(all);
  if (flags.Has("json")) {
    std::printf("%s\n", Json(o, wall, all.size(), m).c_str());
  } else {
    PrintText(o, wall, all.size(), m);
  }
  const bool any_through = std::any_of(all.begin(), all.end(), [](const Sample& s) {
    return s.code != grpc::StatusCode::UNAVAILABLE;
  });
  return any_through ? 0 : 1;
}

}  // namespace rs::cli
