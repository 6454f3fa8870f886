// Logit and state parity with BlinkDL's own inference code (the `rwkv` pip
// package, strategy 'cpu fp32', one token at a time) on the random-weight
// BlinkDL-format checkpoints of tests/data/rwkv (see its README and
// make_goldens.py): every position of a 24-token input, RWKV-7 and RWKV-6,
// F32 and BF16 storages, .pth and .safetensors. Plus the real trained
// rwkv7-tiny-834K fixture against rwkv.cpp's logits.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "engine/model.h"
#include "engine/util/json.h"
#include "tests/engine/model_test_util.h"

namespace rs::engine {
namespace {

// Max |Δ| allowed. The reference runs in fp32 too (its own whole-sequence
// and one-token paths differ by up to 6e-6), so 1e-4 leaves room for
// reduction order only.
constexpr double kLogitTolerance = 1e-4;
constexpr double kStateTolerance = 1e-4;

double MaxDiff(const json::Value& golden, const float* ours, size_t n) {
  const auto& a = golden.AsArray();
  EXPECT_EQ(a.size(), n);
  double d = 0;
  for (size_t i = 0; i < std::min(n, a.size()); ++i)
    d = std::max(d, std::fabs(a[i].AsDouble() - ours[i]));
  return d;
}

struct Case {
  std::string dir;   // under tests/data/rwkv
  std::string file;  // the weights file in it
};

class RwkvParityTest : public ::testing::TestWithParam<Case> {};

TEST_P(RwkvParityTest, LogitsAndStateMatchReference) {
  const std::string dir = std::string(RS_SOURCE_DIR) + "/tests/data/rwkv/" + GetParam().dir;
  json::Value golden = testing::ReadJsonFile(dir + "/golden.json");
  ASSERT_TRUE(golden.is_object());
  auto loaded = LoadModel(dir + "/" + GetParam().file);
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  Model& model = **loaded;
  const bool v7 = golden.Find("version")->AsString() == "x070";
  EXPECT_EQ(model.spec().arch, v7 ? Arch::kRwkv7 : Arch::kRwkv6);
  EXPECT_EQ(model.spec().weight_dtype, golden.Find("weight_dtype")->AsString());
  const json::Value& dims = *golden.Find("model");
  EXPECT_EQ(model.spec().d_model, dims.Find("n_embd")->AsInt());
  EXPECT_EQ(model.spec().n_layer, dims.Find("n_layer")->AsInt());

  std::vector<int32_t> tokens;
  for (const json::Value& t : golden.Find("tokens")->AsArray())
    tokens.push_back(static_cast<int32_t>(t.AsInt()));
  ASSERT_GE(tokens.size(), 16u);
  const int64_t V = golden.Find("vocab_size")->AsInt();
  ASSERT_EQ(model.spec().vocab_size, V);

  auto pool = model.NewStatePool(1);
  const int slot = pool->Acquire().value();
  std::vector<float> logits = testing::RunAll(model, *pool, slot, tokens);
  ASSERT_EQ(logits.size(), tokens.size() * static_cast<size_t>(V));
  const auto& rows = golden.Find("logits")->AsArray();
  ASSERT_EQ(rows.size(), tokens.size());
  double max_diff = 0;
  for (size_t t = 0; t < rows.size(); ++t) {
    max_diff = std::max(
        max_diff, MaxDiff(rows[t], &logits[t * static_cast<size_t>(V)], static_cast<size_t>(V)));
  }
  EXPECT_LE(max_diff, kLogitTolerance) << GetParam().dir;
  RecordProperty("max_abs_logit_diff", std::to_string(max_diff));

  // State: the token-shift vectors, and the WKV matrices, which we keep
  // key-major ([h][key][value]): the package's x060 order, x070's transposed.
  const json::Value& fs = *golden.Find("final_state");
  const float* st = pool->SlotData(slot);
  double shift_diff = 0, wkv_diff = 0;
  for (const StatePart& part : model.spec().state.parts) {
    const auto layer = static_cast<size_t>(part.layer);
    const float* p = st + part.offset_floats;
    if (part.name.ends_with(".att_shift")) {
      shift_diff =
          std::max(shift_diff, MaxDiff(fs.Find("att_x_prev")->AsArray()[layer], p, part.n_floats));
    } else if (part.name.ends_with(".ffn_shift")) {
      shift_diff =
          std::max(shift_diff, MaxDiff(fs.Find("ffn_x_prev")->AsArray()[layer], p, part.n_floats));
    } else {
      ASSERT_TRUE(part.name.ends_with(".wkv")) << part.name;
      const auto& heads = fs.Find("wkv")->AsArray()[layer].AsArray();
      const int64_t H = part.shape[0], N = part.shape[1];
      ASSERT_EQ(static_cast<int64_t>(heads.size()), H);
      for (int64_t h = 0; h < H; ++h) {
        const auto& m = heads[static_cast<size_t>(h)].AsArray();
        for (int64_t i = 0; i < N; ++i) {
          const auto& row = m[static_cast<size_t>(i)].AsArray();
          for (int64_t j = 0; j < N; ++j) {
            const int64_t key = v7 ? j : i, value = v7 ? i : j;
            const float ours = p[(h * N + key) * N + value];
            wkv_diff = std::max(wkv_diff, std::fabs(row[static_cast<size_t>(j)].AsDouble() - ours));
          }
        }
      }
    }
  }
  EXPECT_LE(shift_diff, kStateTolerance);
  EXPECT_LE(wkv_diff, kStateTolerance);
}

INSTANTIATE_TEST_SUITE_P(
    Goldens, RwkvParityTest,
    ::testing::Values(Case{"v7_f32", "model.pth"}, Case{"v7_f32", "model.safetensors"},
                      Case{"v7_bf16", "model.pth"}, Case{"v6_f32", "model.pth"},
                      Case{"v6_bf16", "model.pth"}),
    [](const auto& info) {
      return info.param.dir + (info.param.file.ends_with(".pth") ? "_pth" : "_safetensors");
    });

// The real, trained tiny RWKV-7 (byte vocabulary) against rwkv.cpp's logits
// after the bytes `"in`.
TEST(Rwkv7RealWeightsTest, TinyModelMatchesRwkvCpp) {
  const std::string dir = std::string(RS_SHARED_DIR) + "/fixtures/models/rwkv7-tiny-834K";
  if (!std::filesystem::exists(dir + "/model.pth")) {
    GTEST_SKIP() << "no " << dir << " (../shared is not beside the checkout)";
  }
  json::Value expected = testing::ReadJsonFile(dir + "/expected_logits.json");
  ASSERT_TRUE(expected.is_object());
  auto loaded = LoadModel(dir + "/model.pth");
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  Model& model = **loaded;
  EXPECT_EQ(model.spec().arch, Arch::kRwkv7);
  std::vector<int32_t> tokens;
  for (const json::Value& t : expected.Find("input_bytes")->AsArray())
    tokens.push_back(static_cast<int32_t>(t.AsInt()));
  auto pool = model.NewStatePool(1);
  std::vector<float> logits = testing::RunAll(model, *pool, pool->Acquire().value(), tokens);
  const int64_t V = model.spec().vocab_size;
  ASSERT_EQ(V, 256);
  const double d =
      MaxDiff(*expected.Find("logits_after_last_token"), &logits[(tokens.size() - 1) * 256], 256);
  EXPECT_LE(d, 1e-5);
  RecordProperty("max_abs_logit_diff", std::to_string(d));
}

}  // namespace
}  // namespace rs::engine
