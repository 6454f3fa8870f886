// RWKV ops (rwkv_ops.h) at every dispatch level: the vectorized math against
// double precision, each op against a plain double-precision transcription
// of its formula, and the chunk invariance of the WKV recurrence (bitwise).
#include "kernels/cpu/rwkv_ops.h"

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

double SigmoidD(double v) { return 1.0 / (1.0 + std::exp(-v)); }

class RwkvOpsTest : public ::testing::TestWithParam<std::string> {};

TEST_P(RwkvOpsTest, ActivationsMatchDoublePrecision) {
  ScopedCpuLevel level(GetParam());
  RS_REQUIRE_LEVEL(level);
  // Values over the whole useful range, saturating ends, tiny and exact zeros.
  std::vector<float> x;
  for (int i = -4000; i <= 4000; ++i) x.push_back(static_cast<float>(i) * 0.01f);
  for (float v :
       {-100.0f, -88.0f, -50.0f, 1e-6f, -1e-6f, 1e-30f, 0.0f, -0.0f, 50.0f, 88.0f, 100.0f})
    x.push_back(v);
  const auto n = static_cast<int64_t>(x.size());
  std::vector<float> s = x, t = x, r = x;
  Activate(Activation::kSigmoid, s.data(), 1, n, n);
  Activate(Activation::kTanh, t.data(), 1, n, n);
  Activate(Activation::kReluSquare, r.data(), 1, n, n);
  for (int64_t i = 0; i < n; ++i) {
    const double v = x[static_cast<size_t>(i)];
    ASSERT_NEAR(s[static_cast<size_t>(i)], SigmoidD(v), 2e-7) << "sigmoid(" << v << ")";
    ASSERT_NEAR(t[static_cast<size_t>(i)], std::tanh(v), 2e-7) << "tanh(" << v << ")";
    ASSERT_EQ(r[static_cast<size_t>(i)], v > 0 ? static_cast<float>(v * v) : 0.0f);
  }
  // Rows with a stride leave the gaps alone; tails shorter than a vector work.
  std::vector<float> m = RandomVector(3 * 21, 5, -3.0f, 3.0f), orig = m;
  Activate(Activation::kSigmoid, m.data(), 3, 19, 21);
  for (int64_t row = 0; row < 3; ++row) {
    for (int64_t c = 0; c < 21; ++c) {
      const size_t i = static_cast<size_t>(row * 21 + c);
      if (c < 19) {
        ASSERT_NEAR(m[i], SigmoidD(orig[i]), 2e-7);
      } else {
        ASSERT_EQ(m[i], orig[i]);
      }
    }
  }
}

TEST_P(RwkvOpsTest, LayerNormAndTokenShiftMatchFormula) {
  ScopedCpuLevel level(GetParam());
  RS_REQUIRE_LEVEL(level);
  for (int64_t C : {16, 37, 768}) {
    const int64_t M = 5, ld = C + 3;
    std::vector<float> x = RandomVector(M * ld, 1, -2.0f, 3.0f), w = RandomVector(C, 2),
                       b = RandomVector(C, 3);
    std::vector<float> y(M * ld, 9.0f);
    LayerNorm(x.data(), M, C, ld, w.data(), b.data(), 1e-5f, y.data(), ld);
    for (int64_t m = 0; m < M; ++m) {
      double mean = 0, var = 0;
      for (int64_t c = 0; c < C; ++c) mean += x[m * ld + c];
      mean /= C;
      for (int64_t c = 0; c < C; ++c) var += (x[m * ld + c] - mean) * (x[m * ld + c] - mean);
      var /= C;
      for (int64_t c = 0; c < C; ++c) {
        const double want = (x[m * ld + c] - mean) / std::sqrt(var + 1e-5) * w[c] + b[c];
        ASSERT_NEAR(y[m * ld + c], want, 2e-6) << "C=" << C;
      }
      for (int64_t c = C; c < ld; ++c) ASSERT_EQ(y[m * ld + c], 9.0f);
    }

    // Token shift: out_j[t] = x[t] + (x[t-1] - x[t]) * mix_j, x[-1] = prev.
    const int n_mix = 3;
    std::vector<float> mix = RandomVector(n_mix * C, 4, 0.0f, 1.0f);
    const float* mixes[n_mix] = {&mix[0], &mix[C], &mix[2 * C]};
    std::vector<float> prev = RandomVector(C, 6), prev0 = prev, out(n_mix * M * C);
    TokenShiftMix(x.data(), M, C, ld, prev.data(), n_mix, mixes, out.data(), M * C, C);
    for (int j = 0; j < n_mix; ++j) {
      for (int64_t t = 0; t < M; ++t) {
        for (int64_t c = 0; c < C; ++c) {
          const float xt = x[t * ld + c], xp = t == 0 ? prev0[c] : x[(t - 1) * ld + c];
          ASSERT_EQ(out[j * M * C + t * C + c], xt + (xp - xt) * mix[j * C + c]);
        }
      }
    }
    for (int64_t c = 0; c < C; ++c) ASSERT_EQ(prev[c], x[(M - 1) * ld + c]);
  }
}

// The RWKV-7 WKV recurrence in double precision, state [h][key][value].
void Wkv7Reference(int64_t T, int64_t H, int64_t N, const std::vector<float>& r,
                   const std::vector<float>& w, const std::vector<float>& k,
                   const std::vector<float>& v, const std::vector<float>& a,
                   const std::vector<float>& b, std::vector<double>* S, std::vector<double>* y) {
  const int64_t C = H * N;
  y->assign(static_cast<size_t>(T * C), 0.0);
  for (int64_t t = 0; t < T; ++t) {
    for (int64_t h = 0; h < H; ++h) {
      double* s = S->data() + h * N * N;
      const int64_t o = t * C + h * N;
      std::vector<double> sa(static_cast<size_t>(N), 0.0);
      for (int64_t j = 0; j < N; ++j) {
        for (int64_t i = 0; i < N; ++i) sa[i] += s[j * N + i] * a[o + j];
      }
      for (int64_t j = 0; j < N; ++j) {
        for (int64_t i = 0; i < N; ++i) {
          s[j * N + i] =
              s[j * N + i] * w[o + j] + sa[i] * b[o + j] + static_cast<double>(v[o + i]) * k[o + j];
          (*y)[o + i] += s[j * N + i] * r[o + j];
        }
      }
    }
  }
}

TEST_P(RwkvOpsTest, Wkv7MatchesRecurrenceAndIsChunkInvariant) {
  ScopedCpuLevel level(GetParam());
  RS_REQUIRE_LEVEL(level);
  const int64_t T = 13, H = 3, N = 32, C = H * N;
  std::vector<float> r = RandomVector(T * C, 1), k = RandomVector(T * C, 2),
                     v = RandomVector(T * C, 3);
  std::vector<float> w = RandomVector(T * C, 4, 0.5f, 1.0f);
  // a = -kk, b = kk * a_gate with kk a unit vector per head, as the model feeds it.
  std::vector<float> a(T * C), b(T * C);
  std::vector<float> kk = RandomVector(T * C, 5), gate = RandomVector(T * C, 6, 0.0f, 1.0f);
  for (int64_t t = 0; t < T; ++t) {
    for (int64_t h = 0; h < H; ++h) {
      double norm = 0;
      for (int64_t i = 0; i < N; ++i) norm += kk[t * C + h * N + i] * kk[t * C + h * N + i];
      for (int64_t i = 0; i < N; ++i) {
        const int64_t o = t * C + h * N + i;
        const auto unit = static_cast<float>(kk[o] / std::sqrt(norm));
        a[o] = -unit;
        b[o] = unit * gate[o];
      }
    }
  }
  const std::vector<float> s0 = RandomVector(H * N * N, 7);
  std::vector<double> S(s0.begin(), s0.end()), y_ref;
  Wkv7Reference(T, H, N, r, w, k, v, a, b, &S, &y_ref);

  std::vector<float> state = s0, y(T * C);
  Wkv7(T, N, r.data(), w.data(), k.data(), v.data(), a.data(), b.data(), C, state.data(), y.data(),
       C, 0, H);
  for (size_t i = 0; i < y.size(); ++i)
    ASSERT_NEAR(y[i], y_ref[i], 1e-4 * (1 + std::fabs(y_ref[i]))) << i;
  for (size_t i = 0; i < state.size(); ++i)
    ASSERT_NEAR(state[i], S[i], 1e-4 * (1 + std::fabs(S[i]))) << i;

  // Chunks of 1, 5 and 7 tokens, heads split 1 + 2: bitwise the same.
  std::vector<float> state2 = s0, y2(T * C);
  int64_t t0 = 0;
  for (int64_t len : {1, 5, 7}) {
    const int64_t o = t0 * C;
    Wkv7(len, N, &r[o], &w[o], &k[o], &v[o], &a[o], &b[o], C, state2.data(), &y2[o], C, 0, 1);
    Wkv7(len, N, &r[o], &w[o], &k[o], &v[o], &a[o], &b[o], C, state2.data(), &y2[o], C, 1, H);
    t0 += len;
  }
  EXPECT_EQ(FirstDifference(y.data(), y2.data(), y.size()), -1);
  EXPECT_EQ(FirstDifference(state.data(), state2.data(), state.size()), -1);
}

INSTANTIATE_TEST_SUITE_P(Levels, RwkvOpsTest, ::testing::ValuesIn(testing::AllLevels()),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace rs::kernels
