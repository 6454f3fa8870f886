#include "engine/tokenizer/byte_level.h"

#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

#include "engine/util/utf8.h"

namespace rs::engine::byte_level {
namespace {

// "piece|piece|..." for compact comparisons.
std::string Split(std::string_view text) {
  std::vector<std::string_view> pieces;
  SplitGpt2(text, &pieces);
  std::string out;
  size_t total = 0;
  for (size_t i = 0; i < pieces.size(); ++i) {
    EXPECT_FALSE(pieces[i].empty());
    total += pieces[i].size();
    if (i > 0) out.push_back('|');
    out.append(pieces[i]);
  }
  EXPECT_EQ(total, text.size());
  return out;
}

TEST(ByteLevelTest, ByteAlphabetIsABijection) {
  std::set<char32_t> seen;
  for (int b = 0; b < 256; ++b) {
    const char32_t c = ByteToChar(static_cast<uint8_t>(b));
    EXPECT_TRUE(seen.insert(c).second);
    EXPECT_EQ(CharToByte(c), b);
  }
  EXPECT_EQ(ByteToChar(' '), 0x120u);   // "Ġ"
  EXPECT_EQ(ByteToChar('\n'), 0x10Au);  // "Ċ"
  EXPECT_EQ(ByteToChar('a'), static_cast<char32_t>('a'));
  EXPECT_EQ(ByteToChar(0xAD), 0x143u);  // the last remapped byte
  EXPECT_EQ(CharToByte(0x20), -1);
  EXPECT_EQ(CharToByte(0x144), -1);
  EXPECT_EQ(CharToByte(0x4E2D), -1);
}

TEST(ByteLevelTest, TokenToBytes) {
  std::string out;
  EXPECT_TRUE(TokenToBytes("\u0120hello\u010a", &out));
  EXPECT_EQ(out, " hello\n");
  EXPECT_TRUE(TokenToBytes("\u00c3\u00a9", &out));  // the two bytes of "é"
  EXPECT_EQ(out, "\u00e9");
  EXPECT_FALSE(TokenToBytes("two words", &out));  // U+0020 is not a byte character
}

TEST(ByteLevelTest, WordsNumbersPunctuation) {
  EXPECT_EQ(Split(""), "");
  EXPECT_EQ(Split("Hello world"), "Hello| world");
  EXPECT_EQ(Split("Hello, world!"), "Hello|,| world|!");
  EXPECT_EQ(Split("abc123def"), "abc|123|def");
  EXPECT_EQ(Split("x = 42;"), "x| =| 42|;");
  EXPECT_EQ(Split("a...b ?!"), "a|...|b| ?!");
  EXPECT_EQ(Split("caf\u00e9 \u4e2d\u6587"), "caf\u00e9| \u4e2d\u6587");
  // Combining marks are neither letters nor numbers.
  EXPECT_EQ(Split("e\u0301t\u00e9"), "e|\u0301|t\u00e9");
  EXPECT_EQ(Split("\u00bd\u2167x"), "\u00bd\u2167|x");
}

TEST(ByteLevelTest, Contractions) {
  EXPECT_EQ(Split("it's"), "it|'s");
  EXPECT_EQ(Split("we're they'll I'd you've I'm can't"),
            "we|'re| they|'ll| I|'d| you|'ve| I|'m| can|'t");
  EXPECT_EQ(Split("IT'S"), "IT|'|S");  // case-sensitive
  EXPECT_EQ(Split("'sss"), "'s|ss");
  EXPECT_EQ(Split("x''s"), "x|''|s");
  EXPECT_EQ(Split("?'s"), "?'|s");  // inside a punctuation run
  EXPECT_EQ(Split("'"), "'");
  EXPECT_EQ(Split("'l"), "'|l");
}

TEST(ByteLevelTest, Whitespace) {
  EXPECT_EQ(Split(" "), " ");
  EXPECT_EQ(Split("a "), "a| ");
  EXPECT_EQ(Split("a  b"), "a| | b");
  EXPECT_EQ(Split("a   b"), "a|  | b");
  EXPECT_EQ(Split("a   "), "a|   ");
  EXPECT_EQ(Split("a\nb"), "a|\n|b");
  EXPECT_EQ(Split("a\n\nb"), "a|\n|\n|b");
  EXPECT_EQ(Split("a\n\n b"), "a|\n\n| b");
  EXPECT_EQ(Split("a \nb"), "a| |\n|b");
  EXPECT_EQ(Split("a\t\tb"), "a|\t|\t|b");
  EXPECT_EQ(Split("  !"), " | !");
  EXPECT_EQ(Split("\u3000x"), "\u3000|x");   // only U+0020 is the optional space
  EXPECT_EQ(Split("a\x1c b"), "a|\x1c| b");  // U+001C is not \s
}

}  // namespace
}  // namespace rs::engine::byte_level
