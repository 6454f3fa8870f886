// Helpers for engine tests: temporary folders, random models, running a
// model over tokens.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "engine/model.h"
#include "engine/models/random_model.h"

namespace rs::engine::testing {

// A fresh empty folder under the build tree, removed at destruction; unique
// per process (ctest runs test cases in parallel processes).
class TempDir {
 public:
  explicit TempDir(const std::string& name) {
    path_ = std::filesystem::path(RS_BINARY_DIR) / "test-tmp" /
            (name + "-" + std::to_string(::getpid()) + "-" +
             std::to_string(reinterpret_cast<uintptr_t>(this)));
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  std::string path() const { return path_.string(); }
  std::string File(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

// Runs `tokens` through a fresh slot as ONE chunk; logits of every position.
inline std::vector<float> RunAll(Model& model, StatePool& pool, int slot, const std::vector<int32_t>& tokens) {
  Batch b;
  b.seqs.push_back({slot, tokens, true});
  Logits out;
  Status s = model.Forward(b, pool, &out);
  EXPECT_TRUE(s.ok()) << s.ToString();
  return out.data;
}

}  // namespace rs::engine::testing
