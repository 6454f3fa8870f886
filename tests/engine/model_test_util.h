// Helpers for engine tests: temporary folders, random models, running a
// model over tokens.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "engine/model.h"
#include "engine/models/random_model.h"
#include "engine/util/json.h"

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

// d_model 36 -> d_inner 72: channel tails that are not a multiple of 16.
inline RandomMamba1Options OddMamba1Shape() {
  RandomMamba1Options o;
  o.d_model = 36;
  o.n_layer = 3;
  o.vocab_size = 300;
  o.d_state = 16;
  o.seed = 7;
  return o;
}

// n_embd 96 in 3 heads of 32, LoRA ranks that are not multiples of 16.
inline RandomRwkvOptions OddRwkvShape(int version) {
  RandomRwkvOptions o;
  o.version = version;
  o.n_embd = 96;
  o.head_size = 32;
  o.n_layer = 3;
  o.vocab_size = 300;
  o.ffn = 200;
  o.lora_w = 12;
  o.lora_a = 20;
  o.lora_v = 8;
  o.lora_g = 28;
  o.lora_maa = 10;
  o.lora_decay = 24;
  o.seed = 11;
  return o;
}

inline std::unique_ptr<Model> Load(const std::string& dir, int threads) {
  LoadOptions opts;
  opts.n_threads = threads;
  auto m = LoadModel(dir, opts);
  EXPECT_TRUE(m.ok()) << m.status().ToString();
  return m.ok() ? std::move(m).value() : nullptr;
}

// A JSON file (goldens); a parse failure fails the test and gives null.
inline json::Value ReadJsonFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  auto v = json::Parse(ss.str());
  EXPECT_TRUE(v.ok()) << path << ": " << v.status().ToString();
  return v.ok() ? std::move(v).value() : json::Value();
}

// Deterministic pseudo-random token ids in [0, vocab).
inline std::vector<int32_t> Tokens(size_t n, uint32_t salt, int32_t vocab) {
  std::vector<int32_t> t(n);
  uint32_t x = 2463534242u + salt;
  for (auto& v : t) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    v = static_cast<int32_t>(x % static_cast<uint32_t>(vocab));
  }
  return t;
}

inline bool SameBits(const float* a, const float* b, size_t n) {
  return std::memcmp(a, b, n * sizeof(float)) == 0;
}

// Runs `tokens` through a fresh slot as ONE chunk; logits of every position.
inline std::vector<float> RunAll(Model& model, StatePool& pool, int slot,
                                 const std::vector<int32_t>& tokens) {
  Batch b;
  b.seqs.push_back({slot, tokens, true});
  Logits out;
  Status s = model.Forward(b, pool, &out);
  EXPECT_TRUE(s.ok()) << s.ToString();
  return out.data;
}

// Runs `tokens` through `slot` as ONE embed chunk; the sum of its final
// normed hidden states (d_model floats).
inline std::vector<float> RunEmbed(Model& model, StatePool& pool, int slot,
                                   const std::vector<int32_t>& tokens) {
  Batch b;
  SeqChunk c;
  c.slot = slot;
  c.tokens = tokens;
  c.embed = true;
  b.seqs.push_back(c);
  Logits out;
  Status s = model.Forward(b, pool, &out);
  EXPECT_TRUE(s.ok()) << s.ToString();
  if (!s.ok()) return {};
  EXPECT_EQ(out.d_model, model.spec().d_model);
  EXPECT_TRUE(out.data.empty()) << "an embed-only step computed logits";
  EXPECT_EQ(out.row_offset, std::vector<int64_t>{-1});
  EXPECT_EQ(out.embed_offset, std::vector<int64_t>{0});
  return std::vector<float>(out.EmbedSum(0), out.EmbedSum(0) + out.d_model);
}

}  // namespace rs::engine::testing
