#include "engine/state.h"

#include <gtest/gtest.h>

#include <cstring>

namespace rs::engine {
namespace {

StateLayout TwoPartLayout() {
  StateLayout l;
  l.Add("layers.0.conv", 0, {3, 5});
  l.Add("layers.0.ssm", 0, {5, 4});
  return l;
}

TEST(StateLayoutTest, PartsAreAlignedAndSized) {
  StateLayout l = TwoPartLayout();
  ASSERT_EQ(l.parts.size(), 2u);
  EXPECT_EQ(l.parts[0].offset_floats, 0u);
  EXPECT_EQ(l.parts[0].n_floats, 15u);
  EXPECT_EQ(l.parts[1].offset_floats, 16u);  // rounded up to 64 bytes
  EXPECT_EQ(l.floats_per_sequence, 36u);
  EXPECT_EQ(l.bytes_per_sequence(), 144u);
}

TEST(StatePoolTest, AcquireReleaseAndExhaustion) {
  StatePool pool(TwoPartLayout(), "fp", 2);
  auto a = pool.Acquire();
  auto b = pool.Acquire();
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE(*a, *b);
  auto c = pool.Acquire();
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(pool.n_free(), 0);
  pool.SlotData(*a)[3] = 7.0f;
  pool.Release(*a);
  pool.Release(*a);  // double release is ignored
  EXPECT_EQ(pool.n_free(), 1);
  auto d = pool.Acquire();
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(pool.SlotData(*d)[3], 0.0f);  // acquired slots start zeroed
}

TEST(StatePoolTest, SnapshotRestoreAndSerializeRoundTrip) {
  StatePool pool(TwoPartLayout(), "model-a", 2);
  int s0 = pool.Acquire().value(), s1 = pool.Acquire().value();
  for (size_t i = 0; i < pool.layout().floats_per_sequence; ++i) pool.SlotData(s0)[i] = 0.5f * static_cast<float>(i) - 3.0f;
  HostState snap = pool.Snapshot(s0);
  std::string bytes = snap.Serialize();
  auto parsed = HostState::Parse(bytes);
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  EXPECT_EQ(parsed->model_fingerprint, "model-a");
  ASSERT_TRUE(pool.Restore(s1, *parsed).ok());
  EXPECT_EQ(0, std::memcmp(pool.SlotData(s0), pool.SlotData(s1), pool.bytes_per_slot()));

  StatePool other(TwoPartLayout(), "model-b", 1);
  Status wrong = other.Restore(other.Acquire().value(), *parsed);
  EXPECT_EQ(wrong.code(), StatusCode::kFailedPrecondition);
}

TEST(HostStateTest, CorruptionIsDetected) {
  HostState st;
  st.model_fingerprint = "abc";
  st.data = {1.0f, 2.0f, 3.0f};
  const std::string good = st.Serialize();
  ASSERT_TRUE(HostState::Parse(good).ok());
  // Every truncation and every single-bit flip must be rejected.
  for (size_t n = 0; n < good.size(); ++n) {
    EXPECT_FALSE(HostState::Parse(good.substr(0, n)).ok()) << "prefix " << n;
  }
  for (size_t i = 0; i < good.size(); ++i) {
    std::string bad = good;
    bad[i] ^= 0x10;
    auto p = HostState::Parse(bad);
    EXPECT_FALSE(p.ok()) << "flip at " << i;
  }
  EXPECT_EQ(HostState::Parse("XXXX" + good.substr(4)).status().code(), StatusCode::kDataLoss);
}

}  // namespace
}  // namespace rs::engine
