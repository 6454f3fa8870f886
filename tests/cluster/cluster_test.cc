// The local cluster (issue #7): three `recurrent serve` replicas sharing one
// PostgreSQL session store, nginx in front (deploy/nginx's template: sticky
// on x-session-id, round-robin without it), Prometheus scraping the three
// with deploy/prometheus/alerts.yml loaded. Every process is started here
// and stopped at the end; traffic only on loopback. The tests run in order
// on one cluster (one ctest test):
//   1. throughput through nginx (3 replicas) and one replica direct (printed;
//      a check of the routing overhead on a 2-core machine, not scaling);
//   2. sessions stick: all turns of a session land on one replica (metrics);
//   3. failover: kill -9 the replica holding two conversations, one of them
//      mid-turn; the next turns, through nginx, run on another replica from
//      the shared store with memory intact and nothing acknowledged lost
//      (the interrupted one once the dead replica's lease ran out);
//   4. drain: SIGTERM a replica during streams: they finish, new requests go
//      to the replica left; then nginx in front of that one replica versus
//      it direct (printed: the routing overhead alone);
//   5. the dashboard and the alert rules are proven: `promtool check rules`
//      passes and every PromQL expression of deploy/grafana's dashboard and
//      of the loaded alert rules (threshold stripped) returns finite data
//      from the live Prometheus; the replica-down alert fires for the killed
//      replica; the k8s ConfigMap's nginx.conf is the rendered template.
//
// Needs nginx and prometheus (Debian packages; scripts/lib.sh installs them)
// and PostgreSQL (pg_harness.h). RS_ALLOW_NO_CLUSTER=1 skips when missing.
// RS_CLUSTER_BENCH_SECONDS (default 3) sets the length of the throughput
// steps; RS_CLUSTER_MODEL / RS_CLUSTER_TOKENIZER serve another model.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <filesystem>
#include <functional>
#include <map>
#include <regex>
#include <set>

#include "recurrent/v1/inference.grpc.pb.h"
#include "recurrent/v1/sessions.grpc.pb.h"
#include "tests/cluster/cluster_harness.h"
#include "tests/service/serve_process.h"
#include "tests/sessions/pg_harness.h"

namespace rs::cluster::testing {
namespace {

namespace v1 = recurrent::v1;
using namespace std::chrono_literals;
using service::testing::ServeProcess;
using Clock = std::chrono::steady_clock;

constexpr int kReplicas = 3;
constexpr int kLeaseSeconds = 2;
constexpr int kMaxTokensLimit = 100000;  // each replica's --max-tokens-limit

double Seconds(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

bool HaveBinary(const char* name) {
  return std::system(("command -v " + std::string(name) + " > /dev/null 2>&1").c_str()) == 0;
}

// Something accepts TCP connections on the loopback port.
bool Listening(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<uint16_t>(port));
  const bool ok = connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0;
  close(fd);
  return ok;
}

// Sum of the samples of metric `name` whose labels contain every `filters` item.
double MetricSum(const std::string& text, const std::string& name, const std::vector<std::string>& filters = {}) {
  double sum = 0;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(name, 0) != 0 || (line.size() > name.size() && line[name.size()] != '{' && line[name.size()] != ' '))
      continue;
    bool match = true;
    for (const std::string& f : filters) match = match && line.find(f) != std::string::npos;
    if (match) sum += std::atof(line.substr(line.rfind(' ') + 1).c_str());
  }
  return sum;
}

struct Replica {
  std::string id;
  std::unique_ptr<ServeProcess> proc;
  int port = 0;
  int metrics_port = 0;
  bool alive = false;
  std::string address() const { return "127.0.0.1:" + std::to_string(port); }
  std::string Metrics() const { return HttpGet(metrics_port, "/metrics"); }
  double CommittedTurns() const {
    return MetricSum(Metrics(), "recurrent_session_turns_total", {"outcome=\"committed\""});
  }
  double GenerateRequests() const {
    return MetricSum(Metrics(), "recurrent_requests_total", {"method=\"Generate\""});
  }
};

struct Cluster {
  std::string dir;
  std::string pg_conninfo;
  std::vector<Replica> replicas;
  std::unique_ptr<ChildProcess> nginx, prometheus;
  int nginx_port = 0, prometheus_port = 0;
  std::shared_ptr<grpc::Channel> channel;  // through nginx
  std::string skip;                        // why the cluster could not start (with RS_ALLOW_NO_CLUSTER)
  // Session id -> the replica index its turns ran on (step 2).
  std::map<std::string, int> home;
  std::map<std::string, int64_t> turns;  // acknowledged turns per session
};

Cluster* g = nullptr;

std::string Source(const std::string& rel) { return std::string(RS_SOURCE_DIR) + "/" + rel; }

std::unique_ptr<grpc::ClientContext> Ctx(const std::string& session_id = "") {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(std::chrono::system_clock::now() + 120s);
  if (!session_id.empty()) ctx->AddMetadata("x-session-id", session_id);
  return ctx;
}

struct TurnAttempt {
  grpc::Status status;
  v1::TurnResult result;
  bool streamed = false;
};

// One turn through `stub`; `on_text` runs at the first streamed text.
TurnAttempt RunTurn(v1::Sessions::Stub& stub, const std::string& id, int64_t expected, const std::string& rid,
                    const std::function<void()>& on_text = nullptr) {
  v1::TurnRequest req;
  req.set_session_id(id);
  req.set_message("Message " + rid + ": tell me about the sea.");
  req.set_request_id(rid);
  req.set_expected_turn(expected);
  auto ctx = Ctx(id);
  auto reader = stub.Turn(ctx.get(), req);
  TurnAttempt a;
  v1::TurnResponse resp;
  while (reader->Read(&resp)) {
    if (resp.has_result()) {
      a.result = resp.result();
    } else if (!a.streamed) {
      a.streamed = true;
      if (on_text) on_text();
    }
  }
  a.status = reader->Finish();
  return a;
}

v1::Memory GetMemory(v1::Sessions::Stub& stub, const std::string& id) {
  v1::GetMemoryRequest req;
  req.set_session_id(id);
  v1::Memory m;
  auto ctx = Ctx(id);
  const grpc::Status s = stub.GetMemory(ctx.get(), req, &m);
  EXPECT_TRUE(s.ok()) << s.error_message();
  return m;
}

v1::GenerateRequest LongRequest(int max_tokens) {
  v1::GenerateRequest r;
  r.set_prompt("The sea was calm and");
  r.set_max_tokens(max_tokens);
  r.set_ignore_eos(true);
  r.set_temperature(1.0f);
  return r;
}

// Generate through `stub`; returns the tokens received (-1 on error).
int64_t GenerateTokens(v1::Inference::Stub& stub, const v1::GenerateRequest& req, const std::string& session = "",
                       grpc::Status* status = nullptr, std::atomic<int>* started = nullptr) {
  auto ctx = Ctx(session);
  auto reader = stub.Generate(ctx.get(), req);
  v1::GenerateResponse resp;
  int64_t n = 0;
  while (reader->Read(&resp)) {
    if (n == 0 && started != nullptr && resp.chunk().token_ids_size() > 0) ++*started;
    n += resp.chunk().token_ids_size();
  }
  const grpc::Status s = reader->Finish();
  if (status != nullptr) *status = s;
  return s.ok() ? n : -1;
}

class ClusterTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    g = new Cluster;
    const bool allow_skip = std::getenv("RS_ALLOW_NO_CLUSTER") != nullptr;
    for (const char* bin : {"nginx", "prometheus", "promtool"}) {
      if (!HaveBinary(bin)) {
        g->skip = std::string(bin) + " is not installed (scripts/lib.sh installs it)";
        if (!allow_skip) ADD_FAILURE() << g->skip;
        return;
      }
    }
    auto admin = sessions::testing::SharedPgServer().Start();
    if (!admin.ok()) {
      g->skip = admin.status().ToString();
      if (!allow_skip) ADD_FAILURE() << g->skip;
      return;
    }
    auto db = sessions::testing::CreateDatabase(*admin, "rs_cluster_" + std::to_string(getpid()));
    ASSERT_TRUE(db.ok()) << db.status().ToString();
    g->pg_conninfo = *db;
    g->dir = ::testing::TempDir() + "rs-cluster-" + std::to_string(getpid());
    std::filesystem::remove_all(g->dir);
    std::filesystem::create_directories(g->dir + "/nginx");
    std::filesystem::create_directories(g->dir + "/prometheus");
    // nginx's workers drop root privileges: let them write their temp files.
    chmod((g->dir + "/nginx").c_str(), 0777);

    // The replicas.
    std::vector<std::string> addresses, metrics_targets;
    // RS_CLUSTER_MODEL=DIR [RS_CLUSTER_TOKENIZER=FILE]: serve that model
    // instead of the small test model (for measurements).
    const char* model_env = std::getenv("RS_CLUSTER_MODEL");
    const char* tokenizer_env = std::getenv("RS_CLUSTER_TOKENIZER");
    const std::string model = model_env != nullptr ? "m=" + std::string(model_env) : "";
    for (int i = 0; i < kReplicas; ++i) {
      Replica r;
      r.id = "replica-" + std::to_string(i);
      std::vector<std::string> args = {
          "--sessions", "postgres:" + g->pg_conninfo, "--replica-id", r.id, "--replica-lease-seconds",
          std::to_string(kLeaseSeconds), "--metrics-listen", "127.0.0.1:0", "--max-seqs", "16",
          "--max-tokens-limit", std::to_string(kMaxTokensLimit), "--drain-seconds", "60", "--no-request-log"};
      if (tokenizer_env != nullptr) args.insert(args.end(), {"--tokenizer", tokenizer_env});
      r.proc = std::make_unique<ServeProcess>(args, model);
      r.port = r.proc->port();
      const std::string log = r.proc->log();
      const size_t at = log.find("metrics on http://127.0.0.1:");
      ASSERT_NE(at, std::string::npos) << log;
      r.metrics_port = std::atoi(log.c_str() + at + std::strlen("metrics on http://127.0.0.1:"));
      ASSERT_GT(r.port, 0);
      ASSERT_GT(r.metrics_port, 0);
      r.alive = true;
      addresses.push_back(r.address());
      metrics_targets.push_back("'127.0.0.1:" + std::to_string(r.metrics_port) + "'");
      g->replicas.push_back(std::move(r));
    }

    // nginx, from the deploy template.
    const std::string tmpl = ReadFile(Source("deploy/nginx/recurrent-serve.conf.template"));
    ASSERT_FALSE(tmpl.empty()) << "deploy/nginx/recurrent-serve.conf.template";
    g->nginx_port = FreePort();
    const std::string conf = g->dir + "/nginx/nginx.conf";
    ASSERT_TRUE(WriteFile(conf, RenderNginx(tmpl, "127.0.0.1:" + std::to_string(g->nginx_port), g->dir + "/nginx",
                                            addresses)));
    std::vector<std::string> nginx_argv = {"nginx", "-p", g->dir + "/nginx/", "-e", g->dir + "/nginx/error.log",
                                           "-c", conf, "-g", "daemon off;"};  // the template leaves it to us
    g->nginx = std::make_unique<ChildProcess>(nginx_argv, g->dir + "/nginx.log");

    // Prometheus: scrapes the replicas every second, the deploy alert rules loaded.
    g->prometheus_port = FreePort();
    std::string targets;
    for (size_t i = 0; i < metrics_targets.size(); ++i) targets += (i > 0 ? ", " : "") + metrics_targets[i];
    const std::string prom_conf = g->dir + "/prometheus/prometheus.yml";
    ASSERT_TRUE(WriteFile(prom_conf, "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
                                     "rule_files:\n  - '" +
                                         Source("deploy/prometheus/alerts.yml") +
                                         "'\n"
                                         "scrape_configs:\n  - job_name: recurrent-serve\n    static_configs:\n"
                                         "      - targets: [" +
                                         targets + "]\n"));
    g->prometheus = std::make_unique<ChildProcess>(
        std::vector<std::string>{"prometheus", "--config.file=" + prom_conf,
                                 "--storage.tsdb.path=" + g->dir + "/prometheus/data",
                                 "--web.listen-address=127.0.0.1:" + std::to_string(g->prometheus_port)},
        g->dir + "/prometheus.log");

    const auto t0 = Clock::now();
    int ready = 0;
    while (!(Listening(g->nginx_port) && (HttpGet(g->prometheus_port, "/-/ready", &ready), ready == 200)) &&
           Seconds(t0) < 60) {
      ASSERT_TRUE(g->nginx->Running()) << "nginx exited:\n"
                                       << g->nginx->log() << ReadFile(g->dir + "/nginx/error.log");
      ASSERT_TRUE(g->prometheus->Running()) << "prometheus exited:\n" << g->prometheus->log();
      std::this_thread::sleep_for(50ms);
    }
    ASSERT_TRUE(Listening(g->nginx_port)) << g->nginx->log();
    ASSERT_EQ(ready, 200) << g->prometheus->log();
    g->channel = grpc::CreateChannel("127.0.0.1:" + std::to_string(g->nginx_port), grpc::InsecureChannelCredentials());
  }

  static void TearDownTestSuite() {
    if (g == nullptr) return;
    const bool keep = ::testing::UnitTest::GetInstance()->Failed();
    if (keep && g->nginx != nullptr) std::fprintf(stderr, "nginx log:\n%s\n", g->nginx->log().c_str());
    g->channel.reset();
    g->nginx.reset();
    g->prometheus.reset();
    g->replicas.clear();
    if (!keep && !g->dir.empty()) std::filesystem::remove_all(g->dir);
    delete g;
    g = nullptr;
  }

  void SetUp() override {
    if (!g->skip.empty()) GTEST_SKIP() << g->skip;
    if (g->channel == nullptr) GTEST_FAIL() << "the cluster did not start";
  }

  v1::Sessions::Stub& Sessions() {
    if (sessions_ == nullptr) sessions_ = v1::Sessions::NewStub(g->channel);
    return *sessions_;
  }
  v1::Inference::Stub& Inference() {
    if (inference_ == nullptr) inference_ = v1::Inference::NewStub(g->channel);
    return *inference_;
  }
  std::vector<double> CommittedTurnsPerReplica() {
    std::vector<double> out;
    for (const Replica& r : g->replicas) out.push_back(r.alive ? r.CommittedTurns() : 0);
    return out;
  }
  std::string NewSession() {
    v1::CreateSessionRequest req;
    req.set_system_prompt("You are a sailor.");
    req.set_temperature(0.0f);
    req.set_max_reply_tokens(32);
    req.mutable_memory()->set_short_term_budget_tokens(32);
    req.mutable_memory()->set_retrieval_k(2);
    v1::Session s;
    auto ctx = Ctx();
    const grpc::Status st = Sessions().CreateSession(ctx.get(), req, &s);
    EXPECT_TRUE(st.ok()) << st.error_message();
    return s.session_id();
  }
  // Runs `n` turns of session `id` through nginx; returns the replica they
  // all ran on (-1 if they did not all run on one).
  int TurnsOnOneReplica(const std::string& id, int n) {
    const std::vector<double> before = CommittedTurnsPerReplica();
    for (int i = 0; i < n; ++i) {
      const int64_t k = g->turns[id];
      TurnAttempt a = RunTurn(Sessions(), id, k, id + "-" + std::to_string(k + 1));
      EXPECT_TRUE(a.status.ok()) << a.status.error_message();
      EXPECT_EQ(a.result.turn(), k + 1);
      if (a.status.ok()) g->turns[id] = k + 1;
    }
    const std::vector<double> after = CommittedTurnsPerReplica();
    int home = -1, replicas_used = 0;
    for (int r = 0; r < kReplicas; ++r) {
      const double d = after[r] - before[r];
      if (d > 0) {
        ++replicas_used;
        if (d == n) home = r;
      }
    }
    return replicas_used == 1 ? home : -1;
  }

 private:
  std::unique_ptr<v1::Sessions::Stub> sessions_;
  std::unique_ptr<v1::Inference::Stub> inference_;
};

// Clients streaming Generate for `seconds` against `stub`; tokens per second.
double Throughput(const std::shared_ptr<grpc::Channel>& channel, int clients, double seconds) {
  std::atomic<int64_t> tokens{0};
  std::atomic<int> errors{0};
  std::vector<std::thread> threads;
  const auto t0 = Clock::now();
  for (int c = 0; c < clients; ++c) {
    threads.emplace_back([&] {
      auto stub = v1::Inference::NewStub(channel);
      while (Seconds(t0) < seconds) {
        const int64_t n = GenerateTokens(*stub, LongRequest(64));
        if (n < 0) ++errors; else tokens += n;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(errors.load(), 0);
  return static_cast<double>(tokens.load()) / Seconds(t0);
}

constexpr int kClients = 12;

// Seconds per throughput run (RS_CLUSTER_BENCH_SECONDS, default 3).
double BenchSeconds() {
  const char* env = std::getenv("RS_CLUSTER_BENCH_SECONDS");
  return env != nullptr ? std::atof(env) : 3.0;
}

// Medians of 3 runs of Throughput through nginx and direct to `replica`,
// alternated so that drift on a noisy machine hits both alike.
std::pair<double, double> NginxAndDirect(const Replica& replica) {
  auto direct = grpc::CreateChannel(replica.address(), grpc::InsecureChannelCredentials());
  std::vector<double> via_nginx, one_direct;
  for (int round = 0; round < 3; ++round) {
    via_nginx.push_back(Throughput(g->channel, kClients, BenchSeconds()));
    one_direct.push_back(Throughput(direct, kClients, BenchSeconds()));
  }
  std::sort(via_nginx.begin(), via_nginx.end());
  std::sort(one_direct.begin(), one_direct.end());
  EXPECT_GT(via_nginx[1], 0);
  EXPECT_GT(one_direct[1], 0);
  return {via_nginx[1], one_direct[1]};
}

TEST_F(ClusterTest, ThroughputThroughNginxAndOneReplicaDirect) {
  const auto [nginx, direct] = NginxAndDirect(g->replicas[0]);
  std::printf("throughput, %d clients, Generate 64 tokens, median of 3 x %.0f s: nginx + %d replicas %.0f tok/s, "
              "one replica direct %.0f tok/s (ratio %.2f)\n",
              kClients, BenchSeconds(), kReplicas, nginx, direct, nginx / direct);
  // Round-robin spread the requests over every replica.
  for (const Replica& r : g->replicas) EXPECT_GT(r.GenerateRequests(), 0) << r.id;
}

TEST_F(ClusterTest, AllTurnsOfASessionLandOnOneReplica) {
  std::set<int> homes;
  for (int s = 0; s < 6; ++s) {
    const std::string id = NewSession();
    ASSERT_FALSE(id.empty());
    const int home = TurnsOnOneReplica(id, 3);
    EXPECT_GE(home, 0) << "session " << id << "'s turns ran on more than one replica";
    g->home[id] = home;
    homes.insert(home);
  }
  // Consistent hashing spreads sessions: six of them use more than one replica.
  EXPECT_GT(homes.size(), 1u);
}

TEST_F(ClusterTest, KillNineMidConversationFailsOverToAnotherReplica) {
  // Two sessions at home on one replica (more sessions until one has two).
  std::map<int, std::vector<std::string>> by_home;
  for (const auto& [id, home] : g->home)
    if (home >= 0) by_home[home].push_back(id);
  int victim = -1;
  for (int extra = 0; victim < 0 && extra < 30; ++extra) {
    for (const auto& [home, ids] : by_home)
      if (ids.size() >= 2) victim = home;
    if (victim >= 0) break;
    const std::string id = NewSession();
    const int home = TurnsOnOneReplica(id, 1);
    ASSERT_GE(home, 0);
    g->home[id] = home;
    by_home[home].push_back(id);
  }
  ASSERT_GE(victim, 0);
  const std::string idle = by_home[victim][0], busy = by_home[victim][1];
  const v1::Memory idle_before = GetMemory(Sessions(), idle), busy_before = GetMemory(Sessions(), busy);
  ASSERT_GT(idle_before.long_term_size(), 0);

  // kill -9 the replica while `busy` streams its reply.
  Replica& dead = g->replicas[victim];
  const int64_t busy_acked = g->turns[busy];
  const std::string busy_rid = busy + "-" + std::to_string(busy_acked + 1);
  Clock::time_point killed_at;
  TurnAttempt interrupted = RunTurn(Sessions(), busy, busy_acked, busy_rid, [&] {
    ASSERT_EQ(kill(dead.proc->pid(), SIGKILL), 0);
    killed_at = Clock::now();
  });
  dead.proc->Wait();
  dead.alive = false;
  ASSERT_TRUE(interrupted.streamed) << "the turn streamed nothing before it ended";
  EXPECT_FALSE(interrupted.status.ok()) << "the killed replica's turn ended OK";

  // The idle conversation's next turn: another replica, from the store.
  const std::vector<double> before = CommittedTurnsPerReplica();
  TurnAttempt next = RunTurn(Sessions(), idle, g->turns[idle], idle + "-" + std::to_string(g->turns[idle] + 1));
  const double idle_failover = Seconds(killed_at);
  ASSERT_TRUE(next.status.ok()) << next.status.error_message();
  EXPECT_EQ(next.result.turn(), g->turns[idle] + 1) << "an acknowledged turn was lost or repeated";
  EXPECT_FALSE(next.result.rebuilt_from_text()) << "the new replica did not continue from the snapshot";
  g->turns[idle] += 1;
  const std::vector<double> after = CommittedTurnsPerReplica();
  int served_by = -1;
  for (int r = 0; r < kReplicas; ++r)
    if (after[r] > before[r]) served_by = r;
  EXPECT_GE(served_by, 0);
  EXPECT_NE(served_by, victim);

  // The interrupted turn, retried with its request id: ABORTED while the dead
  // replica's lease runs (its turn is still pending), then it runs.
  TurnAttempt retry;
  int aborted = 0;
  for (;;) {
    retry = RunTurn(Sessions(), busy, busy_acked, busy_rid);
    if (retry.status.error_code() != grpc::StatusCode::ABORTED || Seconds(killed_at) > 60) break;
    ++aborted;
    std::this_thread::sleep_for(100ms);
  }
  const double busy_failover = Seconds(killed_at);
  ASSERT_TRUE(retry.status.ok()) << retry.status.error_message();
  EXPECT_EQ(retry.result.turn(), busy_acked + 1);
  g->turns[busy] = busy_acked + 1;
  std::printf("failover: kill -9 to the next successful turn %.3f s (idle session), %.3f s (session whose turn "
              "was interrupted; %d ABORTED retries while the %d s lease ran)\n",
              idle_failover, busy_failover, aborted, kLeaseSeconds);

  // Memory intact: every item from before, plus one per new turn; nothing acknowledged lost.
  for (const auto& [id, before_mem] : {std::pair{idle, idle_before}, std::pair{busy, busy_before}}) {
    const v1::Memory now = GetMemory(Sessions(), id);
    ASSERT_EQ(now.long_term_size(), before_mem.long_term_size() + 1) << id;
    for (int i = 0; i < before_mem.long_term_size(); ++i) {
      EXPECT_EQ(now.long_term(i).id(), before_mem.long_term(i).id());
      EXPECT_EQ(now.long_term(i).text(), before_mem.long_term(i).text());
    }
    v1::GetSessionRequest gs;
    gs.set_session_id(id);
    v1::Session s;
    auto ctx = Ctx(id);
    ASSERT_TRUE(Sessions().GetSession(ctx.get(), gs, &s).ok());
    EXPECT_EQ(s.turns(), g->turns[id]) << id;
  }
}

TEST_F(ClusterTest, SigtermDrainsStreamsWhileNewRequestsGoElsewhere) {
  std::vector<int> alive;
  for (int r = 0; r < kReplicas; ++r)
    if (g->replicas[r].alive) alive.push_back(r);
  ASSERT_EQ(alive.size(), 2u);
  Replica& draining = g->replicas[alive[0]];
  Replica& other = g->replicas[alive[1]];

  // Long streams through nginx, round-robin over the two replicas, long
  // enough to outlast the checks below (about 1.5 s after the SIGTERM) on any
  // machine: 5 s of one lone stream's rate, measured here with the same
  // request, and never fewer than 20,000 tokens (RS_CLUSTER_DRAIN_TOKENS sets
  // the length instead, e.g. for a slower model), nor more than the replicas'
  // limit. A fixed 20,000 was too short on a Zen 5 host: the drained replica's
  // streams ended and it exited before its metrics were read.
  const char* tokens_env = std::getenv("RS_CLUSTER_DRAIN_TOKENS");
  constexpr int kStreams = 6;
  int tokens = 0;
  if (tokens_env != nullptr) {
    tokens = std::atoi(tokens_env);
  } else {
    constexpr int kProbe = 2000;
    const auto p0 = Clock::now();
    ASSERT_EQ(GenerateTokens(Inference(), LongRequest(kProbe)), kProbe);
    tokens = static_cast<int>(std::clamp(kProbe / Seconds(p0) * 5.0, 20000.0, double{kMaxTokensLimit}));
  }
  std::vector<int64_t> got(kStreams, 0);
  std::vector<grpc::Status> status(kStreams);
  std::atomic<int> started{0};
  std::vector<std::thread> streams;
  // Joins the streams however the test leaves (an ASSERT below would
  // otherwise destroy joinable threads: std::terminate, replicas orphaned).
  struct JoinAll {
    std::vector<std::thread>& threads;
    ~JoinAll() {
      for (auto& t : threads)
        if (t.joinable()) t.join();
    }
  } join_all{streams};
  for (int i = 0; i < kStreams; ++i) {
    streams.emplace_back([&, i] {
      auto stub = v1::Inference::NewStub(g->channel);
      got[i] = GenerateTokens(*stub, LongRequest(tokens), "", &status[i], &started);
    });
  }
  const auto t0 = Clock::now();
  while (started.load() < kStreams && Seconds(t0) < 60) std::this_thread::sleep_for(5ms);
  ASSERT_EQ(started.load(), kStreams);
  const double running = MetricSum(draining.Metrics(), "recurrent_num_requests_running");
  ASSERT_GT(running, 0) << "no stream runs on the replica to drain";
  // Prompt tokens (computed or restored) count each new request on the replica
  // that serves it, when it starts (finished-request counters would also
  // count the long streams ending meanwhile).
  auto prompt_tokens = [](const std::string& metrics) {
    return MetricSum(metrics, "recurrent_prompt_tokens_total") +
           MetricSum(metrics, "recurrent_cached_tokens_total");
  };
  const double draining_before = prompt_tokens(draining.Metrics());
  const double other_before = prompt_tokens(other.Metrics());

  ASSERT_EQ(kill(draining.proc->pid(), SIGTERM), 0);
  // After the drain notice it stops listening: new requests go to the other replica.
  std::this_thread::sleep_for(service::kDrainNotice + 500ms);
  constexpr int kNew = 6, kPrompt = 7;
  v1::GenerateRequest fresh = LongRequest(8);
  for (int t = 0; t < kPrompt; ++t) fresh.mutable_token_ids()->add_ids(40 + t);
  for (int i = 0; i < kNew; ++i) {
    grpc::Status s;
    EXPECT_EQ(GenerateTokens(Inference(), fresh, "", &s), 8) << s.error_message();
  }
  EXPECT_EQ(prompt_tokens(other.Metrics()) - other_before, kNew * kPrompt)
      << "new requests did not all go to the other replica";
  const std::string draining_after = draining.Metrics();
  ASSERT_FALSE(draining_after.empty()) << "the drained replica exited before the checks: streams of " << tokens
                                       << " tokens ended too soon (RS_CLUSTER_DRAIN_TOKENS)";
  EXPECT_EQ(prompt_tokens(draining_after) - draining_before, 0) << "a new request reached the draining replica";
  for (auto& t : streams) t.join();
  for (int i = 0; i < kStreams; ++i) {
    EXPECT_TRUE(status[i].ok()) << "stream " << i << ": " << status[i].error_message();
    EXPECT_EQ(got[i], tokens) << "stream " << i;
  }
  EXPECT_EQ(draining.proc->Wait(), 0) << draining.proc->log();
  draining.alive = false;
  std::printf("drain: %.0f streams in flight on the drained replica finished; %d new requests went to the other "
              "one\n",
              running, kNew);
}

// One replica left: nginx in front of it versus it direct, side by side.
TEST_F(ClusterTest, RoutingOverheadWithOneReplicaLeft) {
  const Replica* left = nullptr;
  for (const Replica& r : g->replicas)
    if (r.alive) left = &r;
  ASSERT_NE(left, nullptr);
  const auto [nginx, direct] = NginxAndDirect(*left);
  std::printf("routing overhead, one replica, %d clients, median of 3 x %.0f s: through nginx %.0f tok/s, direct "
              "%.0f tok/s (ratio %.2f)\n",
              kClients, BenchSeconds(), nginx, direct, nginx / direct);
}

// A Prometheus instant query; the values of its result (empty: no data).
std::vector<double> PromQuery(const std::string& expr, std::string* raw = nullptr) {
  const std::string body = HttpGet(g->prometheus_port, "/api/v1/query?query=" + UrlEncode(expr));
  if (raw != nullptr) *raw = body;
  return PromValues(body);
}

bool AnyFinite(const std::vector<double>& v) {
  for (double x : v)
    if (std::isfinite(x)) return true;
  return false;
}

// PromQuery until it returns finite data, up to 5 tries a second apart: a
// scrape that failed (a replica busy past the scrape timeout) marks its
// series stale until the next one succeeds.
bool FiniteSoon(const std::string& expr, std::string* raw) {
  for (int attempt = 0; attempt < 5; ++attempt) {
    if (attempt > 0) std::this_thread::sleep_for(1s);
    if (AnyFinite(PromQuery(expr, raw))) return true;
  }
  return false;
}

TEST_F(ClusterTest, EveryDashboardAndAlertExpressionReturnsLiveData) {
  const std::string rules = Source("deploy/prometheus/alerts.yml");
  EXPECT_EQ(std::system(("promtool check rules " + rules + " > /dev/null").c_str()), 0) << "promtool check rules";

  // Fresh traffic on the replica left: streams, a session turn, a kept
  // state continued (a state-cache hit), and errors by code.
  Replica* left = nullptr;
  for (Replica& r : g->replicas)
    if (r.alive) left = &r;
  ASSERT_NE(left, nullptr);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(GenerateTokens(Inference(), LongRequest(32)), 32);
  const std::string sid = g->home.begin()->first;
  ASSERT_TRUE(RunTurn(Sessions(), sid, g->turns[sid], sid + "-dash").status.ok());
  g->turns[sid] += 1;
  v1::GenerateRequest keep = LongRequest(4);
  keep.set_session_id("dash-kept");
  keep.set_new_session(true);
  EXPECT_EQ(GenerateTokens(Inference(), keep, "dash-kept"), 4);
  keep.set_new_session(false);
  keep.set_prompt(" and then");
  EXPECT_EQ(GenerateTokens(Inference(), keep, "dash-kept"), 4);
  grpc::Status bad;
  v1::GenerateRequest empty;
  EXPECT_EQ(GenerateTokens(Inference(), empty, "", &bad), -1);
  EXPECT_EQ(bad.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  // Two scrapes and a rule evaluation after the traffic.
  std::this_thread::sleep_for(3s);

  // The alert rules as Prometheus loaded them.
  const std::string loaded = HttpGet(g->prometheus_port, "/api/v1/rules?type=alert");
  // data.groups[].rules[]: each rule's name and query.
  std::vector<std::string> alert_names, alert_exprs;
  auto rules_json = json::Parse(loaded);
  ASSERT_TRUE(rules_json.ok()) << loaded;
  const json::Value* data = rules_json->Find("data");
  const json::Value* groups = data != nullptr ? data->Find("groups") : nullptr;
  ASSERT_TRUE(groups != nullptr && groups->is_array()) << loaded;
  for (const json::Value& group : groups->AsArray()) {
    const json::Value* rules = group.Find("rules");
    if (rules == nullptr || !rules->is_array()) continue;
    for (const json::Value& rule : rules->AsArray()) {
      const json::Value* name = rule.Find("name");
      const json::Value* query = rule.Find("query");
      ASSERT_TRUE(name != nullptr && name->is_string() && query != nullptr && query->is_string()) << loaded;
      alert_names.push_back(name->AsString());
      alert_exprs.push_back(query->AsString());
    }
  }
  ASSERT_GE(alert_exprs.size(), 5u) << loaded;
  const std::regex threshold(R"(\s*(>=|<=|==|!=|>|<)\s*[-+0-9.eE]+\s*$)");
  std::string replica_down;
  for (size_t i = 0; i < alert_exprs.size(); ++i) {
    const std::string lhs = std::regex_replace(alert_exprs[i], threshold, "");
    std::string raw;
    EXPECT_TRUE(FiniteSoon(lhs, &raw)) << "alert expression returns no finite data: " << lhs << "\n" << raw;
    if (alert_exprs[i].find("up{") != std::string::npos && i < alert_names.size()) replica_down = alert_names[i];
  }
  // The killed replica is down: the replica-down alert is pending or firing.
  ASSERT_FALSE(replica_down.empty()) << "no alert on up{...}:\n" << loaded;
  const std::string alerts = HttpGet(g->prometheus_port, "/api/v1/alerts");
  const std::vector<std::string> active = JsonStringsOfKey(alerts, "alertname");
  EXPECT_NE(std::find(active.begin(), active.end(), replica_down), active.end()) << alerts;

  // Every panel expression of the dashboard, its variables set to "all".
  const std::string dashboard = ReadFile(Source("deploy/grafana/recurrent-serve.json"));
  ASSERT_FALSE(dashboard.empty());
  const std::vector<std::string> exprs = JsonStringsOfKey(dashboard, "expr");
  ASSERT_GE(exprs.size(), 10u);
  int evaluated = 0;
  for (std::string e : exprs) {
    for (const auto& [from, to] : std::vector<std::pair<std::string, std::string>>{{"${model}", ".*"},
                                                                                   {"$model", ".*"},
                                                                                   {"${instance}", ".*"},
                                                                                   {"$instance", ".*"},
                                                                                   {"$__rate_interval", "1m"},
                                                                                   {"$__interval", "1m"}}) {
      for (size_t at = e.find(from); at != std::string::npos; at = e.find(from, at + to.size())) e.replace(at, from.size(), to);
    }
    EXPECT_EQ(e.find('$'), std::string::npos) << "an unknown variable in " << e;
    std::string raw;
    EXPECT_TRUE(FiniteSoon(e, &raw)) << "dashboard expression returns no finite data: " << e << "\n" << raw;
    ++evaluated;
  }
  std::printf("prometheus: %zu alert expressions and %d dashboard expressions evaluated, all with live data; "
              "alert %s active for the killed replica\n",
              alert_exprs.size(), evaluated, replica_down.c_str());
}

TEST_F(ClusterTest, KubernetesNginxConfigIsTheRenderedTemplate) {
  const std::string tmpl = ReadFile(Source("deploy/nginx/recurrent-serve.conf.template"));
  std::string manifest;
  for (const auto& f : std::filesystem::directory_iterator(Source("deploy/k8s"))) {
    const std::string text = ReadFile(f.path().string());
    if (text.find("nginx.conf: |") != std::string::npos) manifest = text;
  }
  ASSERT_FALSE(manifest.empty()) << "no ConfigMap with nginx.conf in deploy/k8s";
  // The block scalar: the lines after "nginx.conf: |", as indented as its first line.
  const size_t key = manifest.find("nginx.conf: |");
  const std::string rest = manifest.substr(manifest.find('\n', key) + 1);
  const std::string indent(rest.find_first_not_of(' '), ' ');
  ASSERT_GT(indent.size(), 0u);
  std::istringstream in(rest);
  std::string line, block;
  while (std::getline(in, line)) {
    if (!line.empty() && line.rfind(indent, 0) != 0) break;
    block += (line.empty() ? "" : line.substr(indent.size())) + "\n";
  }
  while (block.size() > 1 && block[block.size() - 2] == '\n') block.pop_back();
  std::vector<std::string> pods;
  for (int i = 0; i < kReplicas; ++i)
    pods.push_back("recurrent-serve-" + std::to_string(i) + ".recurrent-serve-headless:50051");
  std::string want = RenderNginx(tmpl, "0.0.0.0:8080", "/tmp/nginx", pods);
  while (want.size() > 1 && want[want.size() - 2] == '\n') want.pop_back();
  EXPECT_EQ(block, want);
}

}  // namespace
}  // namespace rs::cluster::testing
