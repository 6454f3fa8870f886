// Mamba-2 logit parity with a reference implementation someone else wrote:
// HF transformers 4.48.3 Mamba2ForCausalLM (its pure-torch single-token
// path, float64, gated norm per group as mamba_ssm) on the random-weight
// checkpoints of tests/data/mamba2 (see make_goldens.py there). Both layouts
// (HF safetensors, state-spaces pytorch_model.bin), F32 and BF16 weights,
// n_groups 1 and 3. Every position of a 40-token input, three ways: one
// chunk (the chunked SSD form), single steps (the recurrence), and chunks of
// 3 + 33 + 4 (both, from a carried state).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "engine/model.h"
#include "engine/util/json.h"
#include "tests/engine/model_test_util.h"

namespace rs::engine {
namespace {

// Max |Δlogit| allowed. The goldens are float64 runs on the (rounded) weights
// the checkpoint holds, so BF16 files get the same bound as F32; the stock
// reference itself run in float32 is within 5e-6 of them.
constexpr double kLogitTolerance = 1e-4;
constexpr double kStateTolerance = 1e-4;

std::vector<int32_t> GoldenTokens(const json::Value& golden) {
  std::vector<int32_t> tokens;
  for (const json::Value& t : golden.Find("tokens")->AsArray())
    tokens.push_back(static_cast<int32_t>(t.AsInt()));
  return tokens;
}

// Max |golden - ours| over rows [0, n_rows) of `logits` (n_rows × V).
double MaxLogitDiff(const json::Value& golden, const std::vector<float>& logits, size_t first_row,
                    size_t n_rows, int64_t V) {
  const auto& rows = golden.Find("logits")->AsArray();
  double m = 0;
  for (size_t t = 0; t < n_rows; ++t) {
    const auto& row = rows[first_row + t].AsArray();
    EXPECT_EQ(static_cast<int64_t>(row.size()), V);
    for (int64_t v = 0; v < V; ++v) {
      m = std::max(m, std::fabs(row[static_cast<size_t>(v)].AsDouble() -
                                static_cast<double>(
                                    logits[t * static_cast<size_t>(V) + static_cast<size_t>(v)])));
    }
  }
  return m;
}

// Max |golden - ours| over the final state: ssm (H, P, N) in both; HF's conv
// state holds the K most recent inputs (Cx, K), ours the K-1 that feed the
// next step ((K-1, Cx)).
std::pair<double, double> MaxStateDiff(const json::Value& fs, const StateLayout& layout,
                                       const float* st) {
  double conv_diff = 0, ssm_diff = 0;
  for (const StatePart& part : layout.parts) {
    const size_t layer = static_cast<size_t>(part.layer);
    if (part.name.ends_with(".conv")) {
      const auto& hf = fs.Find("conv")->AsArray()[layer].AsArray();  // (Cx, K)
      const int64_t Km1 = part.shape[0], Cx = part.shape[1];
      EXPECT_EQ(static_cast<int64_t>(hf.size()), Cx);
      for (int64_t c = 0; c < Cx && c < static_cast<int64_t>(hf.size()); ++c) {
        const auto& cols = hf[static_cast<size_t>(c)].AsArray();
        for (int64_t j = 0; j < Km1; ++j) {
          conv_diff = std::max(conv_diff,
                               std::fabs(cols[static_cast<size_t>(j + 1)].AsDouble() -
                                         st[part.offset_floats + static_cast<size_t>(j * Cx + c)]));
        }
      }
    } else {
      const auto& hf = fs.Find("ssm")->AsArray()[layer].AsArray();  // (H, P, N)
      const int64_t H = part.shape[0], P = part.shape[1], N = part.shape[2];
      EXPECT_EQ(static_cast<int64_t>(hf.size()), H);
      for (int64_t h = 0; h < H; ++h) {
        for (int64_t p = 0; p < P; ++p) {
          const auto& row = hf[static_cast<size_t>(h)].AsArray()[static_cast<size_t>(p)].AsArray();
          for (int64_t n = 0; n < N; ++n) {
            ssm_diff = std::max(
                ssm_diff,
                std::fabs(row[static_cast<size_t>(n)].AsDouble() -
                          st[part.offset_floats + static_cast<size_t>((h * P + p) * N + n)]));
          }
        }
      }
    }
  }
  return {conv_diff, ssm_diff};
}

class Mamba2ParityTest : public ::testing::TestWithParam<std::string> {};

TEST_P(Mamba2ParityTest, LogitsAndStateMatchReference) {
  const std::string dir = std::string(RS_SOURCE_DIR) + "/tests/data/mamba2/" + GetParam();
  json::Value golden = testing::ReadJsonFile(dir + "/golden.json");
  ASSERT_TRUE(golden.is_object());
  // The default (the recurrence for every chunk), then with the SSD form on
  // for chunks of >= 32 tokens.
  for (int64_t ssd_min_tokens : {-1, 32}) {
    const bool ssd = ssd_min_tokens > 0;
    const char* path = ssd ? "SSD" : "recurrence";
    SCOPED_TRACE(path);
    LoadOptions lo;
    lo.mamba2_ssd_min_tokens = ssd_min_tokens;
    auto loaded = LoadModel(dir, lo);
    ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
    Model& model = **loaded;
    ASSERT_EQ(model.spec().arch, Arch::kMamba2);
    const std::vector<int32_t> tokens = GoldenTokens(golden);
    ASSERT_EQ(tokens.size(), 40u);  // >= 32: with the SSD form on, one chunk takes it
    const int64_t V = golden.Find("vocab_size")->AsInt();
    ASSERT_EQ(model.spec().vocab_size, V);
    EXPECT_EQ(model.spec().weight_dtype, golden.Find("weight_dtype")->AsString());
    ASSERT_EQ(golden.Find("logits")->AsArray().size(), tokens.size());
    const json::Value* fs = golden.Find("final_state");

    auto pool = model.NewStatePool(3);
    // (1) One chunk: the chunked SSD form when on, else the recurrence.
    const int a = pool->Acquire().value();
    const double chunk_diff =
        MaxLogitDiff(golden, testing::RunAll(model, *pool, a, tokens), 0, tokens.size(), V);
    // (2) Single steps: the recurrence.
    const int b = pool->Acquire().value();
    double step_diff = 0;
    for (size_t t = 0; t < tokens.size(); ++t) {
      step_diff = std::max(
          step_diff, MaxLogitDiff(golden, testing::RunAll(model, *pool, b, {tokens[t]}), t, 1, V));
    }
    // (3) 3 tokens (recurrence), 33 (SSD when on, from the carried state), 4 (recurrence).
    const int c = pool->Acquire().value();
    double mixed_diff = 0;
    size_t pos = 0;
    for (size_t n : {3, 33, 4}) {
      const std::vector<int32_t> chunk(tokens.begin() + static_cast<long>(pos),
                                       tokens.begin() + static_cast<long>(pos + n));
      mixed_diff = std::max(
          mixed_diff, MaxLogitDiff(golden, testing::RunAll(model, *pool, c, chunk), pos, n, V));
      pos += n;
    }
    EXPECT_LE(chunk_diff, kLogitTolerance) << "one chunk (" << path << ")";
    EXPECT_LE(step_diff, kLogitTolerance) << "single steps";
    EXPECT_LE(mixed_diff, kLogitTolerance) << "3 + 33 + 4";
    RecordProperty("max_abs_logit_diff",
                   std::to_string(std::max({chunk_diff, step_diff, mixed_diff})));
    std::printf(
        "%s: max |Δlogit| one chunk (%s) %.3g, single steps %.3g, 3+33+4 %.3g (max |logit| %.3g)\n",
        GetParam().c_str(), path, chunk_diff, step_diff, mixed_diff,
        golden.Find("max_abs_logit")->AsDouble());

    if (fs == nullptr || !fs->is_object()) continue;
    for (int slot : {a, b, c}) {
      const auto [conv_diff, ssm_diff] =
          MaxStateDiff(*fs, model.spec().state, pool->SlotData(slot));
      EXPECT_LE(conv_diff, kStateTolerance) << "slot " << slot;
      EXPECT_LE(ssm_diff, kStateTolerance) << "slot " << slot;
      std::printf("%s: slot %d max |Δstate| conv %.3g ssm %.3g\n", GetParam().c_str(), slot,
                  conv_diff, ssm_diff);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Goldens, Mamba2ParityTest,
                         ::testing::Values("tiny_hf_f32", "tiny_ssm_f32", "tiny_hf_bf16",
                                           "grouped_hf_f32", "grouped_ssm_f32", "grouped_ssm_bf16"),
                         [](const auto& info) { return info.param; });

// The two layouts of the same weights give bitwise the same logits.
TEST(Mamba2LayoutTest, HfAndStateSpacesLayoutsAgree) {
  const std::string data = std::string(RS_SOURCE_DIR) + "/tests/data/mamba2/";
  for (const auto& [hf, ssm] : std::vector<std::pair<std::string, std::string>>{
           {"tiny_hf_f32", "tiny_ssm_f32"}, {"grouped_hf_f32", "grouped_ssm_f32"}}) {
    auto a = LoadModel(data + hf);
    auto b = LoadModel(data + ssm);
    ASSERT_TRUE(a.ok()) << a.status().ToString();
    ASSERT_TRUE(b.ok()) << b.status().ToString();
    const std::vector<int32_t> toks =
        testing::Tokens(37, 5, static_cast<int32_t>((*a)->spec().vocab_size));
    auto pa = (*a)->NewStatePool(1);
    auto pb = (*b)->NewStatePool(1);
    std::vector<float> la = testing::RunAll(**a, *pa, pa->Acquire().value(), toks);
    std::vector<float> lb = testing::RunAll(**b, *pb, pb->Acquire().value(), toks);
    ASSERT_EQ(la.size(), lb.size());
    EXPECT_TRUE(testing::SameBits(la.data(), lb.data(), la.size())) << hf << " vs " << ssm;
  }
}

}  // namespace
}  // namespace rs::engine
