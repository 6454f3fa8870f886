// GPT-NeoX BPE against HF `tokenizers` goldens
// (tests/data/tokenizer/make_goldens.py).
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <thread>
#include <vector>

#include "engine/tokenizer/bpe_model.h"
#include "engine/tokenizer/tokenizer.h"
#include "engine/util/json.h"
#include "tests/tokenizer/tokenizer_test_util.h"

namespace rs::engine {
namespace {

using testing::IdsToString;
using testing::Neox;

struct Golden {
  std::string name, text, nfc;
  std::vector<int32_t> ids;
};

const std::vector<Golden>& Goldens() {
  static const std::vector<Golden> goldens = [] {
    std::vector<Golden> out;
    auto root = json::Parse(testing::ReadFileOrDie(testing::GoldensPath()));
    EXPECT_TRUE(root.ok()) << root.status().ToString();
    if (!root.ok()) return out;
    for (const json::Value& c : root->Find("cases")->AsArray()) {
      Golden g{
          c.Find("name")->AsString(), c.Find("text")->AsString(), c.Find("nfc")->AsString(), {}};
      for (const json::Value& id : c.Find("ids")->AsArray()) {
        g.ids.push_back(static_cast<int32_t>(id.AsInt()));
      }
      out.push_back(std::move(g));
    }
    return out;
  }();
  return goldens;
}

TEST(BpeTokenizerTest, Metadata) {
  RS_REQUIRE_NEOX();
  EXPECT_EQ(Neox()->name(), "gpt-neox-bpe");
  EXPECT_EQ(Neox()->vocab_size(), 50277);
  ASSERT_TRUE(Neox()->eos_id().has_value());
  EXPECT_EQ(*Neox()->eos_id(), 0);
  EXPECT_EQ(Neox()->TokenBytes(0), "<|endoftext|>");
  EXPECT_EQ(Neox()->TokenBytes(1), "<|padding|>");
  EXPECT_EQ(Neox()->TokenBytes(50276), "  ");
  EXPECT_EQ(Neox()->TokenBytes(50254), std::string(24, ' '));
  EXPECT_EQ(Neox()->TokenBytes(-1), "");
  EXPECT_EQ(Neox()->TokenBytes(50277), "");
}

TEST(BpeTokenizerTest, MatchesHfGoldens) {
  RS_REQUIRE_NEOX();
  ASSERT_GE(Goldens().size(), 60u);
  for (const Golden& g : Goldens()) {
    auto ids = Neox()->Encode(g.text);
    ASSERT_TRUE(ids.ok()) << g.name << ": " << ids.status().ToString();
    EXPECT_EQ(IdsToString(*ids), IdsToString(g.ids)) << g.name;
  }
}

TEST(BpeTokenizerTest, DecodeEncodeIsNfc) {
  RS_REQUIRE_NEOX();
  for (const Golden& g : Goldens()) {
    EXPECT_EQ(Neox()->Decode(g.ids), g.nfc) << g.name;
  }
}

TEST(BpeTokenizerTest, KnownSmallCases) {
  RS_REQUIRE_NEOX();
  auto ids = Neox()->Encode("Hello<|endoftext|>");
  ASSERT_TRUE(ids.ok());
  ASSERT_FALSE(ids->empty());
  EXPECT_EQ(ids->back(), 0);
  // Runs of 2..24 spaces are single added tokens (normalized=true).
  for (int n = 2; n <= 24; ++n) {
    std::string text(n + 2, ' ');
    text.front() = 'a';
    text.back() = 'b';
    auto r = Neox()->Encode(text);
    ASSERT_TRUE(r.ok());
    ASSERT_EQ(r->size(), 3u) << n;
    EXPECT_EQ((*r)[1], 50278 - n) << n;
  }
  auto empty = Neox()->Encode("");
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->empty());
  EXPECT_EQ(Neox()->Decode({}), "");
}

TEST(BpeTokenizerTest, DecodeSkipsUnknownIds) {
  RS_REQUIRE_NEOX();
  auto ids = Neox()->Encode("hi there");
  ASSERT_TRUE(ids.ok());
  std::vector<int32_t> with_junk = {-5, (*ids)[0], 1 << 30, (*ids)[1], 50277};
  EXPECT_EQ(Neox()->Decode(with_junk), "hi there");
}

TEST(BpeTokenizerTest, RejectsInvalidUtf8WithOffset) {
  RS_REQUIRE_NEOX();
  auto r = Neox()->Encode("ok \xC3");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("byte offset 3"), std::string::npos) << r.status().ToString();
}

// Random byte strings that are valid UTF-8 round-trip through the NFC
// normalizer's output (decode(encode(x)) is NFC(x), and NFC of ASCII and of
// most code points is the identity), and the cache never changes results.
TEST(BpeTokenizerTest, CachedAndUncachedAgreeOnRandomWords) {
  RS_REQUIRE_NEOX();
  std::mt19937 rng(7);
  const char* alphabet[] = {"a", "b", "e", "t", "h",  " ",  "\u00e9", "\u4e2d", "\U0001f600",
                            "1", ".", "'", "s", "\n", "th", "ing",    "\u0301"};
  for (int trial = 0; trial < 300; ++trial) {
    std::string text;
    const int n = rng() % 40;
    for (int i = 0; i < n; ++i) text += alphabet[rng() % std::size(alphabet)];
    auto first = Neox()->Encode(text);
    auto second = Neox()->Encode(text);  // now from the word cache
    ASSERT_TRUE(first.ok() && second.ok());
    EXPECT_EQ(IdsToString(*first), IdsToString(*second));
    for (int32_t id : *first) {
      EXPECT_GE(id, 0);
      EXPECT_LT(id, Neox()->vocab_size());
    }
  }
}

TEST(BpeTokenizerTest, ConcurrentEncodeIsConsistent) {
  RS_REQUIRE_NEOX();
  std::vector<std::vector<int32_t>> expected;
  for (const Golden& g : Goldens()) expected.push_back(g.ids);
  std::vector<std::thread> threads;
  std::vector<int> mismatches(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int round = 0; round < 3; ++round) {
        for (size_t i = 0; i < Goldens().size(); ++i) {
          auto ids = Neox()->Encode(Goldens()[(i + t * 7) % Goldens().size()].text);
          if (!ids.ok() || *ids != expected[(i + t * 7) % Goldens().size()]) ++mismatches[t];
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int t = 0; t < 4; ++t) EXPECT_EQ(mismatches[t], 0) << "thread " << t;
}

// The merge loop on a toy model: ranks decide, ties go to the leftmost.
TEST(BpeModelTest, MergesByRankLeftmostFirst) {
  std::array<int32_t, 256> byte_ids;
  for (int b = 0; b < 256; ++b) byte_ids[b] = b;
  // 256 = "ab", 257 = "bc", 258 = "aa", 259 = "aaaa"
  std::vector<BpeModel::Merge> merges = {
      {'b', 'c', 257}, {'a', 'b', 256}, {'a', 'a', 258}, {258, 258, 259}};
  auto model = BpeModel::Create(byte_ids, merges, false, {});
  ASSERT_TRUE(model.ok());
  auto encode = [&](std::string_view w) {
    std::vector<int32_t> ids, uncached;
    (*model)->EncodeWord(w, &ids);
    (*model)->EncodeWordUncached(w, &uncached);
    EXPECT_EQ(ids, uncached) << w;
    return IdsToString(ids);
  };
  EXPECT_EQ(encode("abc"), "97 257");  // "bc" has the lower rank
  EXPECT_EQ(encode("abab"), "256 256");
  EXPECT_EQ(encode("aaa"), "258 97");  // leftmost of equal ranks
  EXPECT_EQ(encode("aaaaa"), "259 97");
  EXPECT_EQ(encode("aaaaaaaa"), "259 259");
  EXPECT_EQ(encode("x"), "120");
  EXPECT_EQ(encode(""), "");
}

// HF keeps a pair's last rank when a merge is listed twice.
TEST(BpeModelTest, DuplicateMergeKeepsLastRank) {
  std::array<int32_t, 256> byte_ids;
  for (int b = 0; b < 256; ++b) byte_ids[b] = b;
  auto model =
      BpeModel::Create(byte_ids, {{'a', 'b', 256}, {'b', 'c', 257}, {'a', 'b', 256}}, false, {});
  ASSERT_TRUE(model.ok());
  std::vector<int32_t> ids;
  (*model)->EncodeWord("abc", &ids);
  EXPECT_EQ(IdsToString(ids), "97 257");
}

TEST(BpeModelTest, IgnoreMergesEmitsWholeWords) {
  std::array<int32_t, 256> byte_ids;
  for (int b = 0; b < 256; ++b) byte_ids[b] = b;
  auto model = BpeModel::Create(byte_ids, {{'a', 'b', 256}}, true, {{"abc", 300}});
  ASSERT_TRUE(model.ok());
  std::vector<int32_t> ids;
  (*model)->EncodeWord("abc", &ids);
  EXPECT_EQ(IdsToString(ids), "300");
  ids.clear();
  (*model)->EncodeWord("abd", &ids);
  EXPECT_EQ(IdsToString(ids), "256 100");
}

}  // namespace
}  // namespace rs::engine
