// Mamba-1 conv and selective scan on the GPU against the CPU kernels
// (kernels/cpu/mamba1_ops.h) on random inputs: several sequences of different
// lengths in one call, each with its own state slot; and a chunk equals its
// tokens fed one call at a time (bitwise, on the GPU).
// Tolerance: max|gpu - cpu| <= 1e-5 * max(1, max|cpu|) (fp32 both sides; the
// only differences are exp/log1p implementations and FMA contraction).
#include <cuda_runtime.h>

#include <vector>

#include "kernels/cpu/mamba1_ops.h"
#include "kernels/cuda/mamba1_ops.h"
#include "tests/gpu/gpu_test_util.h"

namespace rs::kernels::cuda {
namespace {

using namespace testing;  // NOLINT

constexpr int64_t kE = 200;  // not a multiple of the block size
constexpr int kK = 4;

struct ScanInputs {
  int64_t M, N, ldbc;
  std::vector<float> u, dt, dt_bias, A, bc, D, z;
};

ScanInputs MakeScan(int64_t M, int64_t N, uint32_t seed) {
  ScanInputs in;
  in.M = M;
  in.N = N;
  in.ldbc = 2 * N + 3;
  in.u = Random(M * kE, -1, 1, seed);
  in.dt = Random(M * kE, -4, 1, seed + 1);
  in.dt_bias = Random(kE, -2, 0, seed + 2);
  in.A = Random(N * kE, -8, -0.1f, seed + 3);
  in.bc = Random(M * in.ldbc, -1, 1, seed + 4);
  in.D = Random(kE, -1, 1, seed + 5);
  in.z = Random(M * kE, -2, 2, seed + 6);
  return in;
}

class GpuMamba1Scan : public ::testing::TestWithParam<int> {};

TEST_P(GpuMamba1Scan, MatchesCpuAndChunkEqualsSteps) {
  RS_SKIP_WITHOUT_GPU();
  const int64_t N = GetParam();
  const Seqs seqs = MakeSeqs({1, 7, 33, 2});
  const ScanInputs in = MakeScan(seqs.M(), N, 100 + static_cast<uint32_t>(N));
  const size_t slot = static_cast<size_t>(N * kE);
  const std::vector<float> h0 = Random(seqs.n() * slot, -1, 1, 9);

  // CPU: each sequence on its own.
  std::vector<float> y_cpu(seqs.M() * kE), h_cpu = h0;
  for (int s = 0; s < seqs.n(); ++s) {
    const int64_t r = seqs.starts[s];
    kernels::SelectiveScan(&in.u[r * kE], kE, &in.dt[r * kE], kE, in.dt_bias.data(), in.A.data(),
                           &in.bc[r * in.ldbc], &in.bc[r * in.ldbc + N], in.ldbc, in.D.data(),
                           &in.z[r * kE], kE, seqs.T(s), kE, N, &h_cpu[s * slot], &y_cpu[r * kE], kE, 0,
                           kE);
  }

  Dev<float> u(in.u), dt(in.dt), dtb(in.dt_bias), A(in.A), bc(in.bc), D(in.D), z(in.z);
  Dev<int32_t> starts(seqs.starts);
  Dev<float> y(std::vector<float>(seqs.M() * kE, NAN));
  Slots slots(seqs.n(), slot, h0);
  CUDA_OK(Mamba1Scan(u.get(), kE, dt.get(), kE, dtb.get(), A.get(), bc.get(), bc.get() + N, in.ldbc, D.get(),
                     z.get(), kE, kE, N, starts.get(), seqs.n(), slots.dev(), 0, y.get(), kE, nullptr));
  const std::vector<float> y_gpu = y.Host(), h_gpu = slots.Host();
  EXPECT_LE(RelErr(y_gpu, y_cpu), 1e-5);
  EXPECT_LE(RelErr(h_gpu, h_cpu), 1e-5);

  // The longest sequence alone, one token per call, equals its chunk.
  const int s = 2;
  Slots one(1, slot, std::vector<float>(h0.begin() + s * slot, h0.begin() + (s + 1) * slot));
  Dev<float> y1(std::vector<float>(seqs.M() * kE, NAN));
  for (int64_t t = seqs.starts[s]; t < seqs.starts[s + 1]; ++t) {
    Dev<int32_t> st(std::vector<int32_t>{static_cast<int32_t>(t), static_cast<int32_t>(t + 1)});
    CUDA_OK(Mamba1Scan(u.get(), kE, dt.get(), kE, dtb.get(), A.get(), bc.get(), bc.get() + N, in.ldbc, D.get(),
                       z.get(), kE, kE, N, st.get(), 1, one.dev(), 0, y1.get(), kE, nullptr));
  }
  const std::vector<float> y1h = y1.Host(), h1 = one.Host();
  for (int64_t i = seqs.starts[s] * kE; i < seqs.starts[s + 1] * kE; ++i) ASSERT_EQ(y1h[i], y_gpu[i]) << i;
  for (size_t i = 0; i < slot; ++i) ASSERT_EQ(h1[i], h_gpu[s * slot + i]) << i;
}

INSTANTIATE_TEST_SUITE_P(StateSizes, GpuMamba1Scan, ::testing::Values(16, 5, 64));

TEST(GpuMamba1Conv, MatchesCpuAcrossSequences) {
  RS_SKIP_WITHOUT_GPU();
  const Seqs seqs = MakeSeqs({3, 1, 20});
  const int64_t ldx = 2 * kE;  // conv reads the x half of xz, as the model does
  const std::vector<float> x = Random(seqs.M() * ldx, -2, 2, 21), w = Random(kK * kE, -1, 1, 22),
                           bias = Random(kE, -0.5f, 0.5f, 23);
  const size_t slot = (kK - 1) * kE;
  const std::vector<float> st0 = Random(seqs.n() * slot, -1, 1, 24);
  std::vector<float> out_cpu(seqs.M() * kE), st_cpu = st0;
  for (int s = 0; s < seqs.n(); ++s) {
    const int64_t r = seqs.starts[s];
    kernels::CausalConv1dSilu(&x[r * ldx], seqs.T(s), ldx, kE, kK, w.data(), bias.data(), &st_cpu[s * slot],
                              &out_cpu[r * kE], kE, 0, kE);
  }
  Dev<float> xd(x), wd(w), bd(bias);
  Dev<int32_t> starts(seqs.starts);
  Dev<float> out(std::vector<float>(seqs.M() * kE, NAN));
  Slots slots(seqs.n(), slot, st0);
  CUDA_OK(Mamba1ConvSilu(xd.get(), seqs.M(), ldx, kE, kK, wd.get(), bd.get(), starts.get(), seqs.n(), slots.dev(),
                         0, out.get(), kE, nullptr));
  EXPECT_LE(RelErr(out.Host(), out_cpu), 1e-5);
  EXPECT_EQ(RelErr(slots.Host(), st_cpu), 0.0);  // the state is a copy of inputs
}

}  // namespace
}  // namespace rs::kernels::cuda
