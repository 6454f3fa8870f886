#include "service/request_log.h"

#include <chrono>
#include <ctime>

#include "engine/util/json.h"

namespace rs::service {

std::string RequestLog::Format(const RequestLogEntry& e) {
  const auto now = std::chrono::system_clock::now();
  const std::time_t t = std::chrono::system_clock::to_time_t(now);
  const long ms = static_cast<long>(
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char ts[80];
  std::snprintf(ts, sizeof(ts), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                tm.tm_hour, tm.tm_min, tm.tm_sec, ms);
  char nums[256];
  std::snprintf(nums, sizeof(nums),
                "\"prompt_tokens\":%lld,\"cached_tokens\":%lld,\"generated_tokens\":%lld,"
                "\"queue_s\":%.6f,\"ttft_s\":%.6f,\"total_s\":%.6f",
                static_cast<long long>(e.prompt_tokens), static_cast<long long>(e.cached_tokens),
                static_cast<long long>(e.generated_tokens), e.queue_seconds, e.ttft_seconds, e.total_seconds);
  std::string line = "{\"ts\":\"" + std::string(ts) + "\",\"event\":\"rpc\",\"method\":" + json::Quote(e.method) +
                     ",\"request_id\":" + json::Quote(e.request_id) + ",\"tenant\":" + json::Quote(e.tenant) +
                     ",\"model\":" + json::Quote(e.model) + ",\"peer\":" + json::Quote(e.peer) +
                     ",\"code\":" + json::Quote(e.code);
  if (!e.message.empty()) line += ",\"message\":" + json::Quote(e.message);
  if (!e.finish_reason.empty()) line += ",\"finish_reason\":" + json::Quote(e.finish_reason);
  if (!e.session_id.empty()) line += ",\"session_id\":" + json::Quote(e.session_id);
  line += ",";
  line += nums;
  line += "}";
  return line;
}

void RequestLog::Write(const RequestLogEntry& e) const {
  if (out_ == nullptr) return;
  const std::string line = Format(e) + "\n";
  std::fwrite(line.data(), 1, line.size(), out_);
  std::fflush(out_);
}

}  // namespace rs::service
