// A minimal HTTP/1.0 endpoint for Prometheus scrapes and HTTP probes:
//   GET /metrics  -> 200, the text exposition format (from a callback)
//   GET /healthz  -> 200 "ok" while ready, else 503 (for HTTP-only probes)
//   anything else -> 404 / 405
// One thread; one connection at a time (scrapes are rare and small), each
// with a 2 s I/O timeout and a 8 KiB request limit, "Connection: close".
// (prometheus-cpp's civetweb Exposer could not start its threads inside this
// server's process, and cannot bind port 0.)
//
// Thread-safety: Start/Stop from one thread; the callbacks run on the
// endpoint's thread.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "engine/util/status.h"

namespace rs::service {

class MetricsHttpServer {
 public:
  // `listen` is HOST:PORT (IPv4 or a name that resolves; port 0 picks one).
  static StatusOr<std::unique_ptr<MetricsHttpServer>> Start(const std::string& listen,
                                                            std::function<std::string()> metrics,
                                                            std::function<bool()> ready);
  ~MetricsHttpServer();  // Stop()
  void Stop();
  int port() const { return port_; }

 private:
  MetricsHttpServer() = default;
  void Loop();
  void Serve(int fd);

  int listen_fd_ = -1;
  int stop_pipe_[2] = {-1, -1};
  int port_ = 0;
  std::function<std::string()> metrics_;
  std::function<bool()> ready_;
  std::thread thread_;
};

}  // namespace rs::service
