#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "engine/tokenizer/tokenizer.h"
#include "tests/tokenizer/tokenizer_test_util.h"

namespace rs::engine {
namespace {

TEST(ByteTokenizerTest, EncodeDecodeAreBytes) {
  auto tok = NewByteTokenizer();
  EXPECT_EQ(tok->name(), "bytes");
  EXPECT_EQ(tok->vocab_size(), 256);
  EXPECT_FALSE(tok->eos_id().has_value());
  const std::string text = "in \u00e9\u4e2d\U0001f600\n";
  auto ids = tok->Encode(text);
  ASSERT_TRUE(ids.ok());
  ASSERT_EQ(ids->size(), text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    EXPECT_EQ((*ids)[i], static_cast<unsigned char>(text[i]));
  }
  EXPECT_EQ((*ids)[0], 105);  // 'i', as the tiny RWKV-7 fixture expects
  EXPECT_EQ(tok->Decode(*ids), text);
  auto empty = tok->Encode("");
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->empty());
}

TEST(ByteTokenizerTest, TokenBytesAndUnknownIds) {
  auto tok = NewByteTokenizer();
  for (int id = 0; id < 256; ++id) {
    ASSERT_EQ(tok->TokenBytes(id).size(), 1u);
    EXPECT_EQ(static_cast<unsigned char>(tok->TokenBytes(id)[0]), id);
  }
  EXPECT_EQ(tok->TokenBytes(256), "");
  EXPECT_EQ(tok->TokenBytes(-1), "");
  std::vector<int32_t> ids = {104, -1, 105, 256, 1000};
  EXPECT_EQ(tok->Decode(ids), "hi");
  // Decode returns raw bytes: half a character is kept as is.
  std::vector<int32_t> half = {0xC3};
  EXPECT_EQ(tok->Decode(half), "\xC3");
}

// Invalid UTF-8 is refused by every tokenizer, with the offending offset.
TEST(InvalidUtf8Test, AllTokenizersRejectWithOffset) {
  struct Case {
    std::string text;
    size_t offset;
  } cases[] = {
      {"abc\xC3", 3},           // truncated 2-byte sequence
      {"ab\xE4\xB8", 2},        // truncated 3-byte sequence
      {"\xF0\x9F\x98", 0},      // truncated 4-byte sequence
      {"x\x80y", 1},            // stray continuation byte
      {"\xC0\xAF", 0},          // overlong '/'
      {"\xC1\xBF", 0},          // overlong
      {"ok\xE0\x80\xAF", 2},    // overlong 3-byte
      {"\xF0\x80\x80\xAF", 0},  // overlong 4-byte
      {"a\xED\xA0\x80", 1},     // UTF-16 surrogate U+D800
      {"\xED\xBF\xBF", 0},      // surrogate U+DFFF
      {"\xF4\x90\x80\x80", 0},  // U+110000
      {"\xF5\x80\x80\x80", 0},  // lead byte above F4
      {"\xFF", 0},
      {std::string("ok\0\xFE", 4), 3},  // NUL is valid, 0xFE is not
  };
  std::vector<const Tokenizer*> toks;
  auto bytes = NewByteTokenizer();
  toks.push_back(bytes.get());
  if (std::filesystem::exists(testing::NeoxJsonPath())) {
    ASSERT_NE(testing::Neox(), nullptr);
    toks.push_back(testing::Neox());
  }
  for (const Tokenizer* tok : toks) {
    for (const Case& c : cases) {
      auto r = tok->Encode(c.text);
      ASSERT_FALSE(r.ok()) << tok->name() << " accepted case at offset " << c.offset;
      EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
      EXPECT_NE(r.status().message().find("byte offset " + std::to_string(c.offset)),
                std::string::npos)
          << tok->name() << ": " << r.status().ToString();
    }
    // The largest code point and the edges around the surrogates are valid.
    for (const char* ok : {"\xF4\x8F\xBF\xBF", "\xED\x9F\xBF", "\xEE\x80\x80", "\x7F"}) {
      EXPECT_TRUE(tok->Encode(ok).ok()) << tok->name();
    }
  }
}

}  // namespace
}  // namespace rs::engine
