// Properties every architecture keeps on the CPU backend, checked on
// random-weight models the project writes: prefill == steps, batched ==
// unbatched, thread-count independence (all bitwise), snapshot/restore
// continuing identically, bad batches rejected without touching state, and
// embed chunks (SeqChunk::embed): the normed hidden state lm_head multiplies,
// chunk == single steps, and no effect on the logits beside them.
// Parity with each reference implementation is in <arch>_parity_test.cc.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <string>

#include "engine/model.h"
#include "engine/models/mamba1.h"
#include "engine/models/random_model.h"
#include "engine/models/rwkv_common.h"
#include "kernels/cpu/gemm.h"
#include "tests/engine/model_test_util.h"

namespace rs::engine {
namespace {

using testing::Load;
using testing::SameBits;
using testing::TempDir;
using testing::Tokens;

struct ModelCase {
  std::string name;
  std::function<Status(const std::string& dir)> write;  // a model with vocab 300
};

class ModelPropertyTest : public ::testing::TestWithParam<ModelCase> {
 protected:
  void SetUp() override {
    Status s = GetParam().write(dir_.path());
    ASSERT_TRUE(s.ok()) << s.ToString();
    model_ = Load(dir_.path(), 2);
    ASSERT_NE(model_, nullptr);
    ASSERT_EQ(model_->spec().vocab_size, 300);
  }
  TempDir dir_{"model-prop"};
  std::unique_ptr<Model> model_;
};

TEST_P(ModelPropertyTest, PrefillEqualsStepsBitwise) {
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
    ASSERT_TRUE(SameBits(row.data(), &all[t * static_cast<size_t>(V)], static_cast<size_t>(V)))
        << "position " << t;
  }
  EXPECT_TRUE(SameBits(pool->SlotData(a), pool->SlotData(b), pool->layout().floats_per_sequence));

  // Uneven chunks: 5, 1, 13, 18.
  int c = pool->Acquire().value();
  size_t pos = 0;
  for (size_t n : {5, 1, 13, 18}) {
    std::vector<int32_t> chunk(toks.begin() + static_cast<long>(pos),
                               toks.begin() + static_cast<long>(pos + n));
    std::vector<float> rows = testing::RunAll(*model_, *pool, c, chunk);
    ASSERT_TRUE(
        SameBits(rows.data(), &all[pos * static_cast<size_t>(V)], n * static_cast<size_t>(V)))
        << "chunk at " << pos;
    pos += n;
  }
  EXPECT_TRUE(SameBits(pool->SlotData(a), pool->SlotData(c), pool->layout().floats_per_sequence));
}

TEST_P(ModelPropertyTest, BatchedEqualsUnbatchedBitwise) {
  const int64_t V = model_->spec().vocab_size;
  const std::vector<size_t> lens = {1, 9, 4, 1, 23};
  std::vector<std::vector<int32_t>> toks;
  for (size_t i = 0; i < lens.size(); ++i)
    toks.push_back(Tokens(lens[i], 10 + static_cast<uint32_t>(i), 300));

  // Alone, each in its own pool.
  std::vector<std::vector<float>> alone;
  std::vector<std::vector<float>> alone_state;
  for (const auto& t : toks) {
    auto pool = model_->NewStatePool(1);
    int s = pool->Acquire().value();
    // Warm the state with a few tokens first so states are non-zero.
    testing::RunAll(*model_, *pool, s, {1, 2, 3});
    alone.push_back(testing::RunAll(*model_, *pool, s, t));
    alone_state.emplace_back(pool->SlotData(s),
                             pool->SlotData(s) + pool->layout().floats_per_sequence);
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
    EXPECT_TRUE(SameBits(rows, alone[i].data(), lens[i] * static_cast<size_t>(V)))
        << "sequence " << i;
    EXPECT_TRUE(SameBits(pool->SlotData(slots[static_cast<size_t>(use[i])]), alone_state[i].data(),
                         alone_state[i].size()))
        << "state of sequence " << i;
  }
}

TEST_P(ModelPropertyTest, ThreadCountDoesNotChangeResults) {
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

TEST_P(ModelPropertyTest, SnapshotRestoreContinuesIdentically) {
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

TEST_P(ModelPropertyTest, BadBatchesAreRejected) {
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

// The (V, D) matrix a CPU model's lm_head multiplies (Mamba-1 or RWKV).
kernels::WeightMatrix HeadOf(const Model& model) {
  if (auto w = Mamba1WeightsOf(model)) return w->lm_head;
  const auto* rwkv = dynamic_cast<const RwkvModel*>(&model);
  EXPECT_NE(rwkv, nullptr) << "no head accessor for this architecture";
  return rwkv != nullptr ? rwkv->head() : kernels::WeightMatrix{};
}

TEST_P(ModelPropertyTest, EmbedIsTheNormedHiddenStateTheHeadMultiplies) {
  // A one-token embed chunk gives that position's final normed hidden state h;
  // head · h (in double, here) must be the logits row of the same position.
  auto pool = model_->NewStatePool(2);
  const std::vector<int32_t> toks = Tokens(9, 21, 300);
  const int64_t V = model_->spec().vocab_size, D = model_->spec().d_model;
  const kernels::WeightMatrix head = HeadOf(*model_);
  ASSERT_EQ(head.n, V);
  ASSERT_EQ(head.k, D);
  std::vector<float> w(static_cast<size_t>(V * D));
  for (int64_t v = 0; v < V; ++v) kernels::WeightRowToF32(head, v, &w[static_cast<size_t>(v * D)]);
  const int a = pool->Acquire().value(), b = pool->Acquire().value();
  const std::vector<float> logits = testing::RunAll(*model_, *pool, a, toks);
  double max_diff = 0, max_logit = 0, max_h = 0;
  for (size_t t = 0; t < toks.size(); ++t) {
    const std::vector<float> h = testing::RunEmbed(*model_, *pool, b, {toks[t]});
    ASSERT_EQ(static_cast<int64_t>(h.size()), D);
    for (float x : h) max_h = std::max(max_h, static_cast<double>(std::fabs(x)));
    for (int64_t v = 0; v < V; ++v) {
      double dot = 0;
      for (int64_t d = 0; d < D; ++d)
        dot += static_cast<double>(w[static_cast<size_t>(v * D + d)]) * h[static_cast<size_t>(d)];
      const float logit = logits[t * static_cast<size_t>(V) + static_cast<size_t>(v)];
      max_diff = std::max(max_diff, std::fabs(dot - logit));
      max_logit = std::max(max_logit, static_cast<double>(std::fabs(logit)));
    }
  }
  EXPECT_GT(max_h, 0.1);
  EXPECT_GT(max_logit, 0.1);
  EXPECT_LE(max_diff, 1e-5 * std::max(1.0, max_logit)) << "max |logit| " << max_logit;
  // Embedding advanced the state exactly as computing logits did.
  EXPECT_TRUE(SameBits(pool->SlotData(a), pool->SlotData(b), pool->layout().floats_per_sequence));
}

TEST_P(ModelPropertyTest, EmbedChunkEqualsSumOfSingleStepEmbedsBitwise) {
  auto pool = model_->NewStatePool(3);
  const std::vector<int32_t> toks = Tokens(37, 22, 300);
  const auto D = static_cast<size_t>(model_->spec().d_model);
  const int a = pool->Acquire().value(), b = pool->Acquire().value(), c = pool->Acquire().value();
  const std::vector<float> whole = testing::RunEmbed(*model_, *pool, a, toks);
  ASSERT_EQ(whole.size(), D);
  // The chunk sums in position order from zero: so does this loop.
  std::vector<float> acc(D, 0.0f);
  for (int32_t t : toks) {
    const std::vector<float> h = testing::RunEmbed(*model_, *pool, b, {t});
    ASSERT_EQ(h.size(), D);
    for (size_t d = 0; d < D; ++d) acc[d] += h[d];
  }
  EXPECT_TRUE(SameBits(whole.data(), acc.data(), D));
  EXPECT_TRUE(SameBits(pool->SlotData(a), pool->SlotData(b), pool->layout().floats_per_sequence));
  // Uneven chunks: the same sum up to fp32 rounding, and the same state.
  std::vector<float> chunked(D, 0.0f);
  size_t pos = 0;
  for (size_t n : {5, 1, 13, 18}) {
    const std::vector<int32_t> chunk(toks.begin() + static_cast<long>(pos),
                                     toks.begin() + static_cast<long>(pos + n));
    const std::vector<float> part = testing::RunEmbed(*model_, *pool, c, chunk);
    ASSERT_EQ(part.size(), D);
    for (size_t d = 0; d < D; ++d) chunked[d] += part[d];
    pos += n;
  }
  double max_diff = 0, max_abs = 0;
  for (size_t d = 0; d < D; ++d) {
    max_diff = std::max(max_diff, static_cast<double>(std::fabs(chunked[d] - whole[d])));
    max_abs = std::max(max_abs, static_cast<double>(std::fabs(whole[d])));
  }
  EXPECT_GT(max_abs, 1.0);
  EXPECT_LE(max_diff, 1e-5 * max_abs);
  EXPECT_TRUE(SameBits(pool->SlotData(a), pool->SlotData(c), pool->layout().floats_per_sequence));
}

TEST_P(ModelPropertyTest, EmbedBesideLogitsChangesNeitherBitwise) {
  const int64_t V = model_->spec().vocab_size;
  const auto D = static_cast<size_t>(model_->spec().d_model);
  const auto floats = model_->spec().state.floats_per_sequence;
  // (tokens, embed, all_logits): logits and embed sequences interleaved.
  struct Seq {
    std::vector<int32_t> toks;
    bool embed, all;
  };
  const std::vector<Seq> seqs = {
      {Tokens(9, 30, 300), false, false}, {Tokens(23, 31, 300), true, false},
      {Tokens(4, 32, 300), false, true},  {Tokens(1, 33, 300), true, false},
      {Tokens(1, 34, 300), false, false}, {Tokens(6, 35, 300), true, false}};
  const std::vector<int32_t> warm = {1, 2, 3};
  const auto chunk = [](int slot, const Seq& q) {
    SeqChunk c;
    c.slot = slot;
    c.tokens = q.toks;
    c.embed = q.embed;
    c.all_logits = q.all;
    return c;
  };
  // Mixed: every sequence in one step, in shuffled slots.
  auto pool = model_->NewStatePool(8);
  std::vector<int> slots;
  for (int i = 0; i < 8; ++i) slots.push_back(pool->Acquire().value());
  const std::vector<int> use = {6, 2, 7, 0, 3, 5};
  Batch warm_all, mixed;
  for (size_t i = 0; i < seqs.size(); ++i) {
    const int slot = slots[static_cast<size_t>(use[i])];
    warm_all.seqs.push_back({slot, warm, false});
    mixed.seqs.push_back(chunk(slot, seqs[i]));
  }
  Logits out;
  ASSERT_TRUE(model_->Forward(warm_all, *pool, &out).ok());
  ASSERT_TRUE(model_->Forward(mixed, *pool, &out).ok());
  ASSERT_EQ(out.row_offset.size(), seqs.size());
  ASSERT_EQ(out.embed_offset.size(), seqs.size());
  EXPECT_EQ(out.d_model, static_cast<int64_t>(D));
  EXPECT_EQ(out.embed_sums.size(), 3 * D);
  // Rows only for the logits sequences: 1 (last) + 4 (all_logits) + 1 (last).
  EXPECT_EQ(out.data.size(), 6 * static_cast<size_t>(V));

  // The logits sequences alone in one step; each embed sequence alone.
  auto pool2 = model_->NewStatePool(8);
  std::vector<int> slots2;
  for (int i = 0; i < 8; ++i) slots2.push_back(pool2->Acquire().value());
  Batch warm2, logits_only;
  for (size_t i = 0; i < seqs.size(); ++i) {
    const int slot = slots2[i];
    warm2.seqs.push_back({slot, warm, false});
    if (!seqs[i].embed) logits_only.seqs.push_back(chunk(slot, seqs[i]));
  }
  Logits ref;
  ASSERT_TRUE(model_->Forward(warm2, *pool2, &ref).ok());
  ASSERT_TRUE(model_->Forward(logits_only, *pool2, &ref).ok());
  size_t k = 0, e = 0;
  for (size_t i = 0; i < seqs.size(); ++i) {
    const int slot = slots[static_cast<size_t>(use[i])], slot2 = slots2[i];
    if (seqs[i].embed) {
      EXPECT_EQ(out.row_offset[i], -1);
      EXPECT_EQ(out.embed_offset[i], static_cast<int64_t>(e++));
      Batch alone;
      alone.seqs.push_back(chunk(slot2, seqs[i]));
      Logits a;
      ASSERT_TRUE(model_->Forward(alone, *pool2, &a).ok());
      EXPECT_TRUE(SameBits(out.EmbedSum(i), a.EmbedSum(0), D)) << "embed sequence " << i;
    } else {
      EXPECT_EQ(out.embed_offset[i], -1);
      const size_t rows = seqs[i].all ? seqs[i].toks.size() : 1;
      EXPECT_TRUE(SameBits(out.Row(out.row_offset[i]), ref.Row(ref.row_offset[k]),
                           rows * static_cast<size_t>(V)))
          << "logits sequence " << i;
      ++k;
    }
    EXPECT_TRUE(SameBits(pool->SlotData(slot), pool2->SlotData(slot2), floats))
        << "state of sequence " << i;
  }
}

TEST_P(ModelPropertyTest, EmbedWithAllLogitsIsRejected) {
  auto pool = model_->NewStatePool(1);
  const int a = pool->Acquire().value();
  const std::vector<int32_t> toks = {4, 5};
  SeqChunk c;
  c.slot = a;
  c.tokens = toks;
  c.embed = true;
  c.all_logits = true;
  Batch b;
  b.seqs.push_back(c);
  Logits out;
  EXPECT_EQ(model_->Forward(b, *pool, &out).code(), StatusCode::kInvalidArgument);
  std::vector<float> zero(pool->layout().floats_per_sequence, 0.0f);
  EXPECT_TRUE(SameBits(pool->SlotData(a), zero.data(), zero.size()));
}

ModelCase MambaCase(DType dtype) {
  return {std::string("mamba1_") + DTypeName(dtype), [dtype](const std::string& dir) {
            RandomMamba1Options o = testing::OddMamba1Shape();
            o.dtype = dtype;
            return WriteRandomMamba1(dir, o);
          }};
}

ModelCase RwkvCase(int version, DType dtype) {
  return {"rwkv" + std::to_string(version) + "_" + DTypeName(dtype),
          [version, dtype](const std::string& dir) {
            RandomRwkvOptions o = testing::OddRwkvShape(version);
            o.dtype = dtype;
            return WriteRandomRwkv(dir, o);
          }};
}

INSTANTIATE_TEST_SUITE_P(Models, ModelPropertyTest,
                         ::testing::Values(MambaCase(DType::kF32), MambaCase(DType::kBF16),
                                           MambaCase(DType::kF16), RwkvCase(7, DType::kF32),
                                           RwkvCase(7, DType::kBF16), RwkvCase(7, DType::kF16),
                                           RwkvCase(6, DType::kF32), RwkvCase(6, DType::kBF16),
                                           RwkvCase(6, DType::kF16)),
                         [](const auto& info) { return info.param.name; });

}  // namespace
}  // namespace rs::engine
