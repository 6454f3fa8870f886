#include "engine/tokenizer/unicode.h"

#include <gtest/gtest.h>

#include "engine/tokenizer/unicode_tables.h"

namespace rs::engine::unicode {
namespace {

TEST(UnicodeTest, TablesAreSortedAndDisjoint) {
  namespace t = unicode_tables;
  EXPECT_STREQ(t::kUnicodeVersion, "14.0.0");
  struct Table {
    const t::ClassRange* ranges;
    size_t n;
  };
  for (Table table : {Table{t::kClassRanges, t::kNumClassRanges},
                      Table{t::kCombiningClassRanges, t::kNumCombiningClassRanges},
                      Table{t::kNfcUnsafeRanges, t::kNumNfcUnsafeRanges}}) {
    ASSERT_GT(table.n, 0u);
    for (size_t i = 0; i < table.n; ++i) {
      EXPECT_LE(table.ranges[i].first, table.ranges[i].last) << i;
      if (i > 0) {
        EXPECT_LT(table.ranges[i - 1].last, table.ranges[i].first) << i;
      }
    }
  }
  for (size_t i = 1; i < t::kNumDecompositions; ++i) {
    EXPECT_LT(t::kDecompositions[i - 1].code_point, t::kDecompositions[i].code_point);
  }
  for (size_t i = 1; i < t::kNumCompositions; ++i) {
    const auto& a = t::kCompositions[i - 1];
    const auto& b = t::kCompositions[i];
    EXPECT_TRUE(a.first < b.first || (a.first == b.first && a.second < b.second)) << i;
  }
}

TEST(UnicodeTest, CharClasses) {
  EXPECT_EQ(GetCharClass('a'), CharClass::kLetter);
  EXPECT_EQ(GetCharClass('Z'), CharClass::kLetter);
  EXPECT_EQ(GetCharClass(0xE9), CharClass::kLetter);    // é
  EXPECT_EQ(GetCharClass(0x4E2D), CharClass::kLetter);  // 中
  EXPECT_EQ(GetCharClass(0xAC00), CharClass::kLetter);  // 가
  EXPECT_EQ(GetCharClass(0x2B5), CharClass::kLetter);   // ʵ (Lm)
  EXPECT_EQ(GetCharClass('7'), CharClass::kNumber);
  EXPECT_EQ(GetCharClass(0x663), CharClass::kNumber);   // Arabic-Indic three
  EXPECT_EQ(GetCharClass(0xBD), CharClass::kNumber);    // ½ (No)
  EXPECT_EQ(GetCharClass(0x216B), CharClass::kNumber);  // Ⅻ (Nl)
  for (char32_t ws : {0x9, 0xA, 0xB, 0xC, 0xD, 0x20, 0x85, 0xA0, 0x1680, 0x2000, 0x200A, 0x2028,
                      0x2029, 0x202F, 0x205F, 0x3000}) {
    EXPECT_EQ(GetCharClass(ws), CharClass::kWhitespace) << std::hex << static_cast<uint32_t>(ws);
  }
  // Python's isspace() says yes to these; \s (White_Space) says no.
  for (char32_t c : {0x1C, 0x1D, 0x1E, 0x1F}) EXPECT_EQ(GetCharClass(c), CharClass::kOther);
  EXPECT_EQ(GetCharClass(0x180E),
            CharClass::kOther);                        // no longer Zs since Unicode 6.3
  EXPECT_EQ(GetCharClass(0x200B), CharClass::kOther);  // zero width space is Cf
  EXPECT_EQ(GetCharClass(0x301), CharClass::kOther);   // combining acute (Mn)
  EXPECT_EQ(GetCharClass(0x93E),
            CharClass::kOther);  // Devanagari vowel sign AA (Mc)
  EXPECT_EQ(GetCharClass('!'), CharClass::kOther);
  EXPECT_EQ(GetCharClass('_'), CharClass::kOther);
  EXPECT_EQ(GetCharClass(0x1F600), CharClass::kOther);
  EXPECT_EQ(GetCharClass(0x10FFFF), CharClass::kOther);
  EXPECT_EQ(GetCharClass(0x110000), CharClass::kOther);
}

TEST(UnicodeTest, CombiningClasses) {
  EXPECT_EQ(CombiningClass('a'), 0);
  EXPECT_EQ(CombiningClass(0x301), 230);
  EXPECT_EQ(CombiningClass(0x323), 220);
  EXPECT_EQ(CombiningClass(0x94D), 9);  // Devanagari virama
  EXPECT_EQ(CombiningClass(0x5B0), 10);
  EXPECT_EQ(CombiningClass(0x34F), 0);  // combining grapheme joiner
}

TEST(UnicodeTest, NfcQuickCheck) {
  EXPECT_TRUE(IsNfcQuick(""));
  EXPECT_TRUE(IsNfcQuick("plain ASCII\n\t"));
  EXPECT_TRUE(IsNfcQuick("caf\u00e9 \u4e2d\u6587 \uac00"));
  EXPECT_FALSE(IsNfcQuick("cafe\u0301"));
  EXPECT_FALSE(IsNfcQuick("\u212b"));        // NFC_QC = No
  EXPECT_FALSE(IsNfcQuick("\uac00\u11a8"));  // T jamo: NFC_QC = Maybe
}

TEST(UnicodeTest, Nfc) {
  struct Case {
    const char* in;
    const char* want;
  } cases[] = {
      {"", ""},
      {"hello", "hello"},
      {"e\u0301", "\u00e9"},
      {"cafe\u0301 re\u0301sume\u0301", "caf\u00e9 r\u00e9sum\u00e9"},
      {"a\u0323\u0301", "\u1ea1\u0301"},  // ạ + acute (ordering then composing)
      {"a\u0301\u0323", "\u1ea1\u0301"},  // reordered first
      {"e\u0301\u0323", "\u1eb9\u0301"},
      {"\u00e9\u0323", "\u1eb9\u0301"},    // precomposed input is decomposed first
      {"q\u0307\u0323", "q\u0323\u0307"},  // no composites: only reordered
      {"\u212b", "\u00c5"},                // Angstrom sign: singleton
      {"\u2126", "\u03a9"},                // Ohm sign
      {"\u0958", "\u0915\u093c"},          // composition exclusion
      {"\u0344", "\u0308\u0301"},          // non-starter decomposition
      {"\u1100\u1161\u11a8", "\uac01"},    // Hangul L V T
      {"\u1100\u1161", "\uac00"},          // L V
      {"\uac00\u11a8", "\uac01"},          // LV + T
      {"\uac01\u11a8", "\uac01\u11a8"},    // LVT + T: no composite
      {"\u0301e", "\u0301e"},              // leading non-starter stays
      {"a\u0308\u0304", "\u01df"},         // ä + macron → ǟ
      {"A\u030a\u0301", "\u01fa"},         // Å + acute → Ǻ
      {"\u1e9b\u0323", "\u1e9b\u0323"},    // long s with dot: the UAX #15 example
  };
  for (const auto& c : cases) EXPECT_EQ(Nfc(c.in), c.want) << c.in;
}

}  // namespace
}  // namespace rs::engine::unicode
