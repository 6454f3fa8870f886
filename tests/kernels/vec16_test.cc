// vec16::SumEach: lane i equals vec16::Sum(v[i]) bitwise, on inputs whose
// sums round differently in any other tree (mixed magnitudes and signs);
// vec16::Transpose16 moves every value to its transposed place.
#include "kernels/cpu/vec16.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>

namespace rs::kernels::vec16 {
namespace {

TEST(Vec16, SumEachIsSumOfEachBitwise) {
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> mant(-1.0f, 1.0f);
  std::uniform_int_distribution<int> expo(-30, 30);
  int tree_sensitive = 0;
  for (int round = 0; round < 200; ++round) {
    V16 v[16];
    for (auto& x : v)
      for (int l = 0; l < 16; ++l) x[l] = std::ldexp(mant(rng), expo(rng));
    const V16 got = SumEach(v);
    for (int i = 0; i < 16; ++i) {
      const float want = Sum(v[i]), lane = got[i];
      EXPECT_EQ(std::memcmp(&lane, &want, sizeof(float)), 0)
          << "round " << round << " lane " << i << ": " << lane << " vs " << want;
      float seq = 0.0f;
      for (int l = 0; l < 16; ++l) seq += v[i][l];
      tree_sensitive += seq != want;
    }
  }
  // The inputs must tell trees apart, or the test proves nothing.
  EXPECT_GT(tree_sensitive, 100);
}

TEST(Vec16, Transpose16MovesEveryValue) {
  V16 r[16];
  for (int i = 0; i < 16; ++i)
    for (int j = 0; j < 16; ++j) r[i][j] = static_cast<float>(i * 16 + j);
  Transpose16(r);
  for (int i = 0; i < 16; ++i)
    for (int j = 0; j < 16; ++j)
      EXPECT_EQ(r[i][j], static_cast<float>(j * 16 + i)) << i << "," << j;
  Transpose16(r);  // an involution
  for (int i = 0; i < 16; ++i)
    for (int j = 0; j < 16; ++j)
      EXPECT_EQ(r[i][j], static_cast<float>(i * 16 + j)) << i << "," << j;
}

}  // namespace
}  // namespace rs::kernels::vec16
