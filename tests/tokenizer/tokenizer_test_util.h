// Shared helpers for the tokenizer tests: fixture paths, file reading, and
// the GPT-NeoX tokenizer loaded once per test binary.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "engine/tokenizer/tokenizer.h"

namespace rs::engine::testing {

inline std::string NeoxJsonPath() {
  return std::string(RS_SHARED_DIR) + "/fixtures/tokenizers/gpt-neox-20b/tokenizer.json";
}

inline std::string GoldensPath() {
  return std::string(RS_SOURCE_DIR) + "/tests/data/tokenizer/gpt_neox_goldens.json";
}

inline std::string ReadFileOrDie(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << "cannot read " << path;
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The GPT-NeoX tokenizer, loaded on first use; nullptr (with a test
// failure) if loading failed.
inline const Tokenizer* Neox() {
  static const Tokenizer* tok = []() -> const Tokenizer* {
    auto t = LoadBpeTokenizer(NeoxJsonPath());
    EXPECT_TRUE(t.ok()) << t.status().ToString();
    return t.ok() ? std::move(t).value().release() : nullptr;
  }();
  return tok;
}

#define RS_REQUIRE_NEOX()                                                           \
  do {                                                                              \
    if (!std::filesystem::exists(::rs::engine::testing::NeoxJsonPath())) {          \
      GTEST_SKIP() << "fixture missing: " << ::rs::engine::testing::NeoxJsonPath(); \
    }                                                                               \
    ASSERT_NE(::rs::engine::testing::Neox(), nullptr);                              \
  } while (0)

inline std::string IdsToString(const std::vector<int32_t>& ids) {
  std::string s;
  for (size_t i = 0; i < ids.size(); ++i) {
    if (i > 0) s.push_back(' ');
    s.append(std::to_string(ids[i]));
  }
  return s;
}

}  // namespace rs::engine::testing
