#include "service/server.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>

#include <google/protobuf/stubs/logging.h>

#include <algorithm>

#include "engine/util/file.h"

namespace rs::service {

namespace {

const char kServiceName[] = "recurrent.v1.Inference";

StatusOr<std::shared_ptr<grpc::ServerCredentials>> Credentials(const ServerOptions& o, bool* tls) {
  *tls = false;
  if (o.tls_cert.empty() != o.tls_key.empty()) {
    return InvalidArgumentError("--tls-cert and --tls-key go together");
  }
  if (o.tls_cert.empty()) {
    if (!o.tls_client_ca.empty()) return InvalidArgumentError("--tls-client-ca needs --tls-cert and --tls-key");
    return grpc::InsecureServerCredentials();
  }
  grpc::SslServerCredentialsOptions ssl(o.tls_client_ca.empty()
                                            ? GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE
                                            : GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  grpc::SslServerCredentialsOptions::PemKeyCertPair pair;
  RS_ASSIGN_OR_RETURN(pair.private_key, ReadFileBounded(o.tls_key, kMaxPemBytes, "TLS key"));
  RS_ASSIGN_OR_RETURN(pair.cert_chain, ReadFileBounded(o.tls_cert, kMaxPemBytes, "TLS certificate"));
  ssl.pem_key_cert_pairs.push_back(std::move(pair));
  if (!o.tls_client_ca.empty()) {
    RS_ASSIGN_OR_RETURN(ssl.pem_root_certs, ReadFileBounded(o.tls_client_ca, kMaxPemBytes, "client CA"));
  }
  *tls = true;
  return grpc::SslServerCredentials(ssl);
}

}  // namespace

// Clients may send strings with invalid UTF-8 (the service answers
// INVALID_ARGUMENT); protobuf's log line for each would let anyone flood the
// log, so those lines are dropped. Other protobuf messages still print.
void ProtobufLog(google::protobuf::LogLevel level, const char* file, int line, const std::string& message) {
  if (message.find("invalid UTF-8") != std::string::npos) return;
  static const char* const kLevels[] = {"INFO", "WARNING", "ERROR", "FATAL"};
  std::fprintf(stderr, "[libprotobuf %s %s:%d] %s\n", kLevels[std::clamp(static_cast<int>(level), 0, 3)], file, line,
               message.c_str());
}

StatusOr<std::unique_ptr<Server>> Server::Start(const ServerOptions& options) {
  google::protobuf::SetLogHandler(&ProtobufLog);
  std::unique_ptr<Server> s(new Server());
  s->options_ = options;
  if (options.max_message_bytes < 1024) return InvalidArgumentError("--max-message-bytes must be >= 1024");
  if (!options.api_keys_file.empty()) {
    RS_ASSIGN_OR_RETURN(ApiKeys keys, ApiKeys::Load(options.api_keys_file));
    if (keys.size() == 0) return InvalidArgumentError(options.api_keys_file + " holds no key");
    s->keys_ = std::make_unique<ApiKeys>(std::move(keys));
  }
  RS_ASSIGN_OR_RETURN(std::shared_ptr<grpc::ServerCredentials> creds, Credentials(options, &s->tls_));
  s->metrics_ = std::make_unique<ServiceMetrics>();
  s->models_ = std::make_unique<ModelRegistry>(s->metrics_.get());
  s->log_ = std::make_unique<RequestLog>(options.request_log);
  s->service_ = std::make_unique<InferenceService>(s->models_.get(), s->metrics_.get(), s->keys_.get(), s->log_.get());
  s->service_->SetAccepting(false, "loading");

  if (!options.metrics_listen.empty()) {
    ServiceMetrics* metrics = s->metrics_.get();
    InferenceService* service = s->service_.get();
    RS_ASSIGN_OR_RETURN(s->metrics_http_,
                        MetricsHttpServer::Start(
                            options.metrics_listen, [metrics] { return metrics->Serialize(); },
                            [service] { return service->accepting(); }));
    s->metrics_port_ = s->metrics_http_->port();
  }

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  builder.AddListeningPort(options.listen, creds, &s->port_);
  builder.RegisterService(s->service_.get());
  if (options.addon) {
    RS_ASSIGN_OR_RETURN(s->addon_, options.addon(s->models_.get(), s->service_.get(), s->log_.get(), s->metrics_.get()));
    builder.RegisterService(s->addon_->service());
  }
  builder.SetMaxReceiveMessageSize(options.max_message_bytes);
  builder.SetMaxSendMessageSize(options.max_message_bytes);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, options.keepalive_time_ms);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, options.keepalive_timeout_ms);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS,
                             options.min_client_ping_interval_ms);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MAX_PING_STRIKES, 2);
  s->server_ = builder.BuildAndStart();
  if (s->server_ == nullptr || s->port_ == 0) {
    return UnavailableError("cannot listen on " + options.listen + " (address in use, or not host:port?)");
  }
  grpc::HealthCheckServiceInterface* health = s->server_->GetHealthCheckService();
  health->SetServingStatus(false);
  health->SetServingStatus(kServiceName, false);
  if (s->addon_ != nullptr) health->SetServingStatus(s->addon_->health_name(), false);
  return s;
}

Server::~Server() { Shutdown(); }

void Server::SetServing() {
  std::lock_guard<std::mutex> l(mu_);
  if (shut_down_) return;
  grpc::HealthCheckServiceInterface* health = server_->GetHealthCheckService();
  for (ServedModel* m : models_->List()) health->SetServingStatus(std::string(kServiceName) + "/" + m->name, true);
  health->SetServingStatus(kServiceName, true);
  if (addon_ != nullptr) health->SetServingStatus(addon_->health_name(), true);
  health->SetServingStatus(true);
  service_->SetAccepting(true, "serving");
  metrics_->SetReady(true);
}

int Server::Drain(std::chrono::milliseconds drain_time) {
  {
    std::lock_guard<std::mutex> l(mu_);
    if (shut_down_) return 0;
    // Health first (load balancers stop routing here), then refuse new RPCs.
    server_->GetHealthCheckService()->Shutdown();  // every service NOT_SERVING from now on
    service_->SetAccepting(false, "draining");
    metrics_->SetReady(false);
    // After a short notice, stop listening: streams in flight go on until
    // the deadline. (During the notice, calls on open connections get a
    // clean UNAVAILABLE; once gRPC shuts down, a call racing with it may be
    // CANCELLED instead.)
    if (server_ != nullptr && !stop_listening_.joinable()) {
      const auto notice = std::min<std::chrono::milliseconds>(drain_time, kDrainNotice);
      const auto until = std::chrono::system_clock::now() + drain_time;
      stop_listening_ = std::thread([this, notice, until] {
        std::this_thread::sleep_for(notice);
        server_->Shutdown(until);
      });
    }
  }
  const auto deadline = std::chrono::steady_clock::now() + drain_time;
  const bool clean = service_->WaitNoneInFlight(deadline) &&
                     (addon_ == nullptr || addon_->WaitNoneInFlight(deadline));
  const int left = clean ? 0
                         : static_cast<int>(service_->in_flight() + (addon_ == nullptr ? 0 : addon_->in_flight()));
  Shutdown();
  return left;
}

void Server::Shutdown() {
  std::lock_guard<std::mutex> l(mu_);
  if (shut_down_) return;
  shut_down_ = true;
  if (service_ != nullptr) {
    service_->SetAccepting(false, "shutting down");
    service_->MarkShuttingDown();
  }
  if (models_ != nullptr) models_->StopAll();  // cancels what still runs: those streams end UNAVAILABLE
  if (server_ != nullptr) {
    // Waits for Drain's shutdown, if one runs (gRPC serializes them).
    server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
    if (stop_listening_.joinable()) stop_listening_.join();
    server_->Wait();
  }
  if (metrics_http_ != nullptr) metrics_http_->Stop();
}

}  // namespace rs::service
