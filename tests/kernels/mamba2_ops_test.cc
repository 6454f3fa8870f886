// Mamba-2 kernels (kernels/cpu/mamba2_ops.h) at every dispatch level against
// plain double-precision references written from the definitions: the SSD
// recurrence, its chunked matrix form, and the grouped gated RMSNorm.
#include "kernels/cpu/mamba2_ops.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "tests/kernels/kernel_test_util.h"

namespace rs::kernels {
namespace {

using testing::AllLevels;
using testing::BitwiseEqual;
using testing::RandomVector;
using testing::ScopedCpuLevel;

// H = 6 heads of P = 12 in G = 2 groups, N = 20 by default: no dimension a
// multiple of 16. (N = 64 and 128 take the scan's register-blocked path;
// P = 32 with N = 64 or 128 the chunked form's.)
struct Problem {
  int64_t T = 70, H = 6, P = 12, G = 2, N = 20;
  int64_t E() const { return H * P; }
  int64_t ldx = 0, ldbc = 0, ldd = 0;
  std::vector<float> x, bc, dt, dt_bias, A, D, S0;
  SsdParams params;

  explicit Problem(int64_t n = 20, int64_t p = 12) : P(p), N(n) {
    ldx = E() + 3;
    ldbc = 2 * G * N + 1;
    ldd = H + 2;
    x = RandomVector(static_cast<size_t>(T * ldx), 1);
    bc = RandomVector(static_cast<size_t>(T * ldbc), 2);
    dt = RandomVector(static_cast<size_t>(T * ldd), 3, -3.0f, 3.0f);
    dt_bias = RandomVector(static_cast<size_t>(H), 4, -4.0f, -1.0f);
    A = RandomVector(static_cast<size_t>(H), 5, -8.0f, -0.5f);
    D = RandomVector(static_cast<size_t>(E()), 6, 0.5f, 1.5f);
    S0 = RandomVector(static_cast<size_t>(H * P * N), 7);
    params.H = H;
    params.P = P;
    params.G = G;
    params.N = N;
    params.dt_bias = dt_bias.data();
    params.A = A.data();
    params.D = D.data();
    params.dt_min = 0.002f;
    params.dt_max = 0.3f;
  }
  // Inputs for tokens [t0, t0 + n).
  SsdInputs Inputs(int64_t t0, int64_t n) const {
    SsdInputs in;
    in.T = n;
    in.x = x.data() + t0 * ldx;
    in.ldx = ldx;
    in.B = bc.data() + t0 * ldbc;
    in.C = bc.data() + t0 * ldbc + G * N;
    in.ldbc = ldbc;
    in.dt = dt.data() + t0 * ldd;
    in.ldd = ldd;
    return in;
  }
};

// The definition, in double: y (T, E), S (H, P, N) updated.
void ReferenceSsd(const Problem& q, std::vector<double>* S, std::vector<double>* y) {
  const int64_t E = q.E(), hpg = q.H / q.G;
  y->assign(static_cast<size_t>(q.T * E), 0.0);
  for (int64_t t = 0; t < q.T; ++t) {
    for (int64_t h = 0; h < q.H; ++h) {
      const int64_t g = h / hpg;
      const double v = static_cast<double>(q.dt[static_cast<size_t>(t * q.ldd + h)]) +
                       q.dt_bias[static_cast<size_t>(h)];
      const double sp = v > 20.0 ? v : std::log1p(std::exp(v));
      const double dt = std::min(std::max(sp, static_cast<double>(q.params.dt_min)),
                                 static_cast<double>(q.params.dt_max));
      const double dA = std::exp(dt * q.A[static_cast<size_t>(h)]);
      for (int64_t p = 0; p < q.P; ++p) {
        const double xv = q.x[static_cast<size_t>(t * q.ldx + h * q.P + p)];
        double acc = 0;
        for (int64_t n = 0; n < q.N; ++n) {
          double& s = (*S)[static_cast<size_t>((h * q.P + p) * q.N + n)];
          s = dA * s + dt * xv * q.bc[static_cast<size_t>(t * q.ldbc + g * q.N + n)];
          acc += s * q.bc[static_cast<size_t>(t * q.ldbc + q.G * q.N + g * q.N + n)];
        }
        (*y)[static_cast<size_t>(t * E + h * q.P + p)] =
            acc + q.D[static_cast<size_t>(h * q.P + p)] * xv;
      }
    }
  }
}

double MaxRelDiff(const std::vector<float>& got, const std::vector<double>& want) {
  double m = 0, scale = 1;
  for (double w : want) scale = std::max(scale, std::fabs(w));
  for (size_t i = 0; i < got.size(); ++i) m = std::max(m, std::fabs(got[i] - want[i]));
  return m / scale;
}

class Mamba2OpsTest : public ::testing::TestWithParam<std::string> {};

TEST_P(Mamba2OpsTest, ScanAndChunkedMatchReference) {
  ScopedCpuLevel level(GetParam());
  RS_REQUIRE_LEVEL(level);
  for (auto [n_state, head_dim] : std::vector<std::pair<int64_t, int64_t>>{
           {20, 12}, {64, 12}, {128, 12}, {64, 32}, {128, 32}, {48, 16}}) {
    SCOPED_TRACE("N = " + std::to_string(n_state) + ", P = " + std::to_string(head_dim));
    const Problem q(n_state, head_dim);
    const int64_t E = q.E();
    std::vector<double> ref_S(q.S0.begin(), q.S0.end()), ref_y;
    ReferenceSsd(q, &ref_S, &ref_y);

    // The recurrence, whole.
    std::vector<float> S = q.S0, y(static_cast<size_t>(q.T * E));
    SsdScan(q.params, q.Inputs(0, q.T), S.data(), y.data(), E, 0, q.H);
    EXPECT_LE(MaxRelDiff(y, ref_y), 2e-6);
    EXPECT_LE(MaxRelDiff(S, ref_S), 2e-6);

    // The recurrence in pieces and head ranges: bitwise the same.
    std::vector<float> S2 = q.S0, y2(y.size());
    int64_t t0 = 0;
    for (int64_t n : {1, 17, 5, 47}) {
      for (auto [h0, h1] : std::vector<std::pair<int64_t, int64_t>>{{0, 1}, {1, 4}, {4, 6}}) {
        SsdScan(q.params, q.Inputs(t0, n), S2.data(), y2.data() + t0 * E, E, h0, h1);
      }
      t0 += n;
    }
    ASSERT_EQ(t0, q.T);
    EXPECT_TRUE(BitwiseEqual(y.data(), y2.data(), y.size()));
    EXPECT_TRUE(BitwiseEqual(S.data(), S2.data(), S.size()));

    // The chunked form, for chunk sizes below, at and above T.
    for (int64_t chunk : {1, 4, 16, 21, 32, 64, 256}) {
      std::vector<float> S3 = q.S0, y3(y.size());
      SsdChunked(q.params, q.Inputs(0, q.T), chunk, S3.data(), y3.data(), E, 0, q.H);
      EXPECT_LE(MaxRelDiff(y3, ref_y), 5e-6) << "chunk " << chunk;
      EXPECT_LE(MaxRelDiff(S3, ref_S), 5e-6) << "chunk " << chunk;
      // Head ranges (one group, a group and a half) give bitwise the same.
      std::vector<float> S4 = q.S0, y4(y.size());
      for (auto [h0, h1] : std::vector<std::pair<int64_t, int64_t>>{{0, 3}, {3, 5}, {5, 6}}) {
        SsdChunked(q.params, q.Inputs(0, q.T), chunk, S4.data(), y4.data(), E, h0, h1);
      }
      EXPECT_TRUE(BitwiseEqual(y3.data(), y4.data(), y3.size())) << "chunk " << chunk;
      EXPECT_TRUE(BitwiseEqual(S3.data(), S4.data(), S3.size())) << "chunk " << chunk;
    }
  }
}

TEST_P(Mamba2OpsTest, GatedRmsNormMatchesReference) {
  ScopedCpuLevel level(GetParam());
  RS_REQUIRE_LEVEL(level);
  const int64_t M = 5, E = 72, ld = 80;
  for (int64_t G : {1, 3, 4}) {
    const std::vector<float> y = RandomVector(static_cast<size_t>(M * ld), 11, -2, 2);
    const std::vector<float> z = RandomVector(static_cast<size_t>(M * ld), 12, -4, 4);
    const std::vector<float> w = RandomVector(static_cast<size_t>(E), 13, 0.5f, 1.5f);
    std::vector<float> out(static_cast<size_t>(M * ld), 0.0f), in_place = y;
    GatedRmsNorm(y.data(), ld, z.data(), ld, M, E, G, w.data(), 1e-5f, out.data(), ld);
    GatedRmsNorm(in_place.data(), ld, z.data(), ld, M, E, G, w.data(), 1e-5f, in_place.data(), ld);
    double max_diff = 0;
    const int64_t Eg = E / G;
    for (int64_t m = 0; m < M; ++m) {
      for (int64_t g = 0; g < G; ++g) {
        std::vector<double> v(static_cast<size_t>(Eg));
        double ss = 0;
        for (int64_t i = 0; i < Eg; ++i) {
          const size_t k = static_cast<size_t>(m * ld + g * Eg + i);
          const double zz = z[k];
          v[static_cast<size_t>(i)] = y[k] * zz / (1.0 + std::exp(-zz));
          ss += v[static_cast<size_t>(i)] * v[static_cast<size_t>(i)];
        }
        const double r = 1.0 / std::sqrt(ss / static_cast<double>(Eg) + 1e-5);
        for (int64_t i = 0; i < Eg; ++i) {
          const size_t k = static_cast<size_t>(m * ld + g * Eg + i);
          const double want = v[static_cast<size_t>(i)] * r * w[static_cast<size_t>(g * Eg + i)];
          max_diff = std::max(max_diff, std::fabs(out[k] - want));
        }
      }
    }
    EXPECT_LE(max_diff, 2e-6) << "G " << G;
    for (int64_t m = 0; m < M; ++m) {
      EXPECT_TRUE(
          BitwiseEqual(out.data() + m * ld, in_place.data() + m * ld, static_cast<size_t>(E)));
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Levels, Mamba2OpsTest, ::testing::ValuesIn(AllLevels()),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace rs::kernels
