// SessionState's byte form: round trip, and every corruption or truncation
// is an error (never a wrong state).
#include "scheduler/session_state.h"

#include <gtest/gtest.h>

#include "engine/util/hash.h"

namespace rs::scheduler {
namespace {

SessionState Sample() {
  SessionState s;
  s.state.model_fingerprint = "0123456789abcdef";
  for (int i = 0; i < 40; ++i) s.state.data.push_back(0.25f * static_cast<float>(i) - 3.0f);
  s.tokens = {0, 5, 65535, 7, 2147483647};
  s.pending_token = 42;
  return s;
}

void ExpectEqual(const SessionState& a, const SessionState& b) {
  EXPECT_EQ(a.state.model_fingerprint, b.state.model_fingerprint);
  EXPECT_EQ(a.state.layout_version, b.state.layout_version);
  EXPECT_EQ(a.state.data, b.state.data);
  EXPECT_EQ(a.tokens, b.tokens);
  EXPECT_EQ(a.pending_token, b.pending_token);
}

TEST(SessionStateTest, RoundTrips) {
  SessionState empty_history = Sample();  // a fresh session: no history, nothing pending
  empty_history.tokens.clear();
  empty_history.pending_token = -1;
  for (const SessionState& s : {Sample(), empty_history}) {
    auto back = SessionState::Parse(s.Serialize());
    ASSERT_TRUE(back.ok()) << back.status().ToString();
    ExpectEqual(*back, s);
  }
}

TEST(SessionStateTest, EveryFlippedByteAndEveryTruncationIsDataLoss) {
  const std::string bytes = Sample().Serialize();
  for (size_t i = 0; i < bytes.size(); ++i) {
    std::string bad = bytes;
    bad[i] = static_cast<char>(bad[i] ^ 0x5a);
    EXPECT_EQ(SessionState::Parse(bad).status().code(), StatusCode::kDataLoss) << "byte " << i;
  }
  for (size_t n = 0; n < bytes.size(); ++n) {
    EXPECT_EQ(SessionState::Parse(bytes.substr(0, n)).status().code(), StatusCode::kDataLoss)
        << "length " << n;
  }
  EXPECT_EQ(SessionState::Parse(bytes + "x").status().code(), StatusCode::kDataLoss);
}

TEST(SessionStateTest, AnotherFormatVersionIsFailedPrecondition) {
  std::string bytes = Sample().Serialize();
  bytes[4] = 2;  // version 2, with a valid checksum
  bytes.resize(bytes.size() - 8);
  const uint64_t h = Hash64(bytes.data(), bytes.size());
  for (int i = 0; i < 8; ++i) bytes.push_back(static_cast<char>((h >> (8 * i)) & 0xff));
  const Status st = SessionState::Parse(bytes).status();
  EXPECT_EQ(st.code(), StatusCode::kFailedPrecondition) << st.ToString();
}

}  // namespace
}  // namespace rs::scheduler
