#include "engine/sampler/stop.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "engine/sampler/finish_reason.h"

namespace rs::engine {
namespace {

// Feeds the pieces one by one; returns everything emitted (plus Flush() if
// no stop matched) and "|STOP" if a stop string matched, "|END" otherwise.
std::string Stream(const std::vector<std::string>& stops, const std::vector<std::string>& pieces) {
  StopMatcher m(stops);
  std::string out;
  for (const std::string& piece : pieces) {
    StopMatcher::Result r = m.Feed(piece);
    out += r.emit;
    if (r.stopped) return out + "|STOP";
  }
  return out + m.Flush() + "|END";
}

// Every way of splitting `text` into single bytes, and the whole text at once,
// must give `want`.
void ExpectSplitInvariant(const std::vector<std::string>& stops, const std::string& text,
                          const std::string& want) {
  EXPECT_EQ(Stream(stops, {text}), want) << text;
  std::vector<std::string> bytes;
  for (char c : text) bytes.push_back(std::string(1, c));
  EXPECT_EQ(Stream(stops, bytes), want) << text << " byte by byte";
  for (size_t cut = 1; cut < text.size(); ++cut) {
    EXPECT_EQ(Stream(stops, {text.substr(0, cut), text.substr(cut)}), want) << text << " @" << cut;
  }
}

TEST(StopMatcherTest, NoStopStringsPassesEverythingThrough) {
  StopMatcher m({});
  EXPECT_EQ(m.Feed("hello").emit, "hello");
  EXPECT_EQ(m.Flush(), "");
}

TEST(StopMatcherTest, MatchAcrossTokenBoundariesIsNotEmitted) {
  StopMatcher m({"\n\nUser:"});
  StopMatcher::Result r = m.Feed("Hi there.\n");
  EXPECT_EQ(r.emit, "Hi there.");
  EXPECT_FALSE(r.stopped);
  r = m.Feed("\nUs");
  EXPECT_EQ(r.emit, "");
  EXPECT_EQ(m.held_bytes(), 4u);
  r = m.Feed("er: and more");
  EXPECT_EQ(r.emit, "");
  EXPECT_TRUE(r.stopped);
  EXPECT_EQ(m.matched_index(), 0);
  // Nothing after the stop, ever.
  r = m.Feed("later");
  EXPECT_EQ(r.emit, "");
  EXPECT_TRUE(r.stopped);
  EXPECT_EQ(m.Flush(), "");
}

TEST(StopMatcherTest, TextBeforeTheStopInTheSameDeltaIsEmitted) {
  EXPECT_EQ(Stream({"END"}, {"abcENDxyz"}), "abc|STOP");
  EXPECT_EQ(Stream({"END"}, {"ab", "cEN", "Dxyz"}), "abc|STOP");
}

TEST(StopMatcherTest, PartialMatchThenDivergeReleasesTheText) {
  StopMatcher m({"STOP"});
  EXPECT_EQ(m.Feed("go ST").emit, "go ");
  EXPECT_EQ(m.held_bytes(), 2u);
  StopMatcher::Result r = m.Feed("OP");  // "STOP" completes
  EXPECT_TRUE(r.stopped);
  StopMatcher m2({"STOP"});
  EXPECT_EQ(m2.Feed("go ST").emit, "go ");
  r = m2.Feed("ART");
  EXPECT_FALSE(r.stopped);
  EXPECT_EQ(r.emit, "START");
  EXPECT_EQ(m2.held_bytes(), 0u);
}

TEST(StopMatcherTest, FlushReleasesHeldText) {
  StopMatcher m({"STOP"});
  EXPECT_EQ(m.Feed("the end ST").emit, "the end ");
  EXPECT_EQ(m.Flush(), "ST");
  EXPECT_EQ(m.Flush(), "");
}

TEST(StopMatcherTest, OverlappingPartialMatches) {
  ExpectSplitInvariant({"aab"}, "xaaab!", "xa|STOP");
  ExpectSplitInvariant({"aab"}, "aaaa", "aaaa|END");
  ExpectSplitInvariant({"abab"}, "abababx", "|STOP");
  ExpectSplitInvariant({"abac"}, "ababac.", "ab|STOP");
  StopMatcher m({"aab"});
  EXPECT_EQ(m.Feed("aaa").emit, "a");  // "aa" may still start "aab"
  EXPECT_EQ(m.held_bytes(), 2u);
}

TEST(StopMatcherTest, StopStringsThatArePrefixesOfEachOther) {
  // The earliest-ending match wins: "ab" completes before "abc" could.
  ExpectSplitInvariant({"abc", "ab"}, "xxabcd", "xx|STOP");
  StopMatcher m({"abc", "ab"});
  m.Feed("xxabcd");
  EXPECT_EQ(m.matched_index(), 1);
  // Two matches ending at the same byte: the longer (earlier-starting) wins.
  ExpectSplitInvariant({"bc", "abc"}, "xabcd", "x|STOP");
  StopMatcher m2({"bc", "abc"});
  m2.Feed("xabcd");
  EXPECT_EQ(m2.matched_index(), 1);
  // A longer stop string containing a shorter one later on.
  ExpectSplitInvariant({"xyz", "y"}, "axyz", "ax|STOP");
}

TEST(StopMatcherTest, MultiByteUtf8StopStrings) {
  const std::string stop = "\xE3\x80\x82";  // "。" (U+3002)
  ExpectSplitInvariant({stop}, "\xE4\xBD\xA0\xE5\xA5\xBD" + stop + "more",
                       "\xE4\xBD\xA0\xE5\xA5\xBD|STOP");
  // A character sharing the lead byte but not the rest is released whole.
  StopMatcher m({stop});
  StopMatcher::Result r = m.Feed("a\xE3\x80");
  EXPECT_EQ(r.emit, "a");
  r = m.Feed("\x81");  // "、" U+3001
  EXPECT_EQ(r.emit, "\xE3\x80\x81");
  // Emoji stop string (4 bytes), fed character by character.
  const std::string smile = "\xF0\x9F\x99\x82";
  EXPECT_EQ(Stream({smile}, {"ok ", smile, "!"}), "ok |STOP");
}

TEST(StopMatcherTest, MatchesNeverStartInsideACharacter) {
  // An (invalid) stop string starting with a continuation byte must not match
  // the tail of a character, which would emit half of it.
  StopMatcher m(
      {"\x80"
       "b"});
  StopMatcher::Result r = m.Feed(
      "\xE3\x80\x80"
      "b");
  EXPECT_FALSE(r.stopped);
  EXPECT_EQ(r.emit,
            "\xE3\x80\x80"
            "b");
}

TEST(StopMatcherTest, EmptyStopStringsAreIgnored) {
  EXPECT_EQ(Stream({"", "z"}, {"abc"}), "abc|END");
}

TEST(StopCriteriaTest, Validate) {
  StopCriteria c;
  c.stop_strings = {"\n\n", "。"};
  c.stop_token_ids = {3};
  c.eos_token_ids = {0};
  EXPECT_TRUE(c.Validate(100).ok());
  auto with = [](auto edit) {
    StopCriteria c;
    edit(c);
    return c.Validate(100).ToString();
  };
  EXPECT_EQ(with([](StopCriteria& c) {
              c.stop_strings = {"a", ""};
            }),
            "INVALID_ARGUMENT: stop string 1 is empty");
  EXPECT_EQ(with([](StopCriteria& c) { c.stop_strings = {"\xC3"}; }),
            "INVALID_ARGUMENT: stop string 0 is not valid UTF-8");
  EXPECT_NE(with([](StopCriteria& c) { c.stop_strings = {std::string(300, 'a')}; }), "OK");
  EXPECT_NE(with([](StopCriteria& c) { c.stop_strings.assign(33, "x"); }), "OK");
  EXPECT_EQ(with([](StopCriteria& c) { c.stop_token_ids = {100}; }),
            "INVALID_ARGUMENT: stop token id 100 is outside the vocabulary [0, 100)");
  EXPECT_NE(with([](StopCriteria& c) { c.eos_token_ids = {-1}; }), "OK");
  EXPECT_NE(with([](StopCriteria& c) { c.max_tokens = 0; }), "OK");
  EXPECT_NE(with([](StopCriteria& c) { c.stop_strings = {"\xED\xA0\x80"}; }), "OK");  // surrogate
  EXPECT_NE(with([](StopCriteria& c) { c.stop_strings = {"\xC0\xAF"}; }), "OK");      // overlong
}

TEST(StopCriteriaTest, CheckToken) {
  StopCriteria c;
  c.max_tokens = 3;
  c.stop_token_ids = {7};
  c.eos_token_ids = {0};
  EXPECT_EQ(c.CheckToken(5, 1), std::nullopt);
  EXPECT_EQ(c.CheckToken(0, 1), FinishReason::kStop);
  EXPECT_EQ(c.CheckToken(7, 2), FinishReason::kStop);
  EXPECT_EQ(c.CheckToken(5, 3), FinishReason::kLength);
  EXPECT_EQ(c.CheckToken(0, 3), FinishReason::kStop);  // stop wins over length
  c.ignore_eos = true;
  EXPECT_EQ(c.CheckToken(0, 1), std::nullopt);
  EXPECT_EQ(c.CheckToken(7, 1), FinishReason::kStop);  // stop ids still apply
}

TEST(FinishReasonTest, NamesRoundTrip) {
  EXPECT_STREQ(FinishReasonName(FinishReason::kStop), "stop");
  EXPECT_STREQ(FinishReasonName(FinishReason::kLength), "length");
  EXPECT_STREQ(FinishReasonName(FinishReason::kCancelled), "cancelled");
  EXPECT_STREQ(FinishReasonName(FinishReason::kDeadline), "deadline");
  EXPECT_STREQ(FinishReasonName(FinishReason::kError), "error");
  for (auto r : {FinishReason::kStop, FinishReason::kLength, FinishReason::kCancelled,
                 FinishReason::kDeadline, FinishReason::kError}) {
    EXPECT_EQ(ParseFinishReason(FinishReasonName(r)), r);
  }
  EXPECT_EQ(ParseFinishReason("STOP"), std::nullopt);
  EXPECT_EQ(ParseFinishReason(""), std::nullopt);
}

}  // namespace
}  // namespace rs::engine
