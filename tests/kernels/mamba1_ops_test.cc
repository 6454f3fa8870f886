#include "kernels/cpu/mamba1_ops.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "kernels/cpu/cpu_level.h"
#include "kernels/cpu/mamba1_ops_internal.h"
#include "tests/kernels/kernel_test_util.h"

namespace rs::kernels {
namespace {

using testing::FirstDifference;
using testing::RandomVector;
using testing::ScopedCpuLevel;

double SiluD(double v) { return v / (1.0 + std::exp(-v)); }
double SoftplusD(double v) { return v > 20.0 ? v : std::log1p(std::exp(v)); }

// ---------------------------------------------------------------- conv ----

struct ConvCase {
  int64_t T, E;
  int K;
};

struct ConvData {
  ConvData(const ConvCase& c, uint32_t seed)
      : x(RandomVector(c.T * (c.E + 2), seed, -2.0f, 2.0f)),
        w(RandomVector(c.K * c.E, seed + 1)),
        bias(RandomVector(c.E, seed + 2)),
        state(RandomVector((c.K - 1) * c.E, seed + 3, -2.0f, 2.0f)) {}
  std::vector<float> x, w, bias, state;
};

// Scalar double-precision reference; returns outputs (T, E), updates state.
std::vector<double> ConvReference(const ConvCase& c, const ConvData& d, std::vector<double>* st) {
  std::vector<double> out(c.T * c.E);
  const int64_t ldx = c.E + 2;
  std::vector<double> hist((c.K - 1 + c.T) * c.E);
  for (int64_t i = 0; i < (c.K - 1) * c.E; ++i) hist[i] = d.state[i];
  for (int64_t t = 0; t < c.T; ++t) {
    for (int64_t e = 0; e < c.E; ++e) hist[(c.K - 1 + t) * c.E + e] = d.x[t * ldx + e];
  }
  for (int64_t t = 0; t < c.T; ++t) {
    for (int64_t e = 0; e < c.E; ++e) {
      double acc = d.bias[e];
      for (int j = 0; j < c.K; ++j)
        acc += static_cast<double>(d.w[j * c.E + e]) * hist[(t + j) * c.E + e];
      out[t * c.E + e] = SiluD(acc);
    }
  }
  st->assign(hist.end() - (c.K - 1) * c.E, hist.end());
  return out;
}

class Mamba1LevelTest : public ::testing::TestWithParam<std::string> {};

TEST_P(Mamba1LevelTest, ConvMatchesDoubleReference) {
  ScopedCpuLevel level(GetParam());
  RS_REQUIRE_LEVEL(level);
  for (const ConvCase c : {ConvCase{1, 37, 4}, ConvCase{13, 37, 4}, ConvCase{2, 100, 4},
                           ConvCase{9, 64, 1}, ConvCase{5, 21, 3}}) {
    SCOPED_TRACE(::testing::Message() << "T=" << c.T << " E=" << c.E << " K=" << c.K);
    ConvData d(c, 5);
    std::vector<double> want_state;
    const std::vector<double> want = ConvReference(c, d, &want_state);
    std::vector<float> out(c.T * (c.E + 1), 3.0f);
    CausalConv1dSilu(d.x.data(), c.T, c.E + 2, c.E, c.K, d.w.data(), d.bias.data(), d.state.data(),
                     out.data(), c.E + 1, 0, c.E);
    for (int64_t t = 0; t < c.T; ++t) {
      for (int64_t e = 0; e < c.E; ++e) {
        const double wv = want[t * c.E + e];
        ASSERT_NEAR(out[t * (c.E + 1) + e], wv, 1e-5 * std::fabs(wv) + 1e-6) << t << " " << e;
      }
    }
    for (size_t i = 0; i < want_state.size(); ++i) ASSERT_EQ(d.state[i], want_state[i]) << i;
  }
}

TEST_P(Mamba1LevelTest, ConvChunkingAndChannelSplitsAreBitwiseIdentical) {
  ScopedCpuLevel level(GetParam());
  RS_REQUIRE_LEVEL(level);
  const ConvCase c{11, 53, 4};
  const int64_t ldx = c.E + 2;
  ConvData d(c, 9);
  // Whole sequence in one call.
  std::vector<float> state_a = d.state, out_a(c.T * c.E);
  CausalConv1dSilu(d.x.data(), c.T, ldx, c.E, c.K, d.w.data(), d.bias.data(), state_a.data(),
                   out_a.data(), c.E, 0, c.E);
  // One token at a time.
  std::vector<float> state_b = d.state, out_b(c.T * c.E);
  for (int64_t t = 0; t < c.T; ++t) {
    CausalConv1dSilu(d.x.data() + t * ldx, 1, ldx, c.E, c.K, d.w.data(), d.bias.data(),
                     state_b.data(), out_b.data() + t * c.E, c.E, 0, c.E);
  }
  EXPECT_EQ(FirstDifference(out_a.data(), out_b.data(), out_a.size()), -1);
  EXPECT_EQ(FirstDifference(state_a.data(), state_b.data(), state_a.size()), -1);
  // Chunks of 2, 1, 5, 3 tokens with channel splits at odd points.
  std::vector<float> state_c = d.state, out_c(c.T * c.E);
  int64_t t0 = 0;
  for (int64_t len : {2, 1, 5, 3}) {
    for (auto [e0, e1] : {std::pair<int64_t, int64_t>{0, 5}, {5, 22}, {22, 53}}) {
      CausalConv1dSilu(d.x.data() + t0 * ldx, len, ldx, c.E, c.K, d.w.data(), d.bias.data(),
                       state_c.data(), out_c.data() + t0 * c.E, c.E, e0, e1);
    }
    t0 += len;
  }
  EXPECT_EQ(FirstDifference(out_a.data(), out_c.data(), out_a.size()), -1);
  EXPECT_EQ(FirstDifference(state_a.data(), state_c.data(), state_a.size()), -1);
}

TEST_P(Mamba1LevelTest, ConvWithoutBiasAndOutsideRangeUntouched) {
  ScopedCpuLevel level(GetParam());
  RS_REQUIRE_LEVEL(level);
  const ConvCase c{3, 40, 4};
  ConvData d(c, 12);
  const std::vector<float> state0 = d.state;
  std::vector<float> out(c.T * c.E, 7.0f);
  CausalConv1dSilu(d.x.data(), c.T, c.E + 2, c.E, c.K, d.w.data(), nullptr, d.state.data(),
                   out.data(), c.E, 10, 30);
  for (int64_t t = 0; t < c.T; ++t) {
    for (int64_t e = 0; e < c.E; ++e) {
      if (e < 10 || e >= 30) {
        ASSERT_EQ(out[t * c.E + e], 7.0f);
        continue;
      }
      double acc = 0;
      for (int j = 0; j < c.K; ++j) {
        const int64_t i = t - (c.K - 1) + j;
        const double in = i >= 0 ? d.x[i * (c.E + 2) + e] : state0[(c.K - 1 + i) * c.E + e];
        acc += d.w[j * c.E + e] * in;
      }
      ASSERT_NEAR(out[t * c.E + e], SiluD(acc), 1e-5 * std::fabs(SiluD(acc)) + 1e-6);
    }
  }
  for (int r = 0; r < c.K - 1; ++r) {
    for (int64_t e = 0; e < c.E; ++e) {
      if (e < 10 || e >= 30) {
        ASSERT_EQ(d.state[r * c.E + e], state0[r * c.E + e]);
      }
    }
  }
}

// ---------------------------------------------------------------- scan ----

struct ScanData {
  ScanData(int64_t T, int64_t E, int64_t N, uint32_t seed) : T(T), E(E), N(N) {
    ldu = E + 1;
    ldd = E + 3;
    ldz = E + 2;
    ldbc = 2 * N + 4;  // B and C interleaved in one row like x_proj's output
    u = RandomVector(T * ldu, seed, -2.0f, 2.0f);
    dt = RandomVector(T * ldd, seed + 1, -6.0f, 2.0f);
    for (int64_t i = 0; i < T * ldd; i += 17) dt[i] = 25.0f;  // softplus threshold branch
    dt_bias = RandomVector(E, seed + 2, -1.0f, 1.0f);
    A = RandomVector(E * N, seed + 3, 0.0f, 3.0f);
    for (float& a : A) a = -std::exp(a);
    bc = RandomVector(T * ldbc, seed + 4);
    D = RandomVector(E, seed + 5, 0.5f, 1.5f);
    z = RandomVector(T * ldz, seed + 6, -4.0f, 4.0f);
    h0 = RandomVector(E * N, seed + 7, -1.0f, 1.0f);
  }
  const float* B() const { return bc.data(); }
  const float* C() const { return bc.data() + N + 2; }
  int64_t T, E, N, ldu, ldd, ldz, ldbc;
  std::vector<float> u, dt, dt_bias, A, bc, D, z, h0;
};

void RunScan(const ScanData& s, int64_t t0, int64_t T, std::vector<float>* h, float* y, int64_t ldy,
             int64_t e0, int64_t e1) {
  SelectiveScan(s.u.data() + t0 * s.ldu, s.ldu, s.dt.data() + t0 * s.ldd, s.ldd, s.dt_bias.data(),
                s.A.data(), s.B() + t0 * s.ldbc, s.C() + t0 * s.ldbc, s.ldbc, s.D.data(),
                s.z.data() + t0 * s.ldz, s.ldz, T, s.E, s.N, h->data(), y, ldy, e0, e1);
}

TEST_P(Mamba1LevelTest, ScanMatchesDoubleReference) {
  ScopedCpuLevel level(GetParam());
  RS_REQUIRE_LEVEL(level);
  for (int64_t N : {16, 5, 1, 40, 64}) {
    for (int64_t E : {37, 48}) {
      SCOPED_TRACE(::testing::Message() << "N=" << N << " E=" << E);
      const int64_t T = 12;
      const ScanData s(T, E, N, 100 + N);
      std::vector<float> h = s.h0, y(T * E);
      RunScan(s, 0, T, &h, y.data(), E, 0, E);
      std::vector<double> hd(s.h0.begin(), s.h0.end());
      for (int64_t t = 0; t < T; ++t) {
        for (int64_t e = 0; e < E; ++e) {
          const double delta = SoftplusD(static_cast<double>(s.dt[t * s.ldd + e]) + s.dt_bias[e]);
          const double ue = s.u[t * s.ldu + e];
          double sum = 0, scale = 0;
          for (int64_t n = 0; n < N; ++n) {
            double& hv = hd[n * E + e];
            hv = std::exp(delta * s.A[n * E + e]) * hv + delta * s.B()[t * s.ldbc + n] * ue;
            sum += hv * s.C()[t * s.ldbc + n];
            scale += std::fabs(hv * s.C()[t * s.ldbc + n]);
          }
          const double g = SiluD(s.z[t * s.ldz + e]);
          const double want = (sum + s.D[e] * ue) * g;
          const double tol = 2e-5 * (scale + std::fabs(s.D[e] * ue)) * std::fabs(g) + 1e-6;
          ASSERT_NEAR(y[t * E + e], want, tol) << "t=" << t << " e=" << e;
        }
      }
      for (int64_t i = 0; i < E * N; ++i) {
        ASSERT_NEAR(h[i], hd[i], 2e-5 * std::fabs(hd[i]) + 1e-6) << i;
      }
    }
  }
}

TEST_P(Mamba1LevelTest, ScanChunkingAndChannelSplitsAreBitwiseIdentical) {
  ScopedCpuLevel level(GetParam());
  RS_REQUIRE_LEVEL(level);
  for (int64_t N : {16, 7, 33}) {
    SCOPED_TRACE(::testing::Message() << "N=" << N);
    const int64_t T = 10, E = 45;
    const ScanData s(T, E, N, 7 * N);
    std::vector<float> h_a = s.h0, y_a(T * E);
    RunScan(s, 0, T, &h_a, y_a.data(), E, 0, E);
    // Token by token.
    std::vector<float> h_b = s.h0, y_b(T * E);
    for (int64_t t = 0; t < T; ++t) RunScan(s, t, 1, &h_b, y_b.data() + t * E, E, 0, E);
    EXPECT_EQ(FirstDifference(y_a.data(), y_b.data(), y_a.size()), -1);
    EXPECT_EQ(FirstDifference(h_a.data(), h_b.data(), h_a.size()), -1);
    // Uneven chunks, each split into channel ranges that straddle vectors.
    std::vector<float> h_c = s.h0, y_c(T * E);
    int64_t t0 = 0;
    for (int64_t len : {3, 1, 4, 2}) {
      for (auto [e0, e1] : {std::pair<int64_t, int64_t>{0, 3}, {3, 20}, {20, 21}, {21, 45}}) {
        RunScan(s, t0, len, &h_c, y_c.data() + t0 * E, E, e0, e1);
      }
      t0 += len;
    }
    EXPECT_EQ(FirstDifference(y_a.data(), y_c.data(), y_a.size()), -1);
    EXPECT_EQ(FirstDifference(h_a.data(), h_c.data(), h_a.size()), -1);
  }
}

INSTANTIATE_TEST_SUITE_P(Levels, Mamba1LevelTest, ::testing::ValuesIn(testing::AllLevels()),
                         [](const auto& info) { return info.param; });

// ----------------------------------------------------------- vector math ----

double UlpDistance(float got, double want) {
  const float wf = static_cast<float>(want);
  if (std::isinf(wf) || wf == 0.0f) return got == wf ? 0.0 : 1e9;
  const float ulp = std::nextafter(std::fabs(wf), INFINITY) - std::fabs(wf);
  return std::fabs(got - want) / ulp;
}

void CheckVectorMath(void (*fn)(int, const float*, int64_t, float*)) {
  // Exp over [-110, 95]: <= 2 ulp for normal results, exact 0/inf beyond.
  std::vector<float> x;
  for (double v = -110.0; v <= 95.0; v += 0.00137) x.push_back(static_cast<float>(v));
  for (float v : {0.0f, -0.0f, 1e-30f, -1e-30f, 88.72f, 88.73f, -87.33f, -103.9f, -104.0f, -1e30f,
                  1e30f, INFINITY, -INFINITY}) {
    x.push_back(v);
  }
  std::vector<float> y(x.size());
  fn(0, x.data(), static_cast<int64_t>(x.size()), y.data());
  double max_ulp = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    const double want = std::exp(static_cast<double>(x[i]));
    if (want < 1.2e-38) {  // subnormal/zero results: absolute accuracy
      ASSERT_LE(std::fabs(y[i] - want), 2e-45) << x[i];
      continue;
    }
    const double ulp = UlpDistance(y[i], want);
    ASSERT_LE(ulp, 2.0) << "exp(" << x[i] << ") = " << y[i] << " want " << want;
    max_ulp = std::max(max_ulp, ulp);
  }
  std::printf("exp max error %.3f ulp over %zu points\n", max_ulp, x.size());
  const float nan = NAN;
  float out;
  fn(0, &nan, 1, &out);
  EXPECT_TRUE(std::isnan(out));

  // Softplus over [-100, 60] and SiLU over [-100, 100]: a few ulp.
  x.clear();
  for (double v = -100.0; v <= 60.0; v += 0.0071) x.push_back(static_cast<float>(v));
  y.resize(x.size());
  fn(1, x.data(), static_cast<int64_t>(x.size()), y.data());
  double max_sp = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    const double want = SoftplusD(x[i]);
    const double ulp = UlpDistance(y[i], want);
    ASSERT_LE(ulp, 4.0) << "softplus(" << x[i] << ") = " << y[i] << " want " << want;
    max_sp = std::max(max_sp, ulp);
  }
  x.clear();
  for (double v = -100.0; v <= 100.0; v += 0.0073) x.push_back(static_cast<float>(v));
  y.resize(x.size());
  fn(2, x.data(), static_cast<int64_t>(x.size()), y.data());
  double max_silu = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    const double want = SiluD(x[i]);
    if (std::fabs(want) < 1e-35) {
      // x < ~-88.7: exp(-x) overflows and x / inf = -0 (as in torch).
      ASSERT_LE(std::fabs(y[i] - want), 1e-35);
      continue;
    }
    const double ulp = UlpDistance(y[i], want);
    ASSERT_LE(ulp, 4.0) << "silu(" << x[i] << ") = " << y[i] << " want " << want;
    max_silu = std::max(max_silu, ulp);
  }
  std::printf("softplus max %.3f ulp, silu max %.3f ulp\n", max_sp, max_silu);
}

TEST(VectorMathTest, Avx512Accuracy) {
  if (DetectedCpuLevel() < CpuLevel::kAvx512) GTEST_SKIP() << "no AVX-512";
  CheckVectorMath(&internal::VectorMathAvx512);
}

TEST(VectorMathTest, Avx2Accuracy) {
  if (DetectedCpuLevel() < CpuLevel::kAvx2) GTEST_SKIP() << "no AVX2";
  CheckVectorMath(&internal::VectorMathAvx2);
}

}  // namespace
}  // namespace rs::kernels
