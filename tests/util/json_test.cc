#include "engine/util/json.h"

#include <gtest/gtest.h>

#include <cmath>

#include "engine/util/utf8.h"

namespace rs::json {
namespace {

TEST(JsonTest, ParsesEveryTypeAndKeepsOrder) {
  auto v = Parse(R"( {"b": [1, -2, 3.5, 1e3, true, false, null], "a": {"x": "y"}, "n": -0} )");
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  ASSERT_TRUE(v->is_object());
  ASSERT_EQ(v->AsObject().size(), 3u);
  EXPECT_EQ(v->AsObject()[0].first, "b");
  EXPECT_EQ(v->AsObject()[1].first, "a");
  const Value* b = v->Find("b");
  ASSERT_NE(b, nullptr);
  ASSERT_EQ(b->AsArray().size(), 7u);
  EXPECT_TRUE(b->AsArray()[0].is_int());
  EXPECT_EQ(b->AsArray()[1].AsInt(), -2);
  EXPECT_FALSE(b->AsArray()[2].is_int());
  EXPECT_DOUBLE_EQ(b->AsArray()[2].AsDouble(), 3.5);
  EXPECT_DOUBLE_EQ(b->AsArray()[3].AsDouble(), 1000.0);
  EXPECT_TRUE(b->AsArray()[4].AsBool());
  EXPECT_TRUE(b->AsArray()[6].is_null());
  EXPECT_EQ(v->Find("a")->Find("x")->AsString(), "y");
  EXPECT_EQ(v->Find("missing"), nullptr);
}

TEST(JsonTest, DecodesEscapesAndSurrogatePairs) {
  auto v = Parse(R"("a\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00")");
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->AsString(), "a\"\\/\b\f\n\r\t\xC3\xA9\xF0\x9F\x98\x80");
}

TEST(JsonTest, LargeIntegersKeepExactValue) {
  auto v = Parse("[9007199254740993, 123456789012345678901234567890]");
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->AsArray()[0].AsInt(), 9007199254740993LL);
  EXPECT_FALSE(v->AsArray()[1].is_int());
  EXPECT_GT(v->AsArray()[1].AsDouble(), 1e29);
}

TEST(JsonTest, RejectsMalformedInputWithOffset) {
  const char* bad[] = {"",        "{",          "[1,]",         "{\"a\" 1}", "01",
                       "1.",      "-",          "tru",          "\"abc",     "\"\\x\"",
                       "[1] x",   "\"\\ud800\"", "\"\\udc00\"", "{\"a\":}",  "\"a\tb\"",
                       "1e999",   "nan",        "[\"\xC3\x28\"]", "\"\xED\xA0\x80\""};
  for (const char* text : bad) {
    auto v = Parse(text);
    EXPECT_FALSE(v.ok()) << "accepted: " << text;
    if (!v.ok()) {
      EXPECT_EQ(v.status().code(), StatusCode::kInvalidArgument);
      EXPECT_NE(v.status().message().find("at byte"), std::string::npos);
    }
  }
}

TEST(JsonTest, DepthIsLimited) {
  std::string deep(300, '[');
  deep += std::string(300, ']');
  EXPECT_FALSE(Parse(deep).ok());
  std::string ok(200, '[');
  ok += std::string(200, ']');
  EXPECT_TRUE(Parse(ok).ok());
}

TEST(JsonTest, NegativeZeroKeepsItsSign) {
  auto v = Parse("[-0, -0.0, 0]");
  ASSERT_TRUE(v.ok());
  EXPECT_FALSE(v->AsArray()[0].is_int());
  EXPECT_TRUE(std::signbit(v->AsArray()[0].AsDouble()));
  EXPECT_TRUE(std::signbit(v->AsArray()[1].AsDouble()));
  EXPECT_TRUE(v->AsArray()[2].is_int());
  auto again = Parse(v->Dump());
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->Dump(), v->Dump());
}

TEST(JsonTest, DumpRoundTrips) {
  const char* text = R"({"a":[1,2.5,"x\ny",true,null],"b":{"c":-3}})";
  auto v = Parse(text);
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->Dump(), text);
  auto again = Parse(v->Dump());
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->Dump(), text);
}

TEST(JsonTest, QuoteEscapesControlAndReplacesInvalidUtf8) {
  EXPECT_EQ(Quote("a\"b\x01"), "\"a\\\"b\\u0001\"");
  EXPECT_EQ(Quote("\xFF" "ok"), "\"\xEF\xBF\xBDok\"");
  EXPECT_EQ(Quote("\xE2\x82\xAC"), "\"\xE2\x82\xAC\"");
}

TEST(JsonTest, FloatsPrintShortestRoundTrip) {
  std::string s;
  AppendFloat(&s, 0.1f);
  EXPECT_EQ(s, "0.1");
  s.clear();
  AppendFloat(&s, -1.5e-8f);
  EXPECT_EQ(std::stof(s), -1.5e-8f);
}

TEST(JsonTest, TypedGettersNameTheKey) {
  auto v = Parse(R"({"n": 3, "s": "x", "d": 0.5})");
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(*GetInt(*v, "n"), 3);
  EXPECT_EQ(*GetString(*v, "s"), "x");
  EXPECT_DOUBLE_EQ(*GetDouble(*v, "d"), 0.5);
  auto missing = GetInt(*v, "layers");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("layers"), std::string::npos);
  EXPECT_FALSE(GetInt(*v, "s").ok());
}

TEST(Utf8Test, ValidatesStrictly) {
  EXPECT_TRUE(utf8::IsValid("plain ascii"));
  EXPECT_TRUE(utf8::IsValid("\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80"));
  EXPECT_EQ(utf8::FindInvalid("ab\xC0\xAF"), 2u);         // overlong '/'
  EXPECT_EQ(utf8::FindInvalid("\xED\xA0\x80"), 0u);        // surrogate
  EXPECT_EQ(utf8::FindInvalid("x\xF4\x90\x80\x80"), 1u);   // > U+10FFFF
  EXPECT_EQ(utf8::FindInvalid("\xE2\x82"), 0u);            // truncated
  EXPECT_EQ(utf8::FindInvalid("\x80"), 0u);                // lone continuation
}

TEST(Utf8Test, CompletePrefixHoldsBackOnlyIncompleteValidTails) {
  EXPECT_EQ(utf8::CompletePrefixLength("ab\xE2\x82"), 2u);
  EXPECT_EQ(utf8::CompletePrefixLength("ab\xF0"), 2u);
  EXPECT_EQ(utf8::CompletePrefixLength("ab\xE2\x82\xAC"), 5u);
  EXPECT_EQ(utf8::CompletePrefixLength("ab\xFF"), 3u);  // can never complete
  EXPECT_EQ(utf8::CompletePrefixLength("ab\xC0"), 3u);  // overlong lead: never valid
}

TEST(Utf8Test, AppendAndDecodeRoundTrip) {
  for (uint32_t cp : {0x41u, 0xE9u, 0x20ACu, 0x1F600u, 0x10FFFFu}) {
    std::string s;
    utf8::Append(cp, &s);
    ASSERT_TRUE(utf8::IsValid(s));
    size_t pos = 0;
    EXPECT_EQ(utf8::DecodeValid(s, &pos), cp);
    EXPECT_EQ(pos, s.size());
  }
  EXPECT_EQ(utf8::Sanitize("a\xFF" "b"), "a\xEF\xBF\xBD" "b");
}

}  // namespace
}  // namespace rs::json
