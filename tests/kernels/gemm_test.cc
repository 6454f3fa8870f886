#include "kernels/cpu/gemm.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "kernels/cpu/cpu_level.h"
#include "kernels/cpu/gemm_internal.h"
#include "kernels/cpu/thread_pool.h"
#include "tests/kernels/kernel_test_util.h"

namespace rs::kernels {
namespace {

using testing::BitwiseEqual;
using testing::FirstDifference;
using testing::RandomVector;
using testing::ScopedCpuLevel;

uint16_t ToBf16(float f) {  // round to nearest even (finite inputs)
  uint32_t u;
  std::memcpy(&u, &f, 4);
  u += 0x7fffu + ((u >> 16) & 1u);
  return static_cast<uint16_t>(u >> 16);
}

uint16_t ToF16(float f) {  // finite |f| < 65504, normal range only (test data)
  uint32_t u;
  std::memcpy(&u, &f, 4);
  const uint32_t sign = (u >> 16) & 0x8000u;
  const int exp = static_cast<int>((u >> 23) & 0xff) - 127 + 15;
  if (exp <= 0) return static_cast<uint16_t>(sign);
  uint32_t mant = u & 0x7fffffu;
  uint32_t h = sign | (static_cast<uint32_t>(exp) << 10) | (mant >> 13);
  const uint32_t rest = mant & 0x1fffu;
  if (rest > 0x1000u || (rest == 0x1000u && (h & 1u))) ++h;
  return static_cast<uint16_t>(h);
}

// Weights of a given type, stored at a deliberately misaligned address.
class TestWeights {
 public:
  TestWeights(WeightType type, int64_t n, int64_t k, uint32_t seed) : type_(type), n_(n), k_(k) {
    const std::vector<float> f = RandomVector(static_cast<size_t>(n * k), seed);
    const size_t esize = type == WeightType::kF32 ? 4 : 2;
    bytes_.assign(f.size() * esize + 8, 0);
    unsigned char* p = bytes_.data() + 2;  // misaligned for every type
    for (size_t i = 0; i < f.size(); ++i) {
      if (type == WeightType::kF32) {
        std::memcpy(p + 4 * i, &f[i], 4);
      } else {
        const uint16_t h = type == WeightType::kBF16 ? ToBf16(f[i]) : ToF16(f[i]);
        std::memcpy(p + 2 * i, &h, 2);
      }
    }
    matrix_ = {type, p, n, k};
    widened_.resize(f.size());
    for (int64_t r = 0; r < n; ++r) WeightRowToF32(matrix_, r, widened_.data() + r * k);
  }
  const WeightMatrix& matrix() const { return matrix_; }
  // The same weights widened to F32 (exactly).
  WeightMatrix f32() const { return {WeightType::kF32, widened_.data(), n_, k_}; }
  const float* row(int64_t r) const { return widened_.data() + r * k_; }

 private:
  WeightType type_;
  int64_t n_, k_;
  std::vector<unsigned char> bytes_;
  std::vector<float> widened_;
  WeightMatrix matrix_;
};

const char* TypeName(WeightType t) {
  return t == WeightType::kF32 ? "F32" : t == WeightType::kF16 ? "F16" : "BF16";
}

class GemmLevelTest : public ::testing::TestWithParam<std::string> {};

TEST_P(GemmLevelTest, MatchesDoublePrecisionWithinTolerance) {
  ScopedCpuLevel level(GetParam());
  RS_REQUIRE_LEVEL(level);
  ThreadPool pool(2);
  struct Shape {
    int64_t m, n, k;
  };
  for (const Shape s : {Shape{1, 1, 1}, Shape{1, 37, 37}, Shape{3, 50, 48}, Shape{5, 13, 768},
                        Shape{17, 61, 1000}, Shape{70, 99, 129}, Shape{4, 3072, 64}}) {
    for (WeightType type : {WeightType::kF32, WeightType::kF16, WeightType::kBF16}) {
      SCOPED_TRACE(::testing::Message()
                   << TypeName(type) << " M=" << s.m << " N=" << s.n << " K=" << s.k);
      const TestWeights w(type, s.n, s.k, 7);
      const int64_t ldx = s.k + 3, ldy = s.n + 5;
      const std::vector<float> x = RandomVector(s.m * ldx, 11);
      const std::vector<float> bias = RandomVector(s.n, 13);
      std::vector<float> y(s.m * ldy, -7.0f), ref(s.m * ldy, -7.0f);
      Gemm(x.data(), s.m, ldx, w.matrix(), bias.data(), y.data(), ldy, &pool);
      GemmReference(x.data(), s.m, ldx, w.matrix(), bias.data(), ref.data(), ldy);
      for (int64_t m = 0; m < s.m; ++m) {
        for (int64_t n = 0; n < s.n; ++n) {
          double exact = bias[n], scale = std::fabs(bias[n]);
          for (int64_t k = 0; k < s.k; ++k) {
            const double p = static_cast<double>(x[m * ldx + k]) * w.row(n)[k];
            exact += p;
            scale += std::fabs(p);
          }
          const double tol = 1e-5 * scale + 1e-7;
          ASSERT_NEAR(y[m * ldy + n], exact, tol) << "m=" << m << " n=" << n;
          ASSERT_NEAR(ref[m * ldy + n], exact, tol) << "m=" << m << " n=" << n;
        }
        // Padding between rows is untouched.
        for (int64_t n = s.n; n < ldy; ++n) ASSERT_EQ(y[m * ldy + n], -7.0f);
      }
    }
  }
}

TEST_P(GemmLevelTest, HalfWeightsEqualWidenedF32Bitwise) {
  ScopedCpuLevel level(GetParam());
  RS_REQUIRE_LEVEL(level);
  ThreadPool pool(2);
  for (WeightType type : {WeightType::kF16, WeightType::kBF16}) {
    for (int64_t k : {37, 48, 768, 1000}) {
      for (int64_t m : {1, 2, 3, 4, 9, 33}) {
        SCOPED_TRACE(::testing::Message() << TypeName(type) << " M=" << m << " K=" << k);
        const int64_t n = 77;
        const TestWeights w(type, n, k, 3);
        const std::vector<float> x = RandomVector(m * k, 5);
        std::vector<float> y_half(m * n), y_f32(m * n);
        Gemm(x.data(), m, k, w.matrix(), nullptr, y_half.data(), n, &pool);
        Gemm(x.data(), m, k, w.f32(), nullptr, y_f32.data(), n, &pool);
        ASSERT_EQ(FirstDifference(y_half.data(), y_f32.data(), y_half.size()), -1);
      }
    }
  }
}

// THE determinism contract: row m of a batched product equals the product of
// row m alone, bitwise, for any M, thread count and split.
TEST_P(GemmLevelTest, BatchedEqualsUnbatchedBitwise) {
  ScopedCpuLevel level(GetParam());
  RS_REQUIRE_LEVEL(level);
  ThreadPool pool1(1), pool2(2);
  for (WeightType type : {WeightType::kF32, WeightType::kBF16, WeightType::kF16}) {
    for (int64_t k : {37, 48, 768, 1000}) {
      for (int64_t n : {1, 7, 61, 203}) {
        const TestWeights w(type, n, k, 17);
        const std::vector<float> bias = RandomVector(n, 19);
        // Single rows, computed once.
        const int64_t max_m = 70;
        const std::vector<float> x = RandomVector(max_m * k, 23);
        std::vector<float> single(max_m * n);
        for (int64_t m = 0; m < max_m; ++m) {
          Gemm(x.data() + m * k, 1, k, w.matrix(), bias.data(), single.data() + m * n, n, nullptr);
        }
        for (int64_t M : {2, 3, 4, 5, 8, 16, 31, 64, 70}) {
          for (ThreadPool* pool : {&pool1, &pool2}) {
            SCOPED_TRACE(::testing::Message() << TypeName(type) << " K=" << k << " N=" << n
                                              << " M=" << M << " threads=" << pool->size());
            std::vector<float> y(M * n);
            Gemm(x.data(), M, k, w.matrix(), bias.data(), y.data(), n, pool);
            ASSERT_EQ(FirstDifference(y.data(), single.data(), y.size()), -1);
          }
        }
        // A batch that starts mid-way (different row blocking) agrees too.
        std::vector<float> y(63 * n);
        Gemm(x.data() + 7 * k, 63, k, w.matrix(), bias.data(), y.data(), n, &pool2);
        ASSERT_EQ(FirstDifference(y.data(), single.data() + 7 * n, y.size()), -1);
      }
    }
  }
}

// Forces a WeightStream mode for its lifetime, and restores the detected one
// even when an assertion leaves the test early.
class ScopedWeightStream {
 public:
  explicit ScopedWeightStream(const char* mode) { SetWeightStreamForTesting(mode); }
  ~ScopedWeightStream() { SetWeightStreamForTesting(nullptr); }
  ScopedWeightStream(const ScopedWeightStream&) = delete;
  ScopedWeightStream& operator=(const ScopedWeightStream&) = delete;
};

// Both ways of streaming the weights (cpu_level.h: WeightStream) give the
// single-row results bitwise, across the batched-decode sizes the touch pass
// covers and its edges, misaligned weights and K tails.
TEST_P(GemmLevelTest, WeightStreamModesGiveTheSameBits) {
  ScopedCpuLevel level(GetParam());
  RS_REQUIRE_LEVEL(level);
  ThreadPool pool2(2);
  for (WeightType type : {WeightType::kF32, WeightType::kBF16}) {
    for (int64_t k : {37, 768, 3072}) {
      const int64_t n = 203;
      const TestWeights w(type, n, k, 41);
      const int64_t max_m = 65;
      const std::vector<float> x = RandomVector(max_m * k, 43);
      std::vector<float> single(max_m * n);
      for (int64_t m = 0; m < max_m; ++m) {
        Gemm(x.data() + m * k, 1, k, w.matrix(), nullptr, single.data() + m * n, n, nullptr);
      }
      for (const char* mode : {"prefetch", "touch"}) {
        const ScopedWeightStream stream(mode);
        ASSERT_STREQ(GemmWeightStreamName(), mode);
        for (int64_t M : {4, 7, 8, 16, 40, 64, 65}) {
          SCOPED_TRACE(::testing::Message()
                       << mode << " " << TypeName(type) << " K=" << k << " M=" << M);
          std::vector<float> y(M * n);
          Gemm(x.data(), M, k, w.matrix(), nullptr, y.data(), n, &pool2);
          ASSERT_EQ(FirstDifference(y.data(), single.data(), y.size()), -1);
        }
      }
    }
  }
}

TEST_P(GemmLevelTest, LargeProblemIsThreadCountInvariant) {
  ScopedCpuLevel level(GetParam());
  RS_REQUIRE_LEVEL(level);
  const int64_t M = 130, N = 1000, K = 768;
  const TestWeights w(WeightType::kF32, N, K, 29);
  const std::vector<float> x = RandomVector(M * K, 31);
  std::vector<float> y1(M * N), y2(M * N), y3(M * N);
  ThreadPool p1(1), p2(2), p3(3);
  Gemm(x.data(), M, K, w.matrix(), nullptr, y1.data(), N, &p1);
  Gemm(x.data(), M, K, w.matrix(), nullptr, y2.data(), N, &p2);
  Gemm(x.data(), M, K, w.matrix(), nullptr, y3.data(), N, &p3);
  EXPECT_TRUE(BitwiseEqual(y1.data(), y2.data(), y1.size()));
  EXPECT_TRUE(BitwiseEqual(y1.data(), y3.data(), y1.size()));
  // And a small slice equals the same rows computed alone.
  std::vector<float> row(N);
  Gemm(x.data() + 77 * K, 1, K, w.matrix(), nullptr, row.data(), N, &p2);
  EXPECT_TRUE(BitwiseEqual(row.data(), y2.data() + 77 * N, N));
}

TEST_P(GemmLevelTest, ZeroKGivesBiasAndZeroMIsNoOp) {
  ScopedCpuLevel level(GetParam());
  RS_REQUIRE_LEVEL(level);
  const float bias[3] = {1.5f, -2.0f, 0.25f};
  const WeightMatrix w{WeightType::kF32, nullptr, 3, 0};
  const float x[2] = {0, 0};
  float y[6] = {9, 9, 9, 9, 9, 9};
  Gemm(x, 2, 0, w, bias, y, 3, nullptr);
  EXPECT_EQ(y[0], 1.5f);
  EXPECT_EQ(y[4], -2.0f);
  float untouched[1] = {4.0f};
  Gemm(x, 0, 0, w, bias, untouched, 3, nullptr);
  EXPECT_EQ(untouched[0], 4.0f);
}

TEST_P(GemmLevelTest, F16WideningIsExactForEveryHalf) {
  ScopedCpuLevel level(GetParam());
  RS_REQUIRE_LEVEL(level);
  // y[n] = 1 * W[n, 0] over all 65536 halves (K = 1): the SIMD widening must
  // agree with the scalar one (NaNs only need to stay NaN).
  std::vector<uint16_t> halves(65536);
  for (int i = 0; i < 65536; ++i) halves[i] = static_cast<uint16_t>(i);
  for (WeightType type : {WeightType::kF16, WeightType::kBF16}) {
    const WeightMatrix w{type, halves.data(), 65536, 1};
    const float one = 1.0f;
    std::vector<float> y(65536);
    Gemm(&one, 1, 1, w, nullptr, y.data(), 65536, nullptr);
    for (int i = 0; i < 65536; ++i) {
      float want;
      WeightRowToF32(w, i, &want);
      if (std::isnan(want)) {
        ASSERT_TRUE(std::isnan(y[i])) << i;
      } else {
        ASSERT_EQ(y[i], want) << TypeName(type) << " half " << i;
      }
    }
  }
}

TEST_P(GemmLevelTest, GemmManyEqualsSeparateCallsBitwise) {
  ScopedCpuLevel level(GetParam());
  RS_REQUIRE_LEVEL(level);
  ThreadPool pool(2);
  // Jobs of every size class: tiny (run inline), split over N, split over M,
  // mixed dtypes; more than 8 jobs (GemmMany groups them).
  struct Shape {
    int64_t m, n, k;
    WeightType type;
  };
  const std::vector<Shape> shapes = {{16, 768, 768, WeightType::kF32}, {1, 3, 5, WeightType::kF32},
                                     {16, 64, 768, WeightType::kBF16}, {70, 99, 129, WeightType::kF16},
                                     {3, 500, 300, WeightType::kF32},  {16, 20, 768, WeightType::kF32},
                                     {9, 61, 64, WeightType::kBF16},   {1, 1000, 256, WeightType::kF32},
                                     {33, 12, 40, WeightType::kF32},   {4, 128, 96, WeightType::kF16}};
  std::vector<TestWeights> ws;
  std::vector<std::vector<float>> xs, ys, want;
  for (size_t i = 0; i < shapes.size(); ++i) {
    const Shape& s = shapes[i];
    ws.emplace_back(s.type, s.n, s.k, 20 + static_cast<uint32_t>(i));
    xs.push_back(RandomVector(s.m * s.k, 40 + static_cast<uint32_t>(i)));
    ys.emplace_back(s.m * s.n, -1.0f);
    want.emplace_back(s.m * s.n, -2.0f);
  }
  std::vector<WeightMatrix> mats;
  for (const TestWeights& w : ws) mats.push_back(w.matrix());
  std::vector<GemmJob> jobs;
  for (size_t i = 0; i < shapes.size(); ++i) {
    const Shape& s = shapes[i];
    jobs.push_back({xs[i].data(), s.m, s.k, &mats[i], nullptr, ys[i].data(), s.n});
    Gemm(xs[i].data(), s.m, s.k, mats[i], nullptr, want[i].data(), s.n, &pool);
  }
  GemmMany(jobs, &pool);
  for (size_t i = 0; i < shapes.size(); ++i) {
    ASSERT_EQ(FirstDifference(ys[i].data(), want[i].data(), ys[i].size()), -1) << "job " << i;
  }
}

INSTANTIATE_TEST_SUITE_P(Levels, GemmLevelTest, ::testing::ValuesIn(testing::AllLevels()),
                         [](const auto& info) { return info.param; });

TEST(GemmTest, WeightRowToF32KnownValues) {
  const uint16_t f16[6] = {0x3c00, 0xc000, 0x0001, 0x7c00, 0x7bff, 0x8000};
  float out[6];
  WeightRowToF32({WeightType::kF16, f16, 1, 6}, 0, out);
  EXPECT_EQ(out[0], 1.0f);
  EXPECT_EQ(out[1], -2.0f);
  EXPECT_EQ(out[2], std::ldexp(1.0f, -24));  // smallest subnormal
  EXPECT_TRUE(std::isinf(out[3]));
  EXPECT_EQ(out[4], 65504.0f);
  EXPECT_TRUE(std::signbit(out[5]));
  const uint16_t bf16[2] = {0x3f80, 0x4049};
  WeightRowToF32({WeightType::kBF16, bf16, 2, 1}, 1, out);
  EXPECT_EQ(out[0], 3.140625f);
  const float f32[4] = {1, 2, 3, 4};
  WeightRowToF32({WeightType::kF32, f32, 2, 2}, 1, out);
  EXPECT_EQ(out[0], 3.0f);
  EXPECT_EQ(out[1], 4.0f);
}

TEST(GemmTest, CpuLevelNameAndOverride) {
  const std::string detected = CpuLevelToString(DetectedCpuLevel());
  EXPECT_TRUE(detected == "avx512" || detected == "avx2" || detected == "scalar");
  SetCpuLevelForTesting("scalar");
  EXPECT_STREQ(CpuLevelName(), "scalar");
  SetCpuLevelForTesting("avx512");  // capped at what the CPU has
  EXPECT_EQ(std::string(CpuLevelName()), detected);
  SetCpuLevelForTesting(nullptr);
}

}  // namespace
}  // namespace rs::kernels
