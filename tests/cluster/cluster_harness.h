// Pieces of the local cluster test (cluster_test.cc): child processes with a
// log file (nginx, Prometheus), free loopback ports, a plain HTTP/1.0 GET,
// the few JSON reads the test needs (string values by key, Prometheus query
// results; json::Parse does the parsing), and the nginx routing template's
// renderer.
//
// Thread-safety: none needed; the test's main thread uses these.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "engine/util/json.h"

namespace rs::cluster::testing {

inline std::string ReadFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

inline bool WriteFile(const std::string& path, const std::string& text) {
  std::ofstream f(path, std::ios::binary);
  f << text;
  return static_cast<bool>(f);
}

// A loopback port nothing listens on now (the kernel's pick; a later bind
// races only with other processes picking ports at the same moment).
inline int FreePort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  socklen_t len = sizeof(a);
  int port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0) {
    port = ntohs(a.sin_port);
  }
  close(fd);
  return port;
}

// GET http://127.0.0.1:port/path; returns the body, or "" with *status 0
// when nothing answered.
inline std::string HttpGet(int port, const std::string& path, int* status = nullptr) {
  if (status != nullptr) *status = 0;
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  timeval tv{10, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<uint16_t>(port));
  std::string out;
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0) {
    const std::string req = "GET " + path + " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
    if (send(fd, req.data(), req.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(req.size())) {
      char buf[65536];
      ssize_t n;
      while ((n = recv(fd, buf, sizeof(buf), 0)) > 0) out.append(buf, static_cast<size_t>(n));
    }
  }
  close(fd);
  const size_t body = out.find("\r\n\r\n");
  if (body == std::string::npos) return "";
  if (status != nullptr) std::sscanf(out.c_str(), "HTTP/%*s %d", status);
  return out.substr(body + 4);
}

inline std::string UrlEncode(const std::string& s) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) != 0 || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

// Every string value of key `key` anywhere in the JSON text, in document
// order (empty when the text does not parse).
inline void CollectStrings(const json::Value& v, const std::string& key, std::vector<std::string>* out) {
  if (v.is_object()) {
    for (const auto& [k, child] : v.AsObject()) {
      if (k == key && child.is_string()) out->push_back(child.AsString());
      CollectStrings(child, key, out);
    }
  } else if (v.is_array()) {
    for (const json::Value& child : v.AsArray()) CollectStrings(child, key, out);
  }
}
inline std::vector<std::string> JsonStringsOfKey(const std::string& text, const std::string& key) {
  std::vector<std::string> out;
  auto v = json::Parse(text);
  if (v.ok()) CollectStrings(*v, key, &out);
  return out;
}

// The sample values of a Prometheus instant-query answer
// ({"status":"success","data":{"resultType":"vector","result":[{"metric":
// {..},"value":[ts,"v"]},..]}}), as doubles ("NaN", "+Inf" included).
inline std::vector<double> PromValues(const std::string& text) {
  std::vector<double> out;
  auto v = json::Parse(text);
  const json::Value* data = v.ok() ? v->Find("data") : nullptr;
  const json::Value* result = data != nullptr ? data->Find("result") : nullptr;
  if (result == nullptr || !result->is_array()) return out;
  for (const json::Value& sample : result->AsArray()) {
    const json::Value* value = sample.Find("value");
    if (value == nullptr || !value->is_array() || value->AsArray().size() != 2) continue;
    const std::string& s = value->AsArray()[1].AsString();
    out.push_back(s == "NaN" ? std::nan("") : s == "+Inf" ? HUGE_VAL : s == "-Inf" ? -HUGE_VAL : std::atof(s.c_str()));
  }
  return out;
}

// A child process started with argv, its stdout and stderr in `log`.
// Destruction: SIGTERM, then SIGKILL after 5 s.
class ChildProcess {
 public:
  ChildProcess(const std::vector<std::string>& argv, const std::string& log) : log_(log) {
    pid_ = fork();
    if (pid_ == 0) {
      FILE* f = std::freopen(log.c_str(), "w", stdout);
      if (f == nullptr) _exit(126);
      dup2(fileno(stdout), 2);
      std::vector<char*> args;
      std::vector<std::string> copy = argv;
      for (auto& a : copy) args.push_back(a.data());
      args.push_back(nullptr);
      execvp(args[0], args.data());
      _exit(127);
    }
  }
  ~ChildProcess() { Stop(); }
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  bool Running() {
    if (pid_ <= 0) return false;
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return false;
    }
    return true;
  }
  void Stop() {
    if (pid_ <= 0) return;
    kill(pid_, SIGTERM);
    for (int i = 0; i < 500; ++i) {
      if (waitpid(pid_, nullptr, WNOHANG) == pid_) {
        pid_ = -1;
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }
  std::string log() const { return ReadFile(log_); }

 private:
  pid_t pid_ = -1;
  std::string log_;
};

// deploy/nginx/recurrent-serve.conf.template rendered: @LISTEN@ and @PREFIX@
// replaced; each line holding @REPLICA@ repeated once per replica address.
inline std::string RenderNginx(const std::string& tmpl, const std::string& listen, const std::string& prefix,
                               const std::vector<std::string>& replicas) {
  auto replace_all = [](std::string s, const std::string& from, const std::string& to) {
    for (size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size())) {
      s.replace(at, from.size(), to);
    }
    return s;
  };
  std::string out;
  std::istringstream in(tmpl);
  std::string line;
  while (std::getline(in, line)) {
    if (line.find("@REPLICA@") != std::string::npos) {
      for (const std::string& r : replicas) out += replace_all(line, "@REPLICA@", r) + "\n";
    } else {
      out += line + "\n";
    }
  }
  return replace_all(replace_all(out, "@LISTEN@", listen), "@PREFIX@", prefix);
}

}  // namespace rs::cluster::testing
