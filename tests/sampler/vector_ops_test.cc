#include "engine/sampler/vector_ops.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

namespace rs::engine::sampler_internal {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();

TEST(VectorOpsTest, ExpNonPositiveIsAccurate) {
  EXPECT_EQ(ExpNonPositive(0.0f), 1.0f);
  EXPECT_EQ(ExpNonPositive(-0.0f), 1.0f);
  EXPECT_EQ(ExpNonPositive(-kInf), 0.0f);
  EXPECT_EQ(ExpNonPositive(-100.0f), 0.0f);
  double worst = 0;
  for (float x = -87.0f; x <= 0.0f; x += 0.00123f) {
    const double want = std::exp(static_cast<double>(x));
    const double rel = std::fabs(ExpNonPositive(x) - want) / want;
    worst = std::max(worst, rel);
  }
  EXPECT_LT(worst, 2.5e-7);  // about 2 ulp
  // Monotone on a fine grid near 0 (no weight above 1).
  float prev = 1.0f;
  for (float x = 0.0f; x > -1.0f; x = std::nextafter(x, -2.0f) - 1e-6f) {
    const float y = ExpNonPositive(x);
    ASSERT_LE(y, prev) << x;
    prev = y;
  }
}

TEST(VectorOpsTest, SanitizeCopyMaxAndFirstIndex) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  std::vector<float> src(37, -1.0f);
  src[3] = nan;
  src[20] = kInf;
  src[30] = 5.0f;
  std::vector<float> dst(src.size());
  SanitizeCopy(src.data(), dst.data(), src.size());
  EXPECT_EQ(dst[3], -kInf);
  EXPECT_EQ(dst[20], std::numeric_limits<float>::max());
  EXPECT_EQ(dst[30], 5.0f);
  EXPECT_EQ(MaxValue(dst.data(), dst.size()), std::numeric_limits<float>::max());
  src[20] = 1.0f;
  EXPECT_EQ(MaxValue(src.data(), src.size()), 5.0f);  // NaN ignored
  EXPECT_EQ(MaxValue(src.data(), 3), -1.0f);
  EXPECT_EQ(MaxValue(src.data(), 0), -kInf);
  std::vector<float> all_nan(20, nan);
  EXPECT_EQ(MaxValue(all_nan.data(), all_nan.size()), -kInf);
  EXPECT_EQ(FirstIndexOf(src.data(), src.size(), 5.0f), 30u);
  EXPECT_EQ(FirstIndexOf(src.data(), src.size(), -1.0f), 0u);
  EXPECT_EQ(FirstIndexOf(src.data(), src.size(), 7.0f), src.size());
  for (size_t i = 0; i < 40; ++i) {  // every position around the 16-lane blocks
    std::vector<float> v(40, 0.0f);
    v[i] = 2.0f;
    EXPECT_EQ(FirstIndexOf(v.data(), v.size(), 2.0f), i);
    EXPECT_EQ(MaxValue(v.data(), v.size()), 2.0f);
  }
}

TEST(VectorOpsTest, ExpShiftedAndSumAgree) {
  std::vector<float> x(1001);
  for (size_t i = 0; i < x.size(); ++i) x[i] = -static_cast<float>(i % 97) * 0.25f;
  x[5] = -kInf;
  std::vector<float> w(x.size());
  const double sum = ExpShifted(x.data(), w.data(), x.size(), 0.0f, 2.0f);
  double want = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    EXPECT_EQ(w[i], ExpNonPositive(x[i] * 2.0f));
    want += std::exp(static_cast<double>(x[i]) * 2.0);
  }
  EXPECT_NEAR(sum, want, want * 1e-6);
  x[7] = std::numeric_limits<float>::quiet_NaN();  // counts as -inf
  const double s1 = SumExpShifted(x.data(), x.size(), 0.0f);
  double want1 = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    if (i != 5 && i != 7) want1 += std::exp(static_cast<double>(x[i]));
  }
  EXPECT_NEAR(s1, want1, want1 * 1e-6);
}

TEST(VectorOpsTest, LogBinIndices) {
  // 8 bins per octave at shift 20: 1 -> 0, just below 1 -> 0, 0.5 -> 8,
  // 2^-1/8 -> 1, 0 and tiny weights -> the last bin.
  const std::vector<float> w = {1.0f, std::nextafter(1.0f, 0.0f), 0.5f, std::exp2(-0.125f),
                                0.0f, 1e-30f, std::exp2(-2.0f) * 1.0001f};
  std::vector<uint16_t> bin(w.size());
  LogBinIndices(w.data(), w.size(), 20, 511, bin.data());
  EXPECT_EQ(bin, (std::vector<uint16_t>{0, 0, 8, 1, 511, 511, 15}));
}

TEST(VectorOpsTest, IndicesEqualMatchesALoop) {
  // Lengths around the 16-wide blocks, hits in blocks and in the tail.
  for (size_t n : {0u, 1u, 15u, 16u, 17u, 31u, 32u, 33u, 1000u, 1007u}) {
    std::vector<uint16_t> bin(n);
    for (size_t i = 0; i < n; ++i) bin[i] = static_cast<uint16_t>((i * 7919u) % 13u);
    for (uint16_t want : {uint16_t{0}, uint16_t{5}, uint16_t{12}, uint16_t{99}}) {
      std::vector<int32_t> expected;
      for (size_t i = 0; i < n; ++i) {
        if (bin[i] == want) expected.push_back(static_cast<int32_t>(i));
      }
      std::vector<int32_t> got(n);
      got.resize(IndicesEqual(bin.data(), n, want, got.data()));
      EXPECT_EQ(got, expected) << "n=" << n << " want=" << want;
    }
  }
}

}  // namespace
}  // namespace rs::engine::sampler_internal
