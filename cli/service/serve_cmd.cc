// recurrent serve: the gRPC inference server (service/server.h), and
// recurrent keygen: a new API key and its key-file line. --help lists the
// flags. The server listens before it loads (health NOT_SERVING meanwhile),
// serves until SIGTERM or SIGINT, then drains: health NOT_SERVING, new RPCs
// UNAVAILABLE, the listener closed, streams in flight finish within
// --drain-seconds, exit 0.
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "cli/common.h"
#include "service/server.h"
#include "sessions/service/sessions_service.h"
#include "sessions/store/open_store.h"

namespace rs::cli {
namespace {

const char kServeUsage[] =
    "usage: recurrent serve [flags]\n"
    "\n"
    "models (each gets its own state pool and scheduler; the first is the default):\n"
    "  --model PATH | NAME=PATH   repeatable; without it, the embedded default model\n"
    "                             (RANDOM weights) is served as \"default\"\n"
    "  --tokenizer FILE           tokenizer for a single --model (default: beside it)\n"
    "  --threads N                CPU threads per model (0: all cores)   [0]\n"
    "  --device cpu|cuda|auto                                            [auto]\n"
    "  --mamba2-ssd-min-tokens N  Mamba-2 on the CPU: prefill chunks of >= N tokens in the\n"
    "                             chunked SSD form (not bitwise equal to steps; 0: never) [0]\n"
    "network:\n"
    "  --listen HOST:PORT         gRPC address (port 0: any free port)   [127.0.0.1:50051]\n"
    "  --metrics-listen HOST:PORT Prometheus /metrics ('' or off: none)  [127.0.0.1:9464]\n"
    "  --max-message-bytes N      largest request / response message     [16777216]\n"
    "  --keepalive-seconds S      ping idle connections this often       [30]\n"
    "security:\n"
    "  --tls-cert FILE --tls-key FILE   serve TLS (PEM)\n"
    "  --tls-client-ca FILE       require client certificates signed by this CA (mTLS)\n"
    "  --api-keys FILE            key hashes -> tenants (see `recurrent keygen`); without it\n"
    "                             authentication is OFF\n"
    "scheduling (per model):\n"
    "  --max-seqs N               concurrent sequences (state slots)     [64]\n"
    "  --max-queue N              waiting requests before RESOURCE_EXHAUSTED [256]\n"
    "  --max-step-tokens N        tokens per engine step                 [256]\n"
    "  --max-prompt-tokens N      longest prompt                         [65536]\n"
    "  --max-tokens-limit N       largest max_tokens a request may ask   [4096]\n"
    "  --max-slots-per-tenant N   slots one tenant may hold (0: no cap)  [0]\n"
    "  --swap-mib N               host memory for swapped-out states     [256]\n"
    "  --prefix-cache-mib N       kept prompt-prefix states              [256]\n"
    "  --session-cache-mib N      kept session states                    [256]\n"
    "sessions (recurrent.v1.Sessions; docs/sessions.md):\n"
    "  --sessions sqlite:PATH | postgres:CONNINFO | off   the session store\n"
    "                                                    [sqlite:recurrent-sessions.db]\n"
    "  --replica-id NAME          this replica in the store (unique per replica)\n"
    "                             [HOST:PORT, or HOST:pid-N with port 0]\n"
    "  --replica-lease-seconds S  a turn this replica leaves pending by dying blocks its\n"
    "                             session this long (heartbeat every S/3) [10]\n"
    "  --max-turns N              Sessions turns at once                 [32]\n"
    "operations:\n"
    "  --drain-seconds S          on SIGTERM: health NOT_SERVING, stop listening, streams\n"
    "                             in flight get this long to finish      [30]\n"
    "  --no-request-log           no JSON log line per request on stderr\n";

const char kKeygenUsage[] =
    "usage: recurrent keygen --tenant NAME [--max-concurrent N] [--models a,b]\n"
    "Prints a new random API key (give it to the client) and the line to add to the\n"
    "server's --api-keys file (it holds the key's SHA-256, never the key).\n";

struct ModelArg {
  std::string name, path;
};

StatusOr<std::vector<ModelArg>> ParseModels(const Flags& flags) {
  std::vector<ModelArg> out;
  for (const std::string& v : flags.GetAll("model")) {
    ModelArg m;
    const size_t eq = v.find('=');
    if (eq != std::string::npos && eq > 0 && v.find('/') > eq) {
      m.name = v.substr(0, eq);
      m.path = v.substr(eq + 1);
    } else {
      m.path = v;
      std::filesystem::path p(v);
      if (p.filename().empty()) p = p.parent_path();
      m.name = p.stem().string();
    }
    if (m.name.empty() || m.path.empty()) return InvalidArgumentError("--model wants PATH or NAME=PATH, got '" + v + "'");
    out.push_back(std::move(m));
  }
  if (out.size() > 1 && flags.Has("tokenizer")) {
    return InvalidArgumentError("--tokenizer applies to a single --model; put tokenizer.json beside each model");
  }
  return out;
}

std::string HostName() {
  char buf[256] = {};
  if (gethostname(buf, sizeof(buf) - 1) != 0 || buf[0] == '\0') return "localhost";
  return buf;
}

StatusOr<int64_t> IntFlag(const Flags& flags, const char* name, int64_t def, int64_t lo, int64_t hi) {
  RS_ASSIGN_OR_RETURN(int64_t v, flags.GetInt(name, def));
  if (v < lo || v > hi) {
    return InvalidArgumentError("--" + std::string(name) + " must be in [" + std::to_string(lo) + ", " +
                                std::to_string(hi) + "]");
  }
  return v;
}

Status RunServer(const Flags& flags) {
  // SIGTERM / SIGINT are taken by sigwait below: block them in every thread.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  RS_ASSIGN_OR_RETURN(std::vector<ModelArg> models, ParseModels(flags));
  scheduler::Options sched;
  service::ModelLimits limits;
  RS_ASSIGN_OR_RETURN(int64_t max_seqs, IntFlag(flags, "max-seqs", 64, 1, 65536));
  RS_ASSIGN_OR_RETURN(int64_t max_queue, IntFlag(flags, "max-queue", 256, 0, 1 << 20));
  RS_ASSIGN_OR_RETURN(sched.max_step_tokens, IntFlag(flags, "max-step-tokens", 256, 1, 1 << 20));
  RS_ASSIGN_OR_RETURN(limits.max_prompt_tokens, IntFlag(flags, "max-prompt-tokens", 65536, 1, 1 << 20));
  RS_ASSIGN_OR_RETURN(int64_t max_tokens_limit, IntFlag(flags, "max-tokens-limit", 4096, 1, 1 << 24));
  RS_ASSIGN_OR_RETURN(int64_t per_tenant, IntFlag(flags, "max-slots-per-tenant", 0, 0, 65536));
  RS_ASSIGN_OR_RETURN(int64_t swap_mib, IntFlag(flags, "swap-mib", 256, 0, 1 << 20));
  RS_ASSIGN_OR_RETURN(int64_t prefix_mib, IntFlag(flags, "prefix-cache-mib", 256, 0, 1 << 20));
  RS_ASSIGN_OR_RETURN(int64_t session_mib, IntFlag(flags, "session-cache-mib", 256, 0, 1 << 20));
  RS_ASSIGN_OR_RETURN(int64_t drain_s, IntFlag(flags, "drain-seconds", 30, 0, 86400));
  RS_ASSIGN_OR_RETURN(int64_t max_msg, IntFlag(flags, "max-message-bytes", 16 << 20, 1024, 1 << 30));
  RS_ASSIGN_OR_RETURN(int64_t keepalive_s, IntFlag(flags, "keepalive-seconds", 30, 1, 86400));
  sched.max_seqs = static_cast<int>(max_seqs);
  sched.max_queue = static_cast<int>(max_queue);
  sched.max_slots_per_tenant = static_cast<int>(per_tenant);
  sched.swap_bytes = static_cast<size_t>(swap_mib) << 20;
  sched.prefix_cache_bytes = static_cast<size_t>(prefix_mib) << 20;
  sched.session_cache_bytes = static_cast<size_t>(session_mib) << 20;
  limits.max_tokens_limit = static_cast<int32_t>(max_tokens_limit);

  service::ServerOptions opts;
  opts.listen = flags.Get("listen", "127.0.0.1:50051");
  opts.metrics_listen = flags.Get("metrics-listen", "127.0.0.1:9464");
  if (opts.metrics_listen == "off") opts.metrics_listen.clear();
  opts.tls_cert = flags.Get("tls-cert");
  opts.tls_key = flags.Get("tls-key");
  opts.tls_client_ca = flags.Get("tls-client-ca");
  opts.api_keys_file = flags.Get("api-keys");
  opts.max_message_bytes = static_cast<int>(max_msg);
  opts.keepalive_time_ms = static_cast<int>(keepalive_s * 1000);
  opts.request_log = flags.Has("no-request-log") ? nullptr : stderr;

  // The session store opens first (it outlives the server) and fails the
  // turns this replica's previous life left pending.
  std::unique_ptr<sessions::SessionStore> store;
  const std::string sessions_flag = flags.Get("sessions", "sqlite:recurrent-sessions.db");
  if (sessions_flag != "off") {
    RS_ASSIGN_OR_RETURN(int64_t max_turns, IntFlag(flags, "max-turns", 32, 1, 4096));
    RS_ASSIGN_OR_RETURN(store, sessions::OpenSessionStore(sessions_flag));
    sessions::SessionsServiceOptions so;
    // Default: host:port; with port 0 (any free one) host:pid-N, as a
    // restarted process cannot know its previous port.
    const std::string port = opts.listen.substr(opts.listen.rfind(':') + 1);
    so.owner = flags.Get("replica-id", HostName() + ":" + (port == "0" ? "pid-" + std::to_string(getpid()) : port));
    so.max_turns_in_flight = static_cast<int>(max_turns);
    RS_ASSIGN_OR_RETURN(int64_t lease_s, IntFlag(flags, "replica-lease-seconds", 10, 1, 3600));
    so.replica_lease_ms = lease_s * 1000;
    RS_ASSIGN_OR_RETURN(int64_t abandoned, store->FailPendingTurns(so.owner));
    std::fprintf(stderr, "recurrent serve: sessions in %s (%s)%s\n", sessions::RedactStoreSpec(sessions_flag).c_str(),
                 store->kind(),
                 abandoned > 0 ? (", " + std::to_string(abandoned) + " interrupted turn(s) marked failed").c_str() : "");
    opts.addon = sessions::SessionsAddonFactory(store.get(), so);
  }

  RS_ASSIGN_OR_RETURN(std::unique_ptr<service::Server> server, service::Server::Start(opts));
  const std::string host = opts.listen.substr(0, opts.listen.rfind(':'));
  const std::string where = host + ":" + std::to_string(server->port());
  std::fprintf(stderr, "recurrent serve: listening on %s (%s); loading, health checks say not serving yet\n", where.c_str(),
               server->tls_enabled() ? "TLS" : "plaintext");
  if (!server->auth_enabled()) {
    std::fprintf(stderr,
                 "recurrent serve: *** WARNING: AUTHENTICATION IS OFF: anyone who can reach %s may use it. ***\n"
                 "recurrent serve: *** Pass --api-keys FILE (see `recurrent keygen`) to require API keys.   ***\n",
                 where.c_str());
  }
  if (server->metrics_port() > 0) {
    const std::string mhost = opts.metrics_listen.substr(0, opts.metrics_listen.rfind(':'));
    std::fprintf(stderr, "recurrent serve: metrics on http://%s:%d/metrics (and /healthz)\n", mhost.c_str(),
                 server->metrics_port());
  }

  if (models.empty()) {
    RS_ASSIGN_OR_RETURN(std::string path, ResolveModelPath(flags));
    models.push_back({"default", path});
  }
  for (const ModelArg& m : models) {
    RS_ASSIGN_OR_RETURN(std::unique_ptr<engine::Model> model, LoadModelFromFlags(flags, m.path));
    auto tokenizer = ResolveTokenizer(flags, m.path, model->spec().vocab_size);
    if (!tokenizer.ok()) return tokenizer.status().WithPrefix(m.path);
    const engine::ModelSpec spec = model->spec();
    RS_RETURN_IF_ERROR(server->models().Add(m.name, std::move(model), std::move(*tokenizer), sched, limits));
    std::fprintf(stderr, "recurrent serve: model \"%s\": %s %s, %lld layers, d_model %lld, vocab %lld, %s, %d slots\n",
                 m.name.c_str(), engine::ArchName(spec.arch), spec.weight_dtype.c_str(),
                 static_cast<long long>(spec.n_layer), static_cast<long long>(spec.d_model),
                 static_cast<long long>(spec.vocab_size), spec.device.c_str(), sched.max_seqs);
  }
  server->SetServing();
  const int port = server->port();
  const std::string tls_flags = server->tls_enabled() ? " --tls-ca CA.pem" : "";
  const std::string key_flags = server->auth_enabled() ? " --api-key KEY" : "";
  std::fprintf(stderr,
               "recurrent serve: SERVING on port %d. Try:\n"
               "  build/release/cli/recurrent client --target %s%s%s --prompt \"Hello\" --max-tokens 32\n"
               "  grpcurl %s-d '{\"prompt\":\"Hello\",\"max_tokens\":32}' %s recurrent.v1.Inference/Generate\n",
               port, where.c_str(), tls_flags.c_str(), key_flags.c_str(),
               server->tls_enabled() ? "-cacert CA.pem " : "-plaintext ", where.c_str());
  if (store != nullptr) {
    std::fprintf(stderr, "  build/release/cli/recurrent chat --target %s%s%s    (a conversation; docs/sessions.md)\n",
                 where.c_str(), tls_flags.c_str(), key_flags.c_str());
  }

  int sig = 0;
  sigwait(&signals, &sig);
  std::fprintf(stderr, "recurrent serve: %s: draining (up to %lld s)\n", sig == SIGTERM ? "SIGTERM" : "SIGINT",
               static_cast<long long>(drain_s));
  const int left = server->Drain(std::chrono::seconds(drain_s));
  std::fprintf(stderr, "recurrent serve: stopped (%d stream%s cancelled at the drain deadline)\n", left,
               left == 1 ? "" : "s");
  return OkStatus();
}

}  // namespace

int RunServe(int argc, char** argv) {
  Flags flags({"model", "tokenizer", "threads", "device", "mamba2-ssd-min-tokens", "listen", "metrics-listen", "max-message-bytes",
               "keepalive-seconds", "tls-cert", "tls-key", "tls-client-ca", "api-keys", "max-seqs", "max-queue",
               "max-step-tokens", "max-prompt-tokens", "max-tokens-limit", "max-slots-per-tenant", "swap-mib",
               "prefix-cache-mib", "session-cache-mib", "drain-seconds", "sessions", "replica-id", "replica-lease-seconds", "max-turns"},
              {"no-request-log", "help"});
  if (Status s = flags.Parse(argc, argv, 2); !s.ok()) {
    Fail("serve", s);
    return 2;
  }
  if (flags.Has("help")) {
    std::fputs(kServeUsage, stdout);
    return 0;
  }
  if (Status s = RunServer(flags); !s.ok()) return Fail("serve", s);
  return 0;
}

int RunKeygen(int argc, char** argv) {
  Flags flags({"tenant", "max-concurrent", "models"}, {"help"});
  if (Status s = flags.Parse(argc, argv, 2); !s.ok()) {
    Fail("keygen", s);
    return 2;
  }
  if (flags.Has("help") || !flags.Has("tenant")) {
    std::fputs(kKeygenUsage, flags.Has("help") ? stdout : stderr);
    return flags.Has("help") ? 0 : 2;
  }
  const std::string tenant = flags.Get("tenant");
  if (tenant.empty() || tenant.find_first_of(" \t\n#") != std::string::npos) {
    return Fail("keygen", InvalidArgumentError("--tenant must be non-empty, without spaces or '#'"));
  }
  const std::string key = service::ApiKeys::NewKey();
  if (key.empty()) return Fail("keygen", InternalError("no random bytes"));
  std::string line = service::ApiKeys::HashKey(key) + " " + tenant;
  if (flags.Has("max-concurrent")) line += " max_concurrent=" + flags.Get("max-concurrent");
  if (flags.Has("models")) line += " models=" + flags.Get("models");
  if (auto check = service::ApiKeys::Parse(line); !check.ok()) return Fail("keygen", check.status());
  std::printf("key: %s\nkey-file line: %s\n", key.c_str(), line.c_str());
  return 0;
}

}  // namespace rs::cli
