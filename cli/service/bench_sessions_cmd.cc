// recurrent bench --sessions: what RecurrentGPT sessions cost (issue #6),
// measured over gRPC loopback against an in-process server with a SQLite
// store in a temporary folder.
//
//   recurrent bench --sessions --model PATH [--tokenizer FILE] [--threads N]
//     [--turns 20] [--reply-tokens 32] [--budget 64] [--history-tokens 2000]
//     [--ttft-runs 5] [--retrieval-k 3] [--json]
//
// 1. Per-turn overhead: `--turns` CHAT turns, each next to a plain Generate of
//    the same message and the same number of tokens (stateless, no memory).
//    Reported: p50/p99 of the whole turn, of the plain Generate, of the turn
//    minus its reply (the memory machinery and the store), and of each phase
//    (TurnResult.timings), plus the attempts the memory update used.
// 2. Time to first token after a ~`--history-tokens` conversation: a turn
//    continued from its snapshot (the server restarted first, so the state
//    comes from the store, not from memory) vs a plain Generate that re-reads
//    the whole history as text (what a server without kept states does) vs a
//    turn RecurrentGPT rebuilds from its text memory (a fork without the
//    snapshot). Medians of `--ttft-runs`.
#include <grpcpp/grpcpp.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <tuple>
#include <unistd.h>
#include <vector>

#include "cli/commands.h"
#include "cli/common.h"
#include "engine/util/json.h"
#include "recurrent/v1/inference.grpc.pb.h"
#include "recurrent/v1/sessions.grpc.pb.h"
#include "service/server.h"
#include "sessions/service/sessions_service.h"
#include "sessions/store/sqlite_store.h"

namespace rs::cli {
namespace {

namespace v1 = recurrent::v1;
using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point a, Clock::time_point b) { return std::chrono::duration<double>(b - a).count(); }

struct Options {
  int turns = 20, reply_tokens = 32, budget = 64, history_tokens = 2000, ttft_runs = 5, retrieval_k = 3;
  bool json = false;
};

// The server under test: model, store, Inference + Sessions.
class Bench {
 public:
  Status Start(const Flags& flags, const Options& o, const std::string& db) {
    RS_ASSIGN_OR_RETURN(path_, ResolveModelPath(flags));
    RS_ASSIGN_OR_RETURN(store_, sessions::SqliteSessionStore::Open(db));
    service::ServerOptions so;
    so.listen = "127.0.0.1:0";
    so.metrics_listen = "";
    so.request_log = nullptr;
    so.addon = sessions::SessionsAddonFactory(store_.get(), sessions::SessionsServiceOptions());
    RS_ASSIGN_OR_RETURN(server_, service::Server::Start(so));
    RS_ASSIGN_OR_RETURN(std::unique_ptr<engine::Model> model, LoadModelFromFlags(flags, path_));
    RS_ASSIGN_OR_RETURN(std::unique_ptr<engine::Tokenizer> tok,
                        ResolveTokenizer(flags, path_, model->spec().vocab_size));
    if (tok == nullptr) return InvalidArgumentError("sessions need a tokenizer (--tokenizer FILE)");
    scheduler::Options sched;
    sched.max_seqs = 8;
    service::ModelLimits limits;
    RS_RETURN_IF_ERROR(server_->models().Add("m", std::move(model), std::move(tok), sched, limits));
    server_->SetServing();
    auto channel = grpc::CreateChannel("127.0.0.1:" + std::to_string(server_->port()),
                                       grpc::InsecureChannelCredentials());
    sessions_ = v1::Sessions::NewStub(channel);
    inference_ = v1::Inference::NewStub(channel);
    return OkStatus();
  }
  void Stop() {
    sessions_.reset();
    inference_.reset();
    server_.reset();
    store_.reset();
  }

  StatusOr<v1::Session> Create(const Options& o, int max_reply) {
    grpc::ClientContext ctx;
    v1::CreateSessionRequest req;
    req.set_system_prompt("You are a helpful assistant. Answer briefly.");
    req.set_temperature(1.0f);
    req.set_max_reply_tokens(max_reply);
    req.mutable_memory()->set_short_term_budget_tokens(o.budget);
    req.mutable_memory()->set_retrieval_k(o.retrieval_k);
    v1::Session s;
    RS_RETURN_IF_ERROR(Check(sessions_->CreateSession(&ctx, req, &s)));
    return s;
  }

  StatusOr<v1::TurnResult> Turn(const std::string& id, const std::string& message) {
    grpc::ClientContext ctx;
    v1::TurnRequest req;
    req.set_session_id(id);
    req.set_message(message);
    auto reader = sessions_->Turn(&ctx, req);
    v1::TurnResponse resp;
    v1::TurnResult result;
    while (reader->Read(&resp)) {
      if (resp.has_result()) result = resp.result();
    }
    RS_RETURN_IF_ERROR(Check(reader->Finish()));
    return result;
  }

  // A plain stateless Generate; returns its final message.
  StatusOr<v1::GenerateFinal> Generate(const std::string& prompt, int max_tokens) {
    grpc::ClientContext ctx;
    v1::GenerateRequest req;
    req.set_prompt(prompt);
    req.set_max_tokens(max_tokens);
    req.set_ignore_eos(true);
    req.set_temperature(1.0f);
    req.set_skip_prefix_cache(true);
    auto reader = inference_->Generate(&ctx, req);
    v1::GenerateResponse resp;
    v1::GenerateFinal final_msg;
    while (reader->Read(&resp)) {
      if (resp.has_final()) final_msg = resp.final();
    }
    RS_RETURN_IF_ERROR(Check(reader->Finish()));
    return final_msg;
  }

  // Tokens of `text` under the served model's tokenizer.
  StatusOr<int64_t> CountTokens(const std::string& text) {
    grpc::ClientContext ctx;
    v1::TokenizeRequest req;
    req.set_text(text);
    v1::TokenizeResponse resp;
    RS_RETURN_IF_ERROR(Check(inference_->Tokenize(&ctx, req, &resp)));
    return static_cast<int64_t>(resp.token_ids_size());
  }

  StatusOr<v1::Session> Fork(const std::string& id, int64_t at) {
    grpc::ClientContext ctx;
    v1::ForkRequest req;
    req.set_session_id(id);
    req.set_at_turn(at);
    v1::Session s;
    RS_RETURN_IF_ERROR(Check(sessions_->Fork(&ctx, req, &s)));
    return s;
  }

  StatusOr<std::string> Export(const std::string& id) {
    grpc::ClientContext ctx;
    v1::ExportRequest req;
    req.set_session_id(id);
    v1::ExportResponse resp;
    RS_RETURN_IF_ERROR(Check(sessions_->Export(&ctx, req, &resp)));
    return resp.json();
  }

 private:
  static Status Check(const grpc::Status& s) {
    return s.ok() ? OkStatus() : Status(static_cast<StatusCode>(s.error_code()), s.error_message());
  }
  std::string path_;
  std::unique_ptr<sessions::SqliteSessionStore> store_;
  std::unique_ptr<service::Server> server_;
  std::unique_ptr<v1::Sessions::Stub> sessions_;
  std::unique_ptr<v1::Inference::Stub> inference_;
};

std::string Message(int i) {
  static const char* const kTopics[] = {"the weather in Lisbon", "a recipe for bread", "how tides work",
                                        "the history of chess", "learning the cello", "saving for a house"};
  return "Turn " + std::to_string(i) + ": tell me something about " + kTopics[i % 6] + ", please.";
}

json::Value Quantiles(const std::vector<double>& v) {
  json::Value o = json::Value::MakeObject();
  o.Set("p50", json::Value::Number(Percentile(v, 0.5)));
  o.Set("p99", json::Value::Number(Percentile(v, 0.99)));
  return o;
}

Status Run(const Flags& flags, const Options& o) {
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("recurrent-bench-sessions-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string db = (dir / "sessions.db").string();
  Bench b;
  RS_RETURN_IF_ERROR(b.Start(flags, o, db));
  json::Value out = json::Value::MakeObject();

  // 1. Per-turn overhead.
  RS_ASSIGN_OR_RETURN(v1::Session s, b.Create(o, o.reply_tokens));
  std::vector<double> turn, plain, overhead, begin, retrieval, reply, memory, embed, commit, attempts;
  for (int i = 0; i < o.turns; ++i) {
    const std::string msg = Message(i);
    const auto t0 = Clock::now();
    RS_ASSIGN_OR_RETURN(v1::TurnResult r, b.Turn(s.session_id(), msg));
    const auto t1 = Clock::now();
    RS_RETURN_IF_ERROR(b.Generate(msg, static_cast<int>(std::max<int64_t>(1, r.generated_tokens()))).status());
    const auto t2 = Clock::now();
    turn.push_back(Seconds(t0, t1));
    plain.push_back(Seconds(t1, t2));
    overhead.push_back(Seconds(t0, t1) - r.timings().reply_seconds());
    begin.push_back(r.timings().begin_seconds());
    retrieval.push_back(r.timings().retrieval_seconds());
    reply.push_back(r.timings().reply_seconds());
    memory.push_back(r.timings().memory_seconds());
    embed.push_back(r.timings().embed_seconds());
    commit.push_back(r.timings().commit_seconds());
    attempts.push_back(r.memory_attempts());
  }
  json::Value per_turn = json::Value::MakeObject();
  per_turn.Set("turns", json::Value::Int(o.turns));
  per_turn.Set("turn_s", Quantiles(turn));
  per_turn.Set("plain_generate_s", Quantiles(plain));
  per_turn.Set("turn_minus_reply_s", Quantiles(overhead));
  per_turn.Set("begin_s", Quantiles(begin));
  per_turn.Set("retrieval_s", Quantiles(retrieval));
  per_turn.Set("reply_s", Quantiles(reply));
  per_turn.Set("memory_update_s", Quantiles(memory));
  per_turn.Set("item_embed_s", Quantiles(embed));
  per_turn.Set("commit_s", Quantiles(commit));
  per_turn.Set("memory_attempts_p50", json::Value::Number(Percentile(attempts, 0.5)));
  out.Set("per_turn", std::move(per_turn));

  // 2. TTFT after a long conversation.
  RS_ASSIGN_OR_RETURN(v1::Session h, b.Create(o, 120));
  std::string history = "You are a helpful assistant. Answer briefly.\n\n";
  int64_t history_tokens = 0;
  int i = 0;
  while (history_tokens < o.history_tokens) {
    const std::string msg = Message(i++);
    RS_ASSIGN_OR_RETURN(v1::TurnResult r, b.Turn(h.session_id(), msg));
    history += "### User:\n" + msg + "\n\n### Assistant:\n" + r.reply() + "\n\n";
    RS_ASSIGN_OR_RETURN(history_tokens, b.CountTokens(history));  // the conversation as text
  }
  std::vector<double> continued, reread, rebuilt;
  for (int run = 0; run < o.ttft_runs; ++run) {
    b.Stop();  // the next turn's state comes from the store
    RS_RETURN_IF_ERROR(b.Start(flags, o, db));
    const std::string msg = Message(i++);
    RS_ASSIGN_OR_RETURN(v1::TurnResult r, b.Turn(h.session_id(), msg));
    if (r.rebuilt_from_text()) return InternalError("the continued turn was rebuilt from text");
    continued.push_back(r.time_to_first_token_seconds());
    RS_ASSIGN_OR_RETURN(v1::GenerateFinal g, b.Generate(history + "### User:\n" + msg + "\n\n### Assistant:\n", 8));
    reread.push_back(g.timings().time_to_first_token_seconds());
    history += "### User:\n" + msg + "\n\n### Assistant:\n" + r.reply() + "\n\n";
    RS_ASSIGN_OR_RETURN(v1::Session fork, b.Fork(h.session_id(), r.turn() - 1));  // no snapshot of that turn
    RS_ASSIGN_OR_RETURN(v1::TurnResult rb, b.Turn(fork.session_id(), msg));
    if (!rb.rebuilt_from_text()) return InternalError("the forked turn was not rebuilt");
    rebuilt.push_back(rb.time_to_first_token_seconds());
  }
  RS_ASSIGN_OR_RETURN(std::string exported, b.Export(h.session_id()));
  json::Value ttft = json::Value::MakeObject();
  ttft.Set("history_tokens", json::Value::Int(history_tokens));
  ttft.Set("runs", json::Value::Int(o.ttft_runs));
  ttft.Set("continued_from_snapshot_s", json::Value::Number(Percentile(continued, 0.5)));
  ttft.Set("reread_history_s", json::Value::Number(Percentile(reread, 0.5)));
  ttft.Set("rebuilt_from_text_memory_s", json::Value::Number(Percentile(rebuilt, 0.5)));
  ttft.Set("export_json_bytes", json::Value::Int(static_cast<int64_t>(exported.size())));
  out.Set("ttft_after_history", std::move(ttft));
  b.Stop();
  std::filesystem::remove_all(dir);

  if (o.json) {
    std::printf("%s\n", out.Dump().c_str());
    return OkStatus();
  }
  const json::Value& pt = *out.Find("per_turn");
  std::printf("per turn (%d turns, %d reply tokens, budget %d): p50 / p99 seconds\n", o.turns, o.reply_tokens,
              o.budget);
  for (const char* k : {"turn_s", "plain_generate_s", "turn_minus_reply_s", "begin_s", "retrieval_s", "reply_s",
                        "memory_update_s", "item_embed_s", "commit_s"}) {
    const json::Value& q = *pt.Find(k);
    std::printf("  %-20s %9.4f %9.4f\n", k, q.Find("p50")->AsDouble(), q.Find("p99")->AsDouble());
  }
  std::printf("  memory attempts p50: %.0f\n", Percentile(attempts, 0.5));
  const json::Value& t = *out.Find("ttft_after_history");
  std::printf("TTFT after %lld history tokens (median of %d):\n", static_cast<long long>(t.Find("history_tokens")->AsInt()),
              o.ttft_runs);
  std::printf("  continued from the stored snapshot  %.4f s\n", t.Find("continued_from_snapshot_s")->AsDouble());
  std::printf("  re-reading the history as text      %.4f s\n", t.Find("reread_history_s")->AsDouble());
  std::printf("  rebuilt from the text memory        %.4f s\n", t.Find("rebuilt_from_text_memory_s")->AsDouble());
  return OkStatus();
}

}  // namespace

int RunBenchSessions(int argc, char** argv) {
  Flags flags({"model", "tokenizer", "threads", "device", "turns", "reply-tokens", "budget", "history-tokens",
               "ttft-runs", "retrieval-k"},
              {"sessions", "json"});
  if (Status s = flags.Parse(argc, argv, 2); !s.ok()) return Fail("bench --sessions", s);
  Options o;
  o.json = flags.Has("json");
  for (auto [name, field, lo, hi] : std::vector<std::tuple<const char*, int*, int, int>>{
           {"turns", &o.turns, 1, 10000},
           {"reply-tokens", &o.reply_tokens, 1, 4096},
           {"budget", &o.budget, 16, 4096},
           {"history-tokens", &o.history_tokens, 1, 1 << 20},
           {"ttft-runs", &o.ttft_runs, 1, 1000},
           {"retrieval-k", &o.retrieval_k, 0, 32}}) {
    auto v = flags.GetInt(name, *field);
    if (!v.ok()) return Fail("bench --sessions", v.status());
    if (*v < lo || *v > hi) {
      return Fail("bench --sessions", InvalidArgumentError("--" + std::string(name) + " must be in [" +
                                                           std::to_string(lo) + ", " + std::to_string(hi) + "]"));
    }
    *field = static_cast<int>(*v);
  }
  if (Status s = Run(flags, o); !s.ok()) return Fail("bench --sessions", s);
  return 0;
}

}  // namespace rs::cli
