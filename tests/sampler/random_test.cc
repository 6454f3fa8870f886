#include "engine/sampler/random.h"

#include <gtest/gtest.h>

#include <set>

namespace rs::engine {
namespace {

TEST(RandomTest, SplitMix64MatchesThePublishedGenerator) {
  // The first output of Vigna's splitmix64.c seeded with 0.
  EXPECT_EQ(SplitMix64(0), 0xE220A8397B1DCDAFull);
}

// Seeded outputs must never change: a user's seed reproduces their text.
TEST(RandomTest, ValuesArePinned) {
  EXPECT_EQ(SamplingBits(0, 0), 0xA706DD2F4D197E6Full);
  EXPECT_EQ(SamplingBits(42, 7), 0x16062D6C1339E500ull);
  EXPECT_EQ(SamplingBits(~0ull, 123456789), 0xF101957CA4197C3Full);
  EXPECT_DOUBLE_EQ(SamplingUniform(42, 7), 0.08603176010658542);
}

TEST(RandomTest, UniformIsInRangeAndRoughlyUniform) {
  constexpr int kN = 200000;
  int buckets[10] = {};
  double sum = 0;
  for (uint64_t pos = 0; pos < kN; ++pos) {
    const double u = SamplingUniform(5, pos);
    ASSERT_GE(u, 0.0);
    ASSERT_LT(u, 1.0);
    sum += u;
    ++buckets[static_cast<int>(u * 10)];
  }
  EXPECT_NEAR(sum / kN, 0.5, 0.005);                   // sd of the mean: 0.00065
  for (int b : buckets) EXPECT_NEAR(b, kN / 10, 600);  // sd ~134
}

TEST(RandomTest, PositionsAndSeedsDoNotCollide) {
  std::set<uint64_t> seen;
  for (uint64_t seed = 0; seed < 100; ++seed) {
    for (uint64_t pos = 0; pos < 100; ++pos) seen.insert(SamplingBits(seed, pos));
  }
  EXPECT_EQ(seen.size(), 10000u);
  // Neighbouring seeds are not shifted copies of each other.
  EXPECT_NE(SamplingBits(1, 0), SamplingBits(0, 1));
}

}  // namespace
}  // namespace rs::engine
