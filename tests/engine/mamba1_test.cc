// Mamba-1 engine properties on random-weight models the project writes:
// prefill == steps, batched == unbatched, thread count independence (all
// bitwise), state size and round trip, and bad input. Parity with the
// reference implementation is in mamba1_parity_test.cc.
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>

#include "engine/io/tensor_store.h"
#include "engine/model.h"
#include "engine/models/random_model.h"
#include "tests/engine/model_test_util.h"

namespace rs::engine {
namespace {

using testing::TempDir;

// d_model 36 -> d_inner 72: channel tails that are not a multiple of 16.
RandomMamba1Options OddShape() {
  RandomMamba1Options o;
  o.d_model = 36;
  o.n_layer = 3;
  o.vocab_size = 300;
  o.d_state = 16;
  o.seed = 7;
  return o;
}

std::unique_ptr<Model> Load(const std::string& dir, int threads) {
  LoadOptions opts;
  opts.n_threads = threads;
  auto m = LoadModel(dir, opts);
  EXPECT_TRUE(m.ok()) << m.status().ToString();
  return m.ok() ? std::move(m).value() : nullptr;
}

std::vector<int32_t> Tokens(size_t n, uint32_t salt, int32_t vocab) {
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

bool SameBits(const float* a, const float* b, size_t n) { return std::memcmp(a, b, n * sizeof(float)) == 0; }

class Mamba1PropertyTest : public ::testing::TestWithParam<DType> {
 protected:
  void SetUp() override {
    RandomMamba1Options o = OddShape();
    o.dtype = GetParam();
    ASSERT_TRUE(WriteRandomMamba1(dir_.path(), o).ok());
    model_ = Load(dir_.path(), 2);
    ASSERT_NE(model_, nullptr);
  }
  TempDir dir_{"mamba1-prop"};
  std::unique_ptr<Model> model_;
};

TEST_P(Mamba1PropertyTest, SpecAndStateLayout) {
  const ModelSpec& s = model_->spec();
  EXPECT_EQ(s.arch, Arch::kMamba1);
  EXPECT_EQ(s.d_model, 36);
  EXPECT_EQ(s.n_layer, 3);
  EXPECT_EQ(s.vocab_size, 300);
  // Per layer: conv (K-1)×E = 3×72 and ssm E×N = 72×16, each 64-byte aligned.
  EXPECT_EQ(s.state.parts.size(), 6u);
  size_t floats = 0;
  for (const StatePart& p : s.state.parts) floats += p.n_floats;
  EXPECT_EQ(floats, 3u * (3 * 72 + 72 * 16));
  EXPECT_GE(s.state.floats_per_sequence, floats);
  EXPECT_LT(s.state.floats_per_sequence, floats + 16 * 6);
  EXPECT_EQ(s.fingerprint.size(), 16u);
}

TEST_P(Mamba1PropertyTest, PrefillEqualsStepsBitwise) {
  auto pool = model_->NewStatePool(3);
  const std::vector<int32_t> toks = Tokens(37, 1, 300);
  const int64_t V = model_->spec().vocab_size;

  int a = pool->Acquire().value();
  std::vector<float> all = testing::RunAll(*model_, *pool, a, toks);
  ASSERT_EQ(all.size(), toks.size() * static_cast<size_t>(V));

  // One token at a time.
  int b = pool->Acquire().value();
  for (size_t t = 0; t < toks.size(); ++t) {
    std::vector<float> row = testing::RunAll(*model_, *pool, b, {toks[t]});
    ASSERT_TRUE(SameBits(row.data(), &all[t * static_cast<size_t>(V)], static_cast<size_t>(V))) << "position " << t;
  }
  EXPECT_TRUE(SameBits(pool->SlotData(a), pool->SlotData(b), pool->layout().floats_per_sequence));

  // Uneven chunks: 5, 1, 13, 18.
  int c = pool->Acquire().value();
  size_t pos = 0;
  for (size_t n : {5, 1, 13, 18}) {
    std::vector<int32_t> chunk(toks.begin() + static_cast<long>(pos), toks.begin() + static_cast<long>(pos + n));
    std::vector<float> rows = testing::RunAll(*model_, *pool, c, chunk);
    ASSERT_TRUE(SameBits(rows.data(), &all[pos * static_cast<size_t>(V)], n * static_cast<size_t>(V))) << "chunk at " << pos;
    pos += n;
  }
  EXPECT_TRUE(SameBits(pool->SlotData(a), pool->SlotData(c), pool->layout().floats_per_sequence));
}

TEST_P(Mamba1PropertyTest, BatchedEqualsUnbatchedBitwise) {
  const int64_t V = model_->spec().vocab_size;
  const std::vector<size_t> lens = {1, 9, 4, 1, 23};
  std::vector<std::vector<int32_t>> toks;
  for (size_t i = 0; i < lens.size(); ++i) toks.push_back(Tokens(lens[i], 10 + static_cast<uint32_t>(i), 300));

  // Alone, each in its own pool.
  std::vector<std::vector<float>> alone;
  std::vector<std::vector<float>> alone_state;
  for (const auto& t : toks) {
    auto pool = model_->NewStatePool(1);
    int s = pool->Acquire().value();
    // Warm the state with a few tokens first so states are non-zero.
    testing::RunAll(*model_, *pool, s, {1, 2, 3});
    alone.push_back(testing::RunAll(*model_, *pool, s, t));
    alone_state.emplace_back(pool->SlotData(s), pool->SlotData(s) + pool->layout().floats_per_sequence);
  }
  // Together in one step, slots in a shuffled order.
  auto pool = model_->NewStatePool(8);
  std::vector<int> slots;
  for (int i = 0; i < 8; ++i) slots.push_back(pool->Acquire().value());
  const std::vector<int> use = {6, 2, 7, 0, 3};
  Batch warm, batch;
  const std::vector<int32_t> w = {1, 2, 3};
  for (size_t i = 0; i < toks.size(); ++i) {
    warm.seqs.push_back({slots[static_cast<size_t>(use[i])], w, false});
    batch.seqs.push_back({slots[static_cast<size_t>(use[i])], toks[i], true});
  }
  Logits out;
  ASSERT_TRUE(model_->Forward(warm, *pool, &out).ok());
  ASSERT_TRUE(model_->Forward(batch, *pool, &out).ok());
  for (size_t i = 0; i < toks.size(); ++i) {
    const float* rows = out.Row(out.row_offset[i]);
    EXPECT_TRUE(SameBits(rows, alone[i].data(), lens[i] * static_cast<size_t>(V))) << "sequence " << i;
    EXPECT_TRUE(SameBits(pool->SlotData(slots[static_cast<size_t>(use[i])]), alone_state[i].data(), alone_state[i].size()))
        << "state of sequence " << i;
  }
}

TEST_P(Mamba1PropertyTest, ThreadCountDoesNotChangeResults) {
  auto one = Load(dir_.path(), 1);
  ASSERT_NE(one, nullptr);
  const std::vector<int32_t> toks = Tokens(19, 3, 300);
  auto p1 = one->NewStatePool(1);
  auto p2 = model_->NewStatePool(1);
  std::vector<float> a = testing::RunAll(*one, *p1, p1->Acquire().value(), toks);
  std::vector<float> b = testing::RunAll(*model_, *p2, p2->Acquire().value(), toks);
  ASSERT_EQ(a.size(), b.size());
  EXPECT_TRUE(SameBits(a.data(), b.data(), a.size()));
}

TEST_P(Mamba1PropertyTest, SnapshotRestoreContinuesIdentically) {
  auto pool = model_->NewStatePool(2);
  const std::vector<int32_t> first = Tokens(11, 4, 300), second = Tokens(6, 5, 300);
  int a = pool->Acquire().value();
  testing::RunAll(*model_, *pool, a, first);
  std::string bytes = pool->Snapshot(a).Serialize();
  std::vector<float> expect = testing::RunAll(*model_, *pool, a, second);

  // Another pool of a freshly loaded copy of the same model accepts it.
  auto again = Load(dir_.path(), 2);
  ASSERT_NE(again, nullptr);
  EXPECT_EQ(again->spec().fingerprint, model_->spec().fingerprint);
  auto pool2 = again->NewStatePool(1);
  int b = pool2->Acquire().value();
  auto st = HostState::Parse(bytes);
  ASSERT_TRUE(st.ok());
  ASSERT_TRUE(pool2->Restore(b, *st).ok());
  std::vector<float> got = testing::RunAll(*again, *pool2, b, second);
  EXPECT_TRUE(SameBits(got.data(), expect.data(), got.size()));
}

TEST_P(Mamba1PropertyTest, BadBatchesAreRejected) {
  auto pool = model_->NewStatePool(2);
  int a = pool->Acquire().value();
  Logits out;
  const std::vector<int32_t> bad_tok = {1, 300}, neg = {-1}, ok = {5}, empty;
  Batch b1;
  b1.seqs.push_back({a, bad_tok, false});
  EXPECT_EQ(model_->Forward(b1, *pool, &out).code(), StatusCode::kInvalidArgument);
  Batch b2;
  b2.seqs.push_back({a, neg, false});
  EXPECT_EQ(model_->Forward(b2, *pool, &out).code(), StatusCode::kInvalidArgument);
  Batch b3;
  b3.seqs.push_back({a, empty, false});
  EXPECT_EQ(model_->Forward(b3, *pool, &out).code(), StatusCode::kInvalidArgument);
  Batch b4;
  b4.seqs.push_back({1, ok, false});  // slot not acquired
  EXPECT_EQ(model_->Forward(b4, *pool, &out).code(), StatusCode::kInvalidArgument);
  Batch b5;
  b5.seqs.push_back({a, ok, false});
  b5.seqs.push_back({a, ok, false});  // same slot twice
  EXPECT_EQ(model_->Forward(b5, *pool, &out).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(model_->Forward(Batch{}, *pool, &out).code(), StatusCode::kInvalidArgument);
  // A pool of another model.
  StatePool foreign(model_->spec().state, "someone-else", 1);
  int f = foreign.Acquire().value();
  Batch b6;
  b6.seqs.push_back({f, ok, false});
  EXPECT_EQ(model_->Forward(b6, foreign, &out).code(), StatusCode::kInvalidArgument);
  // The state was not touched by any rejected call.
  std::vector<float> zero(pool->layout().floats_per_sequence, 0.0f);
  EXPECT_TRUE(SameBits(pool->SlotData(a), zero.data(), zero.size()));
}

INSTANTIATE_TEST_SUITE_P(Dtypes, Mamba1PropertyTest, ::testing::Values(DType::kF32, DType::kBF16, DType::kF16),
                         [](const auto& info) { return std::string(DTypeName(info.param)); });

// ---- Bad model files -------------------------------------------------------

class Mamba1BadFilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(WriteRandomMamba1(good_.path(), OddShape()).ok());
    auto store = io::OpenSafetensors(good_.File("model.safetensors"));
    ASSERT_TRUE(store.ok());
    store_ = std::move(store).value();
  }
  // Writes the good tensors, transformed by `edit`, into a fresh model folder.
  template <typename Edit>
  std::string WriteEdited(const TempDir& dir, Edit edit) {
    std::vector<Tensor> ts = store_->tensors();
    edit(&ts);
    EXPECT_TRUE(io::WriteSafetensors(dir.File("model.safetensors"), ts).ok());
    std::filesystem::copy_file(good_.File("config.json"), dir.File("config.json"));
    return dir.path();
  }
  TempDir good_{"mamba1-good"};
  std::unique_ptr<io::TensorStore> store_;
};

TEST_F(Mamba1BadFilesTest, MissingPathsAndFiles) {
  auto m = LoadModel(good_.File("does-not-exist"));
  EXPECT_EQ(m.status().code(), StatusCode::kNotFound);
  TempDir empty("empty");
  m = LoadModel(empty.path());
  EXPECT_EQ(m.status().code(), StatusCode::kNotFound);
  EXPECT_NE(m.status().message().find("no model weights"), std::string::npos);
}

TEST_F(Mamba1BadFilesTest, MissingTensorIsNamed) {
  TempDir d("missing-tensor");
  WriteEdited(d, [](std::vector<Tensor>* ts) {
    std::erase_if(*ts, [](const Tensor& t) { return t.name == "backbone.layers.1.mixer.x_proj.weight"; });
  });
  auto m = LoadModel(d.path());
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(m.status().message().find("backbone.layers.1.mixer.x_proj.weight"), std::string::npos)
      << m.status().message();
}

TEST_F(Mamba1BadFilesTest, WrongShapeIsNamed) {
  TempDir d("wrong-shape");
  WriteEdited(d, [](std::vector<Tensor>* ts) {
    for (Tensor& t : *ts) {
      if (t.name == "backbone.layers.2.mixer.out_proj.weight") {
        std::swap(t.shape[0], t.shape[1]);  // (E, D) instead of (D, E): same bytes, wrong shape
      }
    }
  });
  auto m = LoadModel(d.path());
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(m.status().message().find("out_proj"), std::string::npos) << m.status().message();
}

TEST_F(Mamba1BadFilesTest, UnknownArchitecture) {
  TempDir d("unknown-arch");
  WriteEdited(d, [](std::vector<Tensor>* ts) {
    for (Tensor& t : *ts) t.name = "model." + t.name;  // names of no architecture we know
  });
  auto m = LoadModel(d.path());
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().code(), StatusCode::kUnimplemented);
  EXPECT_NE(m.status().message().find("unknown architecture"), std::string::npos);

  TempDir d2("llama");
  WriteEdited(d2, [](std::vector<Tensor>*) {});
  {
    std::ofstream(d2.File("config.json"), std::ios::trunc) << R"({"model_type": "llama"})";
  }
  m = LoadModel(d2.path());
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().code(), StatusCode::kUnimplemented);
  EXPECT_NE(m.status().message().find("llama"), std::string::npos);
}

TEST_F(Mamba1BadFilesTest, UnsupportedDtype) {
  TempDir d("int-weights");
  WriteEdited(d, [](std::vector<Tensor>* ts) {
    for (Tensor& t : *ts) {
      if (t.name == "backbone.layers.0.mixer.in_proj.weight") {
        t.dtype = DType::kI32;  // same byte size as F32
      }
    }
  });
  auto m = LoadModel(d.path());
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().code(), StatusCode::kUnimplemented);
  EXPECT_NE(m.status().message().find("I32"), std::string::npos) << m.status().message();
}

TEST_F(Mamba1BadFilesTest, BadConfigJson) {
  TempDir d("bad-config");
  WriteEdited(d, [](std::vector<Tensor>*) {});
  {
    std::ofstream(d.File("config.json"), std::ios::trunc) << "{\"model_type\": \"mamba\", ";
  }
  auto m = LoadModel(d.path());
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(m.status().message().find("config.json"), std::string::npos);
}

TEST_F(Mamba1BadFilesTest, TruncatedWeightsFile) {
  TempDir d("truncated");
  std::filesystem::copy_file(good_.File("config.json"), d.File("config.json"));
  const auto size = std::filesystem::file_size(good_.File("model.safetensors"));
  std::filesystem::copy_file(good_.File("model.safetensors"), d.File("model.safetensors"));
  std::filesystem::resize_file(d.File("model.safetensors"), size / 2);
  auto m = LoadModel(d.path());
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().code(), StatusCode::kDataLoss);
}

TEST_F(Mamba1BadFilesTest, LayerCountMismatchWithConfig) {
  TempDir d("layer-mismatch");
  WriteEdited(d, [](std::vector<Tensor>*) {});
  {
    std::ofstream(d.File("config.json"), std::ios::trunc) << R"({"model_type": "mamba", "num_hidden_layers": 5})";
  }
  auto m = LoadModel(d.path());
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace rs::engine
