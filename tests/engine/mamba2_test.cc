// Mamba-2 on random-weight models the project writes (WriteRandomMamba2):
// spec and state layout; the step contracts (by default every chunk runs the
// recurrence: == single steps bitwise; with the SSD form enabled
// (ssd_min_tokens = 32), chunks shorter than that == steps bitwise and the
// chunked SSD form == steps within float tolerance; batched == unbatched and
// thread-count independence bitwise on both paths, snapshot/serialize/
// restore continuing identically); and bad model files. Parity with the
// reference is in mamba2_parity_test.cc.
#include "engine/models/mamba2.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "engine/io/tensor_store.h"
#include "engine/model.h"
#include "engine/models/random_model.h"
#include "engine/util/json.h"
#include "tests/engine/model_test_util.h"

namespace rs::engine {
namespace {

using testing::SameBits;
using testing::TempDir;
using testing::Tokens;

// d_model 36 -> d_inner 72 in 6 heads of 12, 2 groups, d_state 20: head dims
// and states that are not multiples of 16; SSD chunks of 16 tokens.
RandomMamba2Options OddShape(DType dtype = DType::kF32) {
  RandomMamba2Options o;
  o.d_model = 36;
  o.n_layer = 3;
  o.vocab_size = 300;
  o.d_state = 20;
  o.head_dim = 12;
  o.n_groups = 2;
  o.chunk_size = 16;
  o.dt_min = 0.002;  // a finite time_step_limit minimum, no maximum
  o.dtype = dtype;
  o.seed = 5;
  return o;
}

constexpr int kVocab = 300;

// Runs `tokens` one at a time through `slot`; the logits of every position.
std::vector<float> RunSteps(Model& model, StatePool& pool, int slot,
                            const std::vector<int32_t>& tokens) {
  std::vector<float> all;
  for (int32_t t : tokens) {
    std::vector<float> row = testing::RunAll(model, pool, slot, {t});
    all.insert(all.end(), row.begin(), row.end());
  }
  return all;
}

double MaxAbs(const std::vector<float>& v) {
  double m = 0;
  for (float x : v) m = std::max(m, static_cast<double>(std::fabs(x)));
  return m;
}

double MaxDiff(const float* a, const float* b, size_t n) {
  double m = 0;
  for (size_t i = 0; i < n; ++i) m = std::max(m, static_cast<double>(std::fabs(a[i] - b[i])));
  return m;
}

TEST(Mamba2Test, SpecAndStateLayout) {
  TempDir dir("mamba2-spec");
  ASSERT_TRUE(WriteRandomMamba2(dir.path(), OddShape()).ok());
  auto model = testing::Load(dir.path(), 2);
  ASSERT_NE(model, nullptr);
  const ModelSpec& s = model->spec();
  EXPECT_EQ(s.arch, Arch::kMamba2);
  EXPECT_EQ(s.d_model, 36);
  EXPECT_EQ(s.n_layer, 3);
  EXPECT_EQ(s.vocab_size, 300);
  EXPECT_EQ(s.weight_dtype, "F32");
  EXPECT_NE(s.details.find("n_heads=6 head_dim=12 n_groups=2 d_state=20 d_conv=4 chunk_size=16"),
            std::string::npos)
      << s.details;
  // Per layer: conv (K-1) × (E + 2GN) = 3 × 152 and ssm H × P × N = 6 × 12 × 20.
  ASSERT_EQ(s.state.parts.size(), 6u);
  EXPECT_EQ(s.state.parts[0].shape, (std::vector<int64_t>{3, 152}));
  EXPECT_EQ(s.state.parts[1].shape, (std::vector<int64_t>{6, 12, 20}));
  size_t floats = 0;
  for (const StatePart& p : s.state.parts) floats += p.n_floats;
  EXPECT_EQ(floats, 3u * (3 * 152 + 6 * 12 * 20));
  EXPECT_LT(s.state.floats_per_sequence, floats + 16 * 6);
  EXPECT_EQ(s.fingerprint.size(), 16u);
  // matmul parameters: in_proj (2E + 2GN + H) × D + out_proj D × E per layer, lm_head.
  EXPECT_EQ(s.matmul_params_per_token, 3 * ((2 * 72 + 80 + 6) * 36 + 36 * 72) + 300 * 36);
}

// ---- Step contracts --------------------------------------------------------

// The model in `dir` with explicit Mamba2Options.
std::unique_ptr<Model> LoadWithOptions(const TempDir& dir, int threads, const Mamba2Options& mo) {
  auto store = io::OpenSafetensors(dir.File("model.safetensors"));
  EXPECT_TRUE(store.ok());
  std::ifstream in(dir.File("config.json"));
  std::stringstream ss;
  ss << in.rdbuf();
  auto config = json::Parse(ss.str());
  EXPECT_TRUE(config.ok());
  if (!store.ok() || !config.ok()) return nullptr;
  LoadOptions lo;
  lo.n_threads = threads;
  auto loaded = LoadMamba2(std::move(store).value(), &*config, lo, mo);
  EXPECT_TRUE(loaded.ok()) << loaded.status().ToString();
  return loaded.ok() ? std::move(loaded).value() : nullptr;
}

Mamba2Options WithSsd() {
  Mamba2Options mo;
  mo.ssd_min_tokens = 32;
  return mo;
}

class Mamba2PropertyTest : public ::testing::TestWithParam<DType> {
 protected:
  void SetUp() override {
    ASSERT_TRUE(WriteRandomMamba2(dir_.path(), OddShape(GetParam())).ok());
    model_ = testing::Load(dir_.path(), 2);
    ASSERT_NE(model_, nullptr);
    ssd_ = LoadWithOptions(dir_, 2, WithSsd());
    ASSERT_NE(ssd_, nullptr);
  }
  TempDir dir_{"mamba2-prop"};
  std::unique_ptr<Model> model_;  // defaults: the recurrence for every chunk
  std::unique_ptr<Model> ssd_;    // chunks of >= 32 tokens in the SSD form
};

TEST_P(Mamba2PropertyTest, ShortChunksEqualStepsBitwise) {
  auto pool = ssd_->NewStatePool(2);
  const std::vector<int32_t> toks = Tokens(31, 1, kVocab);
  const int a = pool->Acquire().value();
  const std::vector<float> steps = RunSteps(*ssd_, *pool, a, toks);
  const int b = pool->Acquire().value();
  size_t pos = 0;
  for (size_t n : {5, 1, 13, 12}) {  // each < ssd_min_tokens (32): the recurrence
    const std::vector<int32_t> chunk(toks.begin() + static_cast<long>(pos),
                                     toks.begin() + static_cast<long>(pos + n));
    const std::vector<float> rows = testing::RunAll(*ssd_, *pool, b, chunk);
    ASSERT_TRUE(SameBits(rows.data(), &steps[pos * kVocab], n * kVocab)) << "chunk at " << pos;
    pos += n;
  }
  EXPECT_TRUE(SameBits(pool->SlotData(a), pool->SlotData(b), pool->layout().floats_per_sequence));
}

// The chunked SSD form (a 100-token chunk: 7 SSD chunks of 16) against the
// recurrence: equal within float rounding.
TEST_P(Mamba2PropertyTest, SsdPrefillMatchesStepsWithinTolerance) {
  auto pool = ssd_->NewStatePool(2);
  const std::vector<int32_t> toks = Tokens(100, 2, kVocab);
  const int a = pool->Acquire().value();
  const std::vector<float> steps = RunSteps(*ssd_, *pool, a, toks);
  const int b = pool->Acquire().value();
  const std::vector<float> chunk = testing::RunAll(*ssd_, *pool, b, toks);
  ASSERT_EQ(chunk.size(), steps.size());
  const double scale = std::max(1.0, MaxAbs(steps));
  const double logit_diff = MaxDiff(chunk.data(), steps.data(), steps.size());
  EXPECT_LE(logit_diff, 1e-5 * scale) << "max |logit| " << scale;
  EXPECT_FALSE(SameBits(chunk.data(), steps.data(), steps.size()))
      << "the long chunk did not take the SSD form";
  const size_t F = pool->layout().floats_per_sequence;
  std::vector<float> sa(pool->SlotData(a), pool->SlotData(a) + F);
  const double state_diff = MaxDiff(pool->SlotData(a), pool->SlotData(b), F);
  EXPECT_LE(state_diff, 1e-5 * std::max(1.0, MaxAbs(sa)));
  std::printf(
      "SSD vs recurrence, 100 tokens: max |Δlogit| %.3g (max |logit| %.3g), max |Δstate| %.3g\n",
      logit_diff, scale, state_diff);
  // Both continue alike.
  const std::vector<int32_t> more = Tokens(3, 3, kVocab);
  const std::vector<float> ca = testing::RunAll(*ssd_, *pool, a, more);
  const std::vector<float> cb = testing::RunAll(*ssd_, *pool, b, more);
  EXPECT_LE(MaxDiff(ca.data(), cb.data(), ca.size()), 1e-5 * scale);
}

// By default every chunk takes the recurrence: any split of the tokens,
// long chunks too, gives bitwise the single steps' logits and state.
TEST_P(Mamba2PropertyTest, DefaultIsTheRecurrenceBitwiseForLongChunks) {
  auto pool = model_->NewStatePool(3);
  const std::vector<int32_t> toks = Tokens(70, 4, kVocab);
  const int a = pool->Acquire().value();
  const std::vector<float> steps = RunSteps(*model_, *pool, a, toks);
  const int b = pool->Acquire().value();
  const std::vector<float> chunk = testing::RunAll(*model_, *pool, b, toks);
  EXPECT_TRUE(SameBits(chunk.data(), steps.data(), steps.size()));
  EXPECT_TRUE(SameBits(pool->SlotData(a), pool->SlotData(b), pool->layout().floats_per_sequence));
  const int c = pool->Acquire().value();
  size_t pos = 0;
  for (size_t n : {33, 1, 36}) {
    const std::vector<int32_t> part(toks.begin() + static_cast<long>(pos),
                                    toks.begin() + static_cast<long>(pos + n));
    const std::vector<float> rows = testing::RunAll(*model_, *pool, c, part);
    EXPECT_TRUE(SameBits(rows.data(), &steps[pos * kVocab], n * kVocab)) << "chunk at " << pos;
    pos += n;
  }
  EXPECT_TRUE(SameBits(pool->SlotData(a), pool->SlotData(c), pool->layout().floats_per_sequence));
  // And the SSD-enabled model's single steps are the same recurrence.
  auto pool2 = ssd_->NewStatePool(1);
  const std::vector<float> steps2 = RunSteps(*ssd_, *pool2, pool2->Acquire().value(), toks);
  EXPECT_TRUE(SameBits(steps2.data(), steps.data(), steps.size()));
}

void CheckBatchedEqualsUnbatched(Model& model) {
  const std::vector<size_t> lens = {1, 40, 4, 1, 33, 9};  // with the SSD form on, 40 and 33 take it
  std::vector<std::vector<int32_t>> toks;
  for (size_t i = 0; i < lens.size(); ++i)
    toks.push_back(Tokens(lens[i], 10 + static_cast<uint32_t>(i), kVocab));
  const std::vector<int32_t> warm = {1, 2, 3};
  std::vector<std::vector<float>> alone, alone_state;
  for (const auto& t : toks) {
    auto pool = model.NewStatePool(1);
    const int s = pool->Acquire().value();
    testing::RunAll(model, *pool, s, warm);
    alone.push_back(testing::RunAll(model, *pool, s, t));
    alone_state.emplace_back(pool->SlotData(s),
                             pool->SlotData(s) + pool->layout().floats_per_sequence);
  }
  auto pool = model.NewStatePool(8);
  std::vector<int> slots;
  for (int i = 0; i < 8; ++i) slots.push_back(pool->Acquire().value());
  const std::vector<int> use = {6, 2, 7, 0, 3, 5};
  Batch wb, batch;
  for (size_t i = 0; i < toks.size(); ++i) {
    wb.seqs.push_back({slots[static_cast<size_t>(use[i])], warm, false});
    batch.seqs.push_back({slots[static_cast<size_t>(use[i])], toks[i], true});
  }
  Logits out;
  ASSERT_TRUE(model.Forward(wb, *pool, &out).ok());
  ASSERT_TRUE(model.Forward(batch, *pool, &out).ok());
  for (size_t i = 0; i < toks.size(); ++i) {
    EXPECT_TRUE(SameBits(out.Row(out.row_offset[i]), alone[i].data(), lens[i] * kVocab))
        << "sequence " << i;
    EXPECT_TRUE(SameBits(pool->SlotData(slots[static_cast<size_t>(use[i])]), alone_state[i].data(),
                         alone_state[i].size()))
        << "state of sequence " << i;
  }
}

TEST_P(Mamba2PropertyTest, BatchedEqualsUnbatchedBitwise) {
  for (Model* m : {model_.get(), ssd_.get()}) {
    SCOPED_TRACE(m == ssd_.get() ? "SSD form on" : "defaults");
    CheckBatchedEqualsUnbatched(*m);
  }
}

TEST_P(Mamba2PropertyTest, ThreadCountDoesNotChangeResults) {
  const std::vector<int32_t> prompt = Tokens(50, 20, kVocab), next = Tokens(4, 21, kVocab);
  for (bool ssd : {false, true}) {
    SCOPED_TRACE(ssd ? "SSD form on" : "defaults");
    std::vector<std::vector<float>> results;
    for (int threads : {1, 2, 3}) {
      auto model =
          ssd ? LoadWithOptions(dir_, threads, WithSsd()) : testing::Load(dir_.path(), threads);
      ASSERT_NE(model, nullptr);
      auto pool = model->NewStatePool(1);
      const int s = pool->Acquire().value();
      std::vector<float> r = testing::RunAll(*model, *pool, s, prompt);
      const std::vector<float> steps = RunSteps(*model, *pool, s, next);
      r.insert(r.end(), steps.begin(), steps.end());
      r.insert(r.end(), pool->SlotData(s), pool->SlotData(s) + pool->layout().floats_per_sequence);
      results.push_back(std::move(r));
    }
    EXPECT_TRUE(SameBits(results[0].data(), results[1].data(), results[0].size()));
    EXPECT_TRUE(SameBits(results[0].data(), results[2].data(), results[0].size()));
  }
}

TEST_P(Mamba2PropertyTest, StateRoundTripContinuesIdentically) {
  auto pool = model_->NewStatePool(2);
  const int a = pool->Acquire().value();
  testing::RunAll(*model_, *pool, a, Tokens(45, 30, kVocab));
  const std::string bytes = pool->Snapshot(a).Serialize();
  // A fresh pool of a freshly loaded model.
  auto model2 = testing::Load(dir_.path(), 2);
  ASSERT_NE(model2, nullptr);
  auto pool2 = model2->NewStatePool(1);
  const int b = pool2->Acquire().value();
  auto st = HostState::Parse(bytes);
  ASSERT_TRUE(st.ok()) << st.status().ToString();
  ASSERT_TRUE(pool2->Restore(b, *st).ok());
  const std::vector<int32_t> next = Tokens(6, 31, kVocab);
  const std::vector<float> la = testing::RunAll(*model_, *pool, a, next);
  const std::vector<float> lb = testing::RunAll(*model2, *pool2, b, next);
  EXPECT_TRUE(SameBits(la.data(), lb.data(), la.size()));
  EXPECT_TRUE(SameBits(pool->SlotData(a), pool2->SlotData(b), pool->layout().floats_per_sequence));
  // A corrupted byte is refused.
  std::string bad = bytes;
  bad[bad.size() / 2] ^= 0x20;
  EXPECT_EQ(HostState::Parse(bad).status().code(), StatusCode::kDataLoss);
}

TEST_P(Mamba2PropertyTest, EmbedChunkAdvancesStateAsLogitsChunk) {
  ASSERT_TRUE(model_->SupportsEmbed());
  auto pool = model_->NewStatePool(2);
  const std::vector<int32_t> toks = Tokens(36, 40, kVocab);
  const int a = pool->Acquire().value(), b = pool->Acquire().value();
  testing::RunAll(*model_, *pool, a, toks);
  const std::vector<float> sum = testing::RunEmbed(*model_, *pool, b, toks);
  ASSERT_EQ(sum.size(), 36u);
  for (float v : sum) EXPECT_TRUE(std::isfinite(v));
  EXPECT_TRUE(SameBits(pool->SlotData(a), pool->SlotData(b), pool->layout().floats_per_sequence));
}

INSTANTIATE_TEST_SUITE_P(Dtypes, Mamba2PropertyTest,
                         ::testing::Values(DType::kF32, DType::kBF16, DType::kF16),
                         [](const auto& info) { return std::string(DTypeName(info.param)); });

// ---- Bad model files -------------------------------------------------------

class Mamba2BadFilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(WriteRandomMamba2(good_.path(), OddShape()).ok());
    auto store = io::OpenSafetensors(good_.File("model.safetensors"));
    ASSERT_TRUE(store.ok());
    store_ = std::move(store).value();
  }
  // The good tensors, transformed by `edit`, and `config` (else the good
  // config.json) in a fresh model folder.
  template <typename Edit>
  std::string WriteEdited(const TempDir& dir, Edit edit, const std::string& config = "") {
    std::vector<Tensor> ts = store_->tensors();
    edit(&ts);
    EXPECT_TRUE(io::WriteSafetensors(dir.File("model.safetensors"), ts).ok());
    if (config.empty()) {
      std::filesystem::copy_file(good_.File("config.json"), dir.File("config.json"));
    } else {
      std::ofstream(dir.File("config.json"), std::ios::trunc) << config;
    }
    return dir.path();
  }
  // Loads and expects `code` with `needle` in the message.
  static void ExpectError(const std::string& dir, StatusCode code, const std::string& needle) {
    auto m = LoadModel(dir);
    ASSERT_FALSE(m.ok());
    EXPECT_EQ(m.status().code(), code) << m.status().ToString();
    EXPECT_NE(m.status().message().find(needle), std::string::npos) << m.status().message();
  }
  TempDir good_{"mamba2-good"};
  std::unique_ptr<io::TensorStore> store_;
};

TEST_F(Mamba2BadFilesTest, MissingTensorIsNamed) {
  TempDir d("m2-missing");
  WriteEdited(d, [](std::vector<Tensor>* ts) {
    std::erase_if(*ts, [](const Tensor& t) { return t.name == "backbone.layers.1.mixer.dt_bias"; });
  });
  ExpectError(d.path(), StatusCode::kInvalidArgument, "backbone.layers.1.mixer.dt_bias");
}

TEST_F(Mamba2BadFilesTest, WrongShapeIsNamed) {
  TempDir d("m2-shape");
  WriteEdited(d, [](std::vector<Tensor>* ts) {
    for (Tensor& t : *ts) {
      if (t.name == "backbone.layers.2.mixer.out_proj.weight") std::swap(t.shape[0], t.shape[1]);
    }
  });
  ExpectError(d.path(), StatusCode::kInvalidArgument, "out_proj");
}

TEST_F(Mamba2BadFilesTest, HeadCountDiffersBetweenLayers) {
  TempDir d("m2-heads");
  WriteEdited(d, [](std::vector<Tensor>* ts) {
    for (Tensor& t : *ts) {
      if (t.name == "backbone.layers.1.mixer.A_log") {
        t.shape = {5};  // 6 heads in layer 0
        t.nbytes = 5 * 4;
      }
    }
  });
  ExpectError(d.path(), StatusCode::kInvalidArgument, "backbone.layers.1.mixer.A_log");
}

TEST_F(Mamba2BadFilesTest, ConfigDisagreesWithShapes) {
  std::ifstream in(good_.File("config.json"));
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string good = ss.str();
  const auto with = [&](const std::string& from, const std::string& to) {
    std::string s = good;
    const size_t at = s.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    return s.replace(at, from.size(), to);
  };
  TempDir d1("m2-dstate");
  WriteEdited(
      d1, [](std::vector<Tensor>*) {}, with("\"state_size\":20", "\"state_size\":16"));
  ExpectError(d1.path(), StatusCode::kInvalidArgument, "d_state");
  TempDir d2("m2-groups");  // 2 * 4 * d_state = 80 does not divide
  WriteEdited(
      d2, [](std::vector<Tensor>*) {}, with("\"n_groups\":2", "\"n_groups\":3"));
  ExpectError(d2.path(), StatusCode::kInvalidArgument, "n_groups");
  TempDir d3("m2-layers");
  WriteEdited(
      d3, [](std::vector<Tensor>*) {}, with("\"num_hidden_layers\":3", "\"num_hidden_layers\":4"));
  ExpectError(d3.path(), StatusCode::kInvalidArgument, "layers");
  TempDir d4("m2-gate");
  WriteEdited(
      d4, [](std::vector<Tensor>*) {},
      with("\"n_groups\":2", "\"n_groups\":2,\"norm_before_gate\":true"));
  ExpectError(d4.path(), StatusCode::kUnimplemented, "norm_before_gate");
  TempDir d5("m2-limit");
  WriteEdited(
      d5, [](std::vector<Tensor>*) {},
      with("\"n_groups\":2", "\"n_groups\":2,\"time_step_limit\":[0.1]"));
  ExpectError(d5.path(), StatusCode::kInvalidArgument, "time_step_limit");
}

// HF writes Python's Infinity in config.json ("time_step_limit": [0.0, Infinity]).
TEST_F(Mamba2BadFilesTest, PythonInfinityInConfigLoads) {
  TempDir d("m2-inf");
  std::ifstream in(good_.File("config.json"));
  std::stringstream ss;
  ss << in.rdbuf();
  std::string cfg = ss.str();
  const size_t at = cfg.find("\"time_step_limit\"");
  ASSERT_NE(at, std::string::npos);
  const size_t end = cfg.find(']', at);
  cfg.replace(at, end + 1 - at,
              "\"time_step_limit\": [0.002, Infinity], \"note\": \"NaN Infinity\"");
  WriteEdited(
      d, [](std::vector<Tensor>*) {}, cfg);
  auto a = LoadModel(d.path());
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  auto b = LoadModel(good_.path());
  ASSERT_TRUE(b.ok());
  EXPECT_NE((*a)->spec().details.find("dt_limit=[0.002000,inf]"), std::string::npos)
      << (*a)->spec().details;
  EXPECT_EQ((*a)->spec().details, (*b)->spec().details);
}

TEST_F(Mamba2BadFilesTest, MlpInsideMixerIsUnimplemented) {
  TempDir d("m2-dmlp");
  std::vector<std::vector<float>> keep;
  WriteEdited(d, [&](std::vector<Tensor>* ts) {
    for (Tensor& t : *ts) {
      if (t.name.ends_with("mixer.in_proj.weight")) {  // 2 * 16 extra rows (a d_mlp part)
        keep.emplace_back(static_cast<size_t>((t.shape[0] + 32) * t.shape[1]), 0.0f);
        t.shape[0] += 32;
        t.data = keep.back().data();
        t.nbytes = keep.back().size() * 4;
      }
    }
  });
  ExpectError(d.path(), StatusCode::kUnimplemented, "in_proj");
}

TEST_F(Mamba2BadFilesTest, TruncatedWeightsFile) {
  TempDir d("m2-trunc");
  std::filesystem::copy_file(good_.File("config.json"), d.File("config.json"));
  const auto size = std::filesystem::file_size(good_.File("model.safetensors"));
  std::filesystem::copy_file(good_.File("model.safetensors"), d.File("model.safetensors"));
  std::filesystem::resize_file(d.File("model.safetensors"), size / 2);
  auto m = LoadModel(d.path());
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().code(), StatusCode::kDataLoss);
}

TEST(Mamba2ShapeTest, PublishedShapes) {
  auto s = Mamba2Shape("mamba2-130m");
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->d_model, 768);
  EXPECT_EQ(s->n_layer, 24);
  EXPECT_EQ(s->d_state, 128);
  EXPECT_EQ(s->head_dim, 64);
  EXPECT_EQ(s->vocab_size, 50288);
  EXPECT_EQ(Mamba2Shape("mamba2-7b").status().code(), StatusCode::kNotFound);
}

}  // namespace
}  // namespace rs::engine
