#include "kernels/cpu/rmsnorm.h"

#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "tests/kernels/kernel_test_util.h"

namespace rs::kernels {
namespace {

using testing::FirstDifference;
using testing::RandomVector;
using testing::ScopedCpuLevel;

class RmsNormLevelTest : public ::testing::TestWithParam<std::string> {};

TEST_P(RmsNormLevelTest, MatchesDoubleReference) {
  ScopedCpuLevel level(GetParam());
  RS_REQUIRE_LEVEL(level);
  const float eps = 1e-5f;
  for (int64_t C : {1, 7, 16, 37, 768, 1000, 1536}) {
    const int64_t M = 5, ldx = C + 3, ldy = C + 1;
    const std::vector<float> x = RandomVector(M * ldx, 3, -3.0f, 3.0f);
    const std::vector<float> w = RandomVector(C, 4, 0.5f, 1.5f);
    std::vector<float> y(M * ldy, 42.0f);
    RmsNorm(x.data(), M, C, ldx, w.data(), eps, y.data(), ldy);
    for (int64_t m = 0; m < M; ++m) {
      double ss = 0;
      for (int64_t c = 0; c < C; ++c) ss += static_cast<double>(x[m * ldx + c]) * x[m * ldx + c];
      const double r = 1.0 / std::sqrt(ss / C + eps);
      for (int64_t c = 0; c < C; ++c) {
        const double want = x[m * ldx + c] * r * w[c];
        ASSERT_NEAR(y[m * ldy + c], want, 1e-5 * std::fabs(want) + 1e-7)
            << "C=" << C << " m=" << m << " c=" << c;
      }
      ASSERT_EQ(y[m * ldy + C], 42.0f);  // padding untouched
    }
  }
}

TEST_P(RmsNormLevelTest, RowsIndependentAndInPlaceBitwise) {
  ScopedCpuLevel level(GetParam());
  RS_REQUIRE_LEVEL(level);
  for (int64_t C : {37, 768}) {
    const int64_t M = 9;
    const std::vector<float> x = RandomVector(M * C, 8, -2.0f, 2.0f);
    const std::vector<float> w = RandomVector(C, 9);
    std::vector<float> batched(M * C), single(M * C);
    RmsNorm(x.data(), M, C, C, w.data(), 1e-5f, batched.data(), C);
    for (int64_t m = 0; m < M; ++m) {
      RmsNorm(x.data() + m * C, 1, C, C, w.data(), 1e-5f, single.data() + m * C, C);
    }
    EXPECT_EQ(FirstDifference(batched.data(), single.data(), batched.size()), -1);
    std::vector<float> inplace = x;
    RmsNorm(inplace.data(), M, C, C, w.data(), 1e-5f, inplace.data(), C);
    EXPECT_EQ(FirstDifference(batched.data(), inplace.data(), batched.size()), -1);
  }
}

TEST_P(RmsNormLevelTest, ZeroRowGivesZeros) {
  ScopedCpuLevel level(GetParam());
  RS_REQUIRE_LEVEL(level);
  std::vector<float> x(40, 0.0f), w(40, 2.0f), y(40, 1.0f);
  RmsNorm(x.data(), 1, 40, 40, w.data(), 1e-6f, y.data(), 40);
  for (float v : y) EXPECT_EQ(v, 0.0f);
}

INSTANTIATE_TEST_SUITE_P(Levels, RmsNormLevelTest, ::testing::ValuesIn(testing::AllLevels()),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace rs::kernels
