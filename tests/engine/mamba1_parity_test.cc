// Logit parity with a reference implementation someone else wrote: HF
// transformers MambaForCausalLM run in float64 on the random-weight
// checkpoints of tests/data/mamba1 (see its README and make_goldens.py).
// Every position of a 24-token input, every layout (HF single file, HF
// sharded, state-spaces pytorch_model.bin) and dtype (F32, F16, BF16).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

#include "engine/model.h"
#include "engine/util/json.h"
#include "tests/engine/model_test_util.h"

namespace rs::engine {
namespace {

// Max |Δlogit| allowed. The goldens are float64 runs on the (rounded)
// weights the checkpoint holds, so every dtype gets the fp32-engine bound;
// HF itself run in float32 is within 5e-6 of these goldens.
constexpr double kLogitTolerance = 1e-4;
constexpr double kStateTolerance = 1e-4;

class Mamba1ParityTest : public ::testing::TestWithParam<std::string> {};

TEST_P(Mamba1ParityTest, LogitsAndStateMatchReference) {
  const std::string dir = std::string(RS_SOURCE_DIR) + "/tests/data/mamba1/" + GetParam();
  json::Value golden = testing::ReadJsonFile(dir + "/golden.json");
  ASSERT_TRUE(golden.is_object());
  auto loaded = LoadModel(dir);
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  Model& model = **loaded;

  std::vector<int32_t> tokens;
  for (const json::Value& t : golden.Find("tokens")->AsArray()) tokens.push_back(static_cast<int32_t>(t.AsInt()));
  ASSERT_GE(tokens.size(), 16u);
  const int64_t V = golden.Find("vocab_size")->AsInt();
  ASSERT_EQ(model.spec().vocab_size, V);
  EXPECT_EQ(model.spec().weight_dtype, golden.Find("weight_dtype")->AsString());

  auto pool = model.NewStatePool(1);
  const int slot = pool->Acquire().value();
  std::vector<float> logits = testing::RunAll(model, *pool, slot, tokens);
  ASSERT_EQ(logits.size(), tokens.size() * static_cast<size_t>(V));

  const auto& rows = golden.Find("logits")->AsArray();
  ASSERT_EQ(rows.size(), tokens.size());
  double max_diff = 0;
  for (size_t t = 0; t < rows.size(); ++t) {
    const auto& row = rows[t].AsArray();
    ASSERT_EQ(static_cast<int64_t>(row.size()), V);
    for (int64_t v = 0; v < V; ++v) {
      max_diff = std::max(max_diff, std::fabs(row[static_cast<size_t>(v)].AsDouble() -
                                              static_cast<double>(logits[t * static_cast<size_t>(V) + static_cast<size_t>(v)])));
    }
  }
  EXPECT_LE(max_diff, kLogitTolerance) << GetParam();
  RecordProperty("max_abs_logit_diff", std::to_string(max_diff));

  // Final recurrent state, where the golden has it: HF's conv state holds the
  // K most recent inputs (E, K); ours the K-1 that feed the next step (K-1, E).
  // HF's SSM state is (E, N); ours is its transpose (N, E).
  const json::Value* fs = golden.Find("final_state");
  if (fs == nullptr || !fs->is_object()) return;
  const StateLayout& layout = model.spec().state;
  const float* st = pool->SlotData(slot);
  double conv_diff = 0, ssm_diff = 0;
  for (const StatePart& part : layout.parts) {
    const int layer = part.layer;
    if (part.name.ends_with(".conv")) {
      const auto& hf = fs->Find("conv")->AsArray()[static_cast<size_t>(layer)].AsArray();  // (E, K)
      const int64_t Km1 = part.shape[0], E = part.shape[1];
      ASSERT_EQ(static_cast<int64_t>(hf.size()), E);
      for (int64_t e = 0; e < E; ++e) {
        const auto& cols = hf[static_cast<size_t>(e)].AsArray();
        ASSERT_EQ(static_cast<int64_t>(cols.size()), Km1 + 1);
        for (int64_t j = 0; j < Km1; ++j) {
          conv_diff = std::max(conv_diff, std::fabs(cols[static_cast<size_t>(j + 1)].AsDouble() -
                                                    st[part.offset_floats + static_cast<size_t>(j * E + e)]));
        }
      }
    } else {
      const auto& hf = fs->Find("ssm")->AsArray()[static_cast<size_t>(layer)].AsArray();  // (E, N)
      const int64_t N = part.shape[0], E = part.shape[1];  // ours: (N, E)
      ASSERT_EQ(static_cast<int64_t>(hf.size()), E);
      for (int64_t e = 0; e < E; ++e) {
        const auto& cols = hf[static_cast<size_t>(e)].AsArray();
        ASSERT_EQ(static_cast<int64_t>(cols.size()), N);
        for (int64_t n = 0; n < N; ++n) {
          ssm_diff = std::max(ssm_diff, std::fabs(cols[static_cast<size_t>(n)].AsDouble() -
                                                  st[part.offset_floats + static_cast<size_t>(n * E + e)]));
        }
      }
    }
  }
  EXPECT_LE(conv_diff, kStateTolerance);
  EXPECT_LE(ssm_diff, kStateTolerance);
}

INSTANTIATE_TEST_SUITE_P(Goldens, Mamba1ParityTest,
                         ::testing::Values("tiny_hf_f32", "tiny_hf_sharded_f32", "tiny_ssm_f32", "tiny_hf_bf16",
                                           "tiny_hf_f16", "tiny_ssm_bf16", "alt_hf_untied_f32",
                                           "alt_ssm_untied_f32"),
                         [](const auto& info) { return info.param; });

// Embeddings (SeqChunk::embed) against HF MambaModel(...).last_hidden_state,
// the output of norm_f (tests/data/mamba1/<case>/hidden_golden.json, float64):
// the embed sum of a chunk is the sum of the reference rows of its positions.
class Mamba1EmbedParityTest : public ::testing::TestWithParam<std::string> {};

TEST_P(Mamba1EmbedParityTest, EmbedSumsMatchReferenceHiddenStates) {
  const std::string dir = std::string(RS_SOURCE_DIR) + "/tests/data/mamba1/" + GetParam();
  json::Value golden = testing::ReadJsonFile(dir + "/hidden_golden.json");
  ASSERT_TRUE(golden.is_object());
  auto loaded = LoadModel(dir);
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  Model& model = **loaded;
  std::vector<int32_t> tokens;
  for (const json::Value& t : golden.Find("tokens")->AsArray())
    tokens.push_back(static_cast<int32_t>(t.AsInt()));
  const int64_t D = golden.Find("d_model")->AsInt();
  ASSERT_EQ(model.spec().d_model, D);
  const auto& rows = golden.Find("last_hidden_state")->AsArray();
  ASSERT_EQ(rows.size(), tokens.size());
  // Reference sum of positions [t0, t1).
  const auto ref_sum = [&](size_t t0, size_t t1) {
    std::vector<double> sum(static_cast<size_t>(D), 0.0);
    for (size_t t = t0; t < t1; ++t) {
      const auto& row = rows[t].AsArray();
      EXPECT_EQ(static_cast<int64_t>(row.size()), D);
      for (int64_t d = 0; d < D; ++d)
        sum[static_cast<size_t>(d)] += row[static_cast<size_t>(d)].AsDouble();
    }
    return sum;
  };
  const auto max_diff = [&](const std::vector<float>& got, const std::vector<double>& want) {
    EXPECT_EQ(got.size(), want.size());
    double m = 0;
    for (size_t d = 0; d < std::min(got.size(), want.size()); ++d)
      m = std::max(m, std::fabs(got[d] - want[d]));
    return m;
  };

  auto pool = model.NewStatePool(2);
  // The whole sequence as one chunk.
  const int a = pool->Acquire().value();
  const double whole =
      max_diff(testing::RunEmbed(model, *pool, a, tokens), ref_sum(0, tokens.size()));
  // Two chunks: the second starts from the state the first left.
  const int b = pool->Acquire().value();
  const std::vector<int32_t> head(tokens.begin(), tokens.begin() + 5),
      tail(tokens.begin() + 5, tokens.end());
  const double first = max_diff(testing::RunEmbed(model, *pool, b, head), ref_sum(0, 5));
  const double second =
      max_diff(testing::RunEmbed(model, *pool, b, tail), ref_sum(5, tokens.size()));
  // The sum of 24 rows of |h| <= ~10; HF itself in float32 is within 4e-6.
  EXPECT_LE(whole, kLogitTolerance);
  EXPECT_LE(first, kLogitTolerance);
  EXPECT_LE(second, kLogitTolerance);
  RecordProperty("max_abs_embed_sum_diff", std::to_string(std::max({whole, first, second})));
  std::printf("%s: max |embed sum - reference| whole %.3g, first 5 %.3g, last 19 %.3g\n",
              GetParam().c_str(), whole, first, second);
}

INSTANTIATE_TEST_SUITE_P(Goldens, Mamba1EmbedParityTest,
                         ::testing::Values("tiny_hf_f32", "alt_hf_untied_f32"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace rs::engine

namespace rs::engine {
namespace {

// --model may name the weights file itself; config.json beside it is used.
TEST(Mamba1LoadPathTest, SingleFileEqualsFolder) {
  const std::string data = std::string(RS_SOURCE_DIR) + "/tests/data/mamba1/";
  for (const auto& [folder, file] : std::vector<std::pair<std::string, std::string>>{
           {"tiny_hf_f32", "model.safetensors"}, {"tiny_ssm_f32", "pytorch_model.bin"}}) {
    auto a = LoadModel(data + folder);
    auto b = LoadModel(data + folder + "/" + file);
    ASSERT_TRUE(a.ok()) << a.status().ToString();
    ASSERT_TRUE(b.ok()) << b.status().ToString();
    EXPECT_EQ((*a)->spec().fingerprint, (*b)->spec().fingerprint);
    const std::vector<int32_t> toks = {3, 1, 4, 1, 5, 9, 2, 6};
    auto pa = (*a)->NewStatePool(1);
    auto pb = (*b)->NewStatePool(1);
    std::vector<float> la = testing::RunAll(**a, *pa, pa->Acquire().value(), toks);
    std::vector<float> lb = testing::RunAll(**b, *pb, pb->Acquire().value(), toks);
    ASSERT_EQ(la.size(), lb.size());
    EXPECT_EQ(0, std::memcmp(la.data(), lb.data(), la.size() * sizeof(float))) << folder;
  }
}

}  // namespace
}  // namespace rs::engine
