#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "engine/tokenizer/tokenizer.h"
#include "engine/util/utf8.h"
#include "tests/tokenizer/tokenizer_test_util.h"

namespace rs::engine {
namespace {

// Pushes ids one at a time; checks each output is valid UTF-8; returns the
// concatenation (with Flush).
std::string StreamAll(const Tokenizer* tok, const std::vector<int32_t>& ids) {
  StreamDecoder dec(tok);
  std::string all;
  for (int32_t id : ids) {
    const std::string piece = dec.Push(id);
    EXPECT_TRUE(utf8::IsValid(piece)) << "id " << id;
    all += piece;
  }
  const std::string rest = dec.Flush();
  EXPECT_TRUE(utf8::IsValid(rest));
  return all + rest;
}

const char* const kTexts[] = {
    "plain ASCII text",
    "caf\u00e9 na\u00efve r\u00e9sum\u00e9",
    "\u6211\u4eec\u6b63\u5728\u6784\u5efa\u4e00\u4e2a\u63a8\u7406\u670d\u52a1"
    "\u5668",
    "\u0928\u092e\u0938\u094d\u0924\u0947 \u0926\u0941\u0928\u093f\u092f\u093e",
    "\u0e2a\u0e27\u0e31\u0e2a\u0e14\u0e35\u0e0a\u0e32\u0e27\u0e42\u0e25\u0e01",
    "family: \U0001f468\u200d\U0001f469\u200d\U0001f467 \U0001f44d\U0001f3fd "
    "\U0001f1fa\U0001f1f8",
    "\uc548\ub155\ud558\uc138\uc694 <|endoftext|> "
    "\u0645\u0631\u062d\u0628\u0627",
};

TEST(StreamDecoderTest, ByteTokenizerEmitsWholeCharacters) {
  auto tok = NewByteTokenizer();
  for (const char* text : kTexts) {
    auto ids = tok->Encode(text);
    ASSERT_TRUE(ids.ok());
    EXPECT_EQ(StreamAll(tok.get(), *ids), text);
  }
  // A 4-byte character is held back until its last byte.
  StreamDecoder dec(tok.get());
  EXPECT_EQ(dec.Push(0xF0), "");
  EXPECT_EQ(dec.Push(0x9F), "");
  EXPECT_EQ(dec.Push(0x98), "");
  EXPECT_EQ(dec.Push(0x80), "\U0001f600");
  EXPECT_EQ(dec.Flush(), "");
}

TEST(StreamDecoderTest, GptNeoxMatchesFullDecode) {
  RS_REQUIRE_NEOX();
  for (const char* text : kTexts) {
    auto ids = testing::Neox()->Encode(text);
    ASSERT_TRUE(ids.ok());
    const std::string full = testing::Neox()->Decode(*ids);
    EXPECT_EQ(full, text);
    EXPECT_EQ(StreamAll(testing::Neox(), *ids), full) << text;
  }
}

TEST(StreamDecoderTest, InvalidBytesBecomeReplacementCharacters) {
  auto tok = NewByteTokenizer();
  StreamDecoder dec(tok.get());
  EXPECT_EQ(dec.Push('a'), "a");
  EXPECT_EQ(dec.Push(0x80), "\uFFFD");  // stray continuation: never valid
  EXPECT_EQ(dec.Push(0xE4), "");        // start of a 3-byte character
  EXPECT_EQ(dec.Push('b'), "\uFFFDb");  // ... interrupted
  EXPECT_EQ(dec.Push(0xED), "");
  EXPECT_EQ(dec.Push(0xA0), "\uFFFD\uFFFD");  // would be a surrogate
  EXPECT_EQ(dec.Push(0xE4), "");
  EXPECT_EQ(dec.Push(0xB8), "");
  EXPECT_EQ(dec.Flush(), "\uFFFD\uFFFD");  // incomplete at the end
  EXPECT_EQ(dec.Push('z'), "z");           // reusable after Flush
  EXPECT_EQ(dec.Push(-1), "");             // unknown ids add nothing
}

// For any id sequence, streaming equals the sanitized full decode.
TEST(StreamDecoderTest, RandomIdsEqualSanitizedDecode) {
  auto bytes = NewByteTokenizer();
  std::vector<const Tokenizer*> toks = {bytes.get()};
  if (std::filesystem::exists(testing::NeoxJsonPath()) && testing::Neox() != nullptr) {
    toks.push_back(testing::Neox());
  }
  std::mt19937 rng(42);
  for (const Tokenizer* tok : toks) {
    for (int trial = 0; trial < 500; ++trial) {
      std::vector<int32_t> ids(rng() % 20);
      for (int32_t& id : ids) id = static_cast<int32_t>(rng() % tok->vocab_size());
      EXPECT_EQ(StreamAll(tok, ids), utf8::Sanitize(tok->Decode(ids))) << tok->name();
    }
  }
}

}  // namespace
}  // namespace rs::engine
