// One structured log line (JSON) per RPC: id, tenant, model, method, peer,
// status code, finish reason, token counts and timings. Operators grep and
// ship these; the request's text is never logged.
//
// Thread-safety: Write is thread-safe (one fwrite per line).
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>

namespace rs::service {

struct RequestLogEntry {
  std::string method;  // "Generate", "Tokenize", ...
  std::string request_id;
  std::string tenant;
  std::string model;
  std::string peer;
  std::string code = "OK";  // gRPC status code name
  std::string message;      // the status message when not OK
  std::string finish_reason;
  std::string session_id;
  int64_t prompt_tokens = 0, cached_tokens = 0, generated_tokens = 0;
  double queue_seconds = 0, ttft_seconds = 0, total_seconds = 0;
};

class RequestLog {
 public:
  // `out` null: logging off.
  explicit RequestLog(std::FILE* out) : out_(out) {}
  void Write(const RequestLogEntry& e) const;
  // The line Write prints (without the newline).
  static std::string Format(const RequestLogEntry& e);

 private:
  std::FILE* out_;
};

}  // namespace rs::service
