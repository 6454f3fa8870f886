// `recurrent serve` as a child process for tests that need the real binary
// (exit codes, signals, kill -9): started with the test model as "m" on an
// ephemeral port; its stderr is read until it serves, then drained in the
// background (log()).
#pragma once

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "tests/service/service_test_util.h"

namespace rs::service::testing {

// `recurrent serve` in a child process; stderr is read until it serves.
class ServeProcess {
 public:
  // `model`: the --model value (default: the test model as "m").
  explicit ServeProcess(const std::vector<std::string>& extra, const std::string& model = "") {
    int fds[2];
    EXPECT_EQ(pipe(fds), 0);
    pid_ = fork();
    if (pid_ == 0) {
      dup2(fds[1], 2);
      close(fds[0]);
      std::vector<std::string> args = {RS_RECURRENT_BIN, "serve", "--model", model.empty() ? "m=" + ModelDir() : model, "--listen",
                                       "127.0.0.1:0", "--metrics-listen", "off", "--threads", "1"};
      args.insert(args.end(), extra.begin(), extra.end());
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      execv(argv[0], argv.data());
      _exit(127);
    }
    close(fds[1]);
    err_ = fdopen(fds[0], "r");
    char line[4096];
    while (fgets(line, sizeof(line), err_) != nullptr) {
      log_ += line;
      if (std::sscanf(line, "recurrent serve: SERVING on port %d", &port_) == 1) break;
    }
    EXPECT_GT(port_, 0) << log_;
    // Keep draining stderr (request log lines) so the child never blocks on it.
    reader_ = std::thread([this] {
      char buf[4096];
      while (fgets(buf, sizeof(buf), err_) != nullptr) {
        std::lock_guard<std::mutex> l(mu_);
        log_ += buf;
      }
    });
  }
  ~ServeProcess() {
    if (pid_ > 0 && !waited_) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    if (reader_.joinable()) reader_.join();
    if (err_ != nullptr) fclose(err_);
  }
  int port() const { return port_; }
  pid_t pid() const { return pid_; }
  int Wait() {
    int status = 0;
    waitpid(pid_, &status, 0);
    waited_ = true;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }
  std::string log() {
    std::lock_guard<std::mutex> l(mu_);
    return log_;
  }

 private:
  pid_t pid_ = -1;
  FILE* err_ = nullptr;
  int port_ = 0;
  bool waited_ = false;
  std::mutex mu_;
  std::string log_;
  std::thread reader_;
};

}  // namespace rs::service::testing
