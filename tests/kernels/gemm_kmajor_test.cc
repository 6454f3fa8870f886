// GemmKMajor at every dispatch level: against double precision, and its
// determinism contract (a row's result does not depend on M, the split or
// the thread count: bitwise).
#include "kernels/cpu/gemm_kmajor.h"

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

class GemmKMajorTest : public ::testing::TestWithParam<std::string> {};

TEST_P(GemmKMajorTest, MatchesDoublePrecision) {
  ScopedCpuLevel level(GetParam());
  RS_REQUIRE_LEVEL(level);
  ThreadPool pool(2);
  struct Shape {
    int64_t m, k, n;
  };
  for (const Shape s : {Shape{1, 1, 1}, Shape{1, 64, 768}, Shape{3, 12, 100}, Shape{5, 32, 13},
                        Shape{17, 128, 96}, Shape{70, 20, 771}, Shape{512, 64, 768}}) {
    SCOPED_TRACE(::testing::Message() << "M=" << s.m << " K=" << s.k << " N=" << s.n);
    const int64_t ldx = s.k + 3, ldy = s.n + 5;
    const std::vector<float> x = RandomVector(s.m * ldx, 1), w = RandomVector(s.k * s.n, 2),
                             bias = RandomVector(s.n, 3);
    for (const float* b : {static_cast<const float*>(nullptr), bias.data()}) {
      std::vector<float> y(s.m * ldy, -7.0f);
      GemmKMajor(x.data(), s.m, ldx, w.data(), s.k, s.n, b, y.data(), ldy, &pool);
      for (int64_t m = 0; m < s.m; ++m) {
        for (int64_t n = 0; n < s.n; ++n) {
          double exact = b != nullptr ? b[n] : 0.0, scale = b != nullptr ? std::fabs(b[n]) : 0.0;
          for (int64_t k = 0; k < s.k; ++k) {
            const double p = static_cast<double>(x[m * ldx + k]) * w[k * s.n + n];
            exact += p;
            scale += std::fabs(p);
          }
          ASSERT_NEAR(y[m * ldy + n], exact, 1e-6 * scale + 1e-7) << "m=" << m << " n=" << n;
        }
        for (int64_t n = s.n; n < ldy; ++n) ASSERT_EQ(y[m * ldy + n], -7.0f);  // padding untouched
      }
    }
  }
}

TEST_P(GemmKMajorTest, RowsAreIndependentOfBatchAndThreads) {
  ScopedCpuLevel level(GetParam());
  RS_REQUIRE_LEVEL(level);
  ThreadPool one(1), two(2);
  const int64_t K = 64, N = 200;
  const std::vector<float> w = RandomVector(K * N, 4);
  for (int64_t M : {2, 5, 9, 64, 333}) {
    const std::vector<float> x = RandomVector(M * K, 5 + static_cast<uint32_t>(M));
    std::vector<float> all(M * N), all1(M * N), row(N);
    GemmKMajor(x.data(), M, K, w.data(), K, N, nullptr, all.data(), N, &two);
    GemmKMajor(x.data(), M, K, w.data(), K, N, nullptr, all1.data(), N, &one);
    ASSERT_EQ(FirstDifference(all.data(), all1.data(), all.size()), -1) << "M=" << M;
    for (int64_t m = 0; m < M; ++m) {
      GemmKMajor(x.data() + m * K, 1, K, w.data(), K, N, nullptr, row.data(), N, &two);
      ASSERT_EQ(FirstDifference(row.data(), all.data() + m * N, N), -1) << "M=" << M << " m=" << m;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Levels, GemmKMajorTest, ::testing::ValuesIn(testing::AllLevels()),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace rs::kernels
