// Mamba-2's GPU kernels against the CPU ones (kernels/cpu/mamba2_ops.h,
// mamba1_ops.h) on random inputs: the SSD recurrence over several sequences
// of different lengths in one call, each with its own state slot (1e-4
// relative: the CPU and GPU sum each y over N in different orders, and the
// state carries rounding from token to token), and a chunk equals its tokens
// fed one call at a time (bitwise, on the GPU); the chunked SSD form against
// the CPU's recurrence and chunked form (1e-4, outputs and final states),
// alone and splitting a step with the recurrence; the gated RMSNorm, with 1, 2
// and 3 groups, in place and not (1e-5 relative); Mamba-1's causal conv on
// Mamba-2's xBC layout (1e-5; the state bitwise).
// Relative: max|gpu - cpu| / max(1, max|cpu|).
#include <cuda_runtime.h>

#include <cmath>
#include <iostream>
#include <limits>
#include <ostream>
#include <string>
#include <vector>

#include "kernels/cpu/mamba1_ops.h"
#include "kernels/cpu/mamba2_ops.h"
#include "kernels/cuda/mamba1_ops.h"
#include "kernels/cuda/mamba2_ops.h"
#include "tests/gpu/gpu_test_util.h"

namespace rs::kernels::cuda {
namespace {

using namespace testing;  // NOLINT

struct ScanShape {
  int64_t H, P, G, N;
  float dt_min, dt_max;  // dt_max may be +inf
};

std::string Name(const ScanShape& s) {
  std::string name = "H";
  name += std::to_string(s.H);
  name += "_P" + std::to_string(s.P);
  name += "_G" + std::to_string(s.G);
  name += "_N" + std::to_string(s.N);
  if (!std::isinf(s.dt_max)) name += "_dtmax";
  return name;
}

// gtest prints the parameter with this (test names stay short).
void PrintTo(const ScanShape& s, std::ostream* os) { *os << Name(s); }

// A step's rows as the model lays them out: xbc (M, Cx) = x | B | C and the
// raw dt in its own (M, ldd) array at a column offset, as in zxbcdt.
struct ScanInputs {
  int64_t M, E, Cx, ldd, dt_col;
  std::vector<float> xbc, dt, dt_bias, A, D;
};

ScanInputs MakeScan(const ScanShape& s, int64_t M, uint32_t seed) {
  ScanInputs in;
  in.M = M;
  in.E = s.H * s.P;
  in.Cx = in.E + 2 * s.G * s.N;
  in.dt_col = 5;
  in.ldd = s.H + 9;
  in.xbc = Random(M * in.Cx, -1, 1, seed);
  in.dt = Random(M * in.ldd, -6, 3, seed + 1);  // softplus over both regimes; some clamped
  in.dt_bias = Random(s.H, -2, 0, seed + 2);
  in.A = Random(s.H, -8, -0.1f, seed + 3);
  in.D = Random(in.E, -1, 1, seed + 4);  // per channel, as the model expands it
  return in;
}

// The shape's dimensions and dt limits (the per-head vectors are set per use).
SsdParams DimsOf(const ScanShape& shape) {
  SsdParams p;
  p.H = shape.H;
  p.P = shape.P;
  p.G = shape.G;
  p.N = shape.N;
  p.dt_min = shape.dt_min;
  p.dt_max = shape.dt_max;
  return p;
}

// The CPU kernels' parameters: the shape's dimensions with the inputs'
// per-head vectors.
SsdParams CpuParams(const ScanShape& shape, const ScanInputs& in) {
  SsdParams c = DimsOf(shape);
  c.dt_bias = in.dt_bias.data();
  c.A = in.A.data();
  c.D = in.D.data();
  return c;
}

// Sequence s's rows of `in`, for the CPU kernels.
SsdInputs CpuInputs(const ScanShape& shape, const ScanInputs& in, const Seqs& seqs, int s) {
  const int64_t r = seqs.starts[s];
  SsdInputs si;
  si.T = seqs.T(s);
  si.x = &in.xbc[r * in.Cx];
  si.ldx = in.Cx;
  si.B = si.x + in.E;
  si.C = si.x + in.E + shape.G * shape.N;
  si.ldbc = in.Cx;
  si.dt = &in.dt[r * in.ldd + in.dt_col];
  si.ldd = in.ldd;
  return si;
}

class GpuMamba2Scan : public ::testing::TestWithParam<ScanShape> {};

TEST_P(GpuMamba2Scan, MatchesCpuAndChunkEqualsSteps) {
  RS_SKIP_WITHOUT_GPU();
  const ScanShape shape = GetParam();
  const Seqs seqs = MakeSeqs({1, 7, 40, 2});
  const ScanInputs in = MakeScan(shape, seqs.M(), 100 + static_cast<uint32_t>(shape.N + shape.P));
  const int64_t E = in.E, Cx = in.Cx, GN = shape.G * shape.N;
  const size_t slot = static_cast<size_t>(shape.H * shape.P * shape.N);
  // The state at ssm_off = 3 within each slot (a conv part would come first).
  const int64_t ssm_off = 3;
  const size_t slot_floats = slot + ssm_off;
  const std::vector<float> s0 = Random(seqs.n() * slot_floats, -1, 1, 9);

  const SsdParams p = DimsOf(shape);

  // CPU: each sequence on its own, all heads.
  std::vector<float> y_cpu(seqs.M() * E), s_cpu = s0;
  {
    const SsdParams c = CpuParams(shape, in);
    for (int s = 0; s < seqs.n(); ++s) {
      const int64_t r = seqs.starts[s];
      kernels::SsdScan(c, CpuInputs(shape, in, seqs, s), &s_cpu[s * slot_floats + ssm_off],
                       &y_cpu[r * E], E, 0, shape.H);
    }
  }

  Dev<float> xbc(in.xbc), dt(in.dt), dtb(in.dt_bias), A(in.A), D(in.D);
  Dev<int32_t> starts(seqs.starts);
  Dev<float> y(std::vector<float>(seqs.M() * E, NAN));
  Slots slots(seqs.n(), slot_floats, s0);
  SsdParams g = p;
  g.dt_bias = dtb.get();
  g.A = A.get();
  g.D = D.get();
  CUDA_OK(Mamba2Scan(g, xbc.get(), Cx, xbc.get() + E, xbc.get() + E + GN, Cx, dt.get() + in.dt_col,
                     in.ldd, starts.get(), seqs.n(), slots.dev(), ssm_off, y.get(), E, nullptr));
  const std::vector<float> y_gpu = y.Host(), s_gpu = slots.Host();
  EXPECT_LE(RelErr(y_gpu, y_cpu), 1e-4);
  EXPECT_LE(RelErr(s_gpu, s_cpu), 1e-4);
  for (int s = 0; s < seqs.n(); ++s) {  // the floats before ssm_off are not touched
    for (int64_t i = 0; i < ssm_off; ++i) {
      ASSERT_EQ(s_gpu[s * slot_floats + i], s0[s * slot_floats + i]) << s;
    }
  }

  // The longest sequence alone, one token per call, equals its chunk bitwise.
  const int s = 2;
  Slots one(1, slot_floats,
            std::vector<float>(s0.begin() + s * slot_floats, s0.begin() + (s + 1) * slot_floats));
  Dev<float> y1(std::vector<float>(seqs.M() * E, NAN));
  for (int64_t t = seqs.starts[s]; t < seqs.starts[s + 1]; ++t) {
    Dev<int32_t> st(std::vector<int32_t>{static_cast<int32_t>(t), static_cast<int32_t>(t + 1)});
    CUDA_OK(Mamba2Scan(g, xbc.get(), Cx, xbc.get() + E, xbc.get() + E + GN, Cx,
                       dt.get() + in.dt_col, in.ldd, st.get(), 1, one.dev(), ssm_off, y1.get(), E,
                       nullptr));
  }
  const std::vector<float> y1h = y1.Host(), s1 = one.Host();
  for (int64_t i = seqs.starts[s] * E; i < seqs.starts[s + 1] * E; ++i) {
    ASSERT_EQ(y1h[i], y_gpu[i]) << i;
  }
  for (size_t i = 0; i < slot_floats; ++i) ASSERT_EQ(s1[i], s_gpu[s * slot_floats + i]) << i;
}

constexpr float kInf = std::numeric_limits<float>::infinity();

// State sizes for every register width (N <= 32, 64, 128, 256; N not a
// multiple of 32), head dims that are not multiples of the 16 rows of a
// block, 1 to 4 groups, with and without a dt maximum.
INSTANTIATE_TEST_SUITE_P(
    Shapes, GpuMamba2Scan,
    ::testing::Values(ScanShape{6, 12, 2, 20, 0.002f, kInf}, ScanShape{4, 64, 1, 128, 0.0f, kInf},
                      ScanShape{8, 16, 4, 64, 0.0f, 0.5f}, ScanShape{3, 20, 3, 50, 0.001f, 2.0f},
                      ScanShape{2, 8, 1, 256, 0.0f, kInf}, ScanShape{2, 5, 2, 7, 0.0f, kInf}),
    [](const auto& info) { return Name(info.param); });

TEST(GpuMamba2ScanArgs, RejectsUnsupportedShapes) {
  RS_SKIP_WITHOUT_GPU();
  SsdParams p;
  p.H = 4;
  p.P = 8;
  p.G = 3;  // does not divide H
  p.N = 16;
  EXPECT_EQ(Mamba2Scan(p, nullptr, 0, nullptr, nullptr, 0, nullptr, 0, nullptr, 1, nullptr, 0,
                       nullptr, 0, nullptr),
            cudaErrorInvalidValue);
  p.G = 1;
  p.N = kMamba2MaxState + 1;
  EXPECT_EQ(Mamba2Scan(p, nullptr, 0, nullptr, nullptr, 0, nullptr, 0, nullptr, 1, nullptr, 0,
                       nullptr, 0, nullptr),
            cudaErrorInvalidValue);
  EXPECT_EQ(Mamba2ScanChunked(p, nullptr, 0, nullptr, nullptr, 0, nullptr, 0, nullptr, 1, 8, 4, 0,
                              nullptr, 0, nullptr, 0, nullptr, nullptr),
            cudaErrorInvalidValue);
  p.N = 16;  // chunk 0
  EXPECT_EQ(Mamba2ScanChunked(p, nullptr, 0, nullptr, nullptr, 0, nullptr, 0, nullptr, 1, 8, 0, 0,
                              nullptr, 0, nullptr, 0, nullptr, nullptr),
            cudaErrorInvalidValue);
  cudaGetLastError();
}

// The chunked SSD form (Mamba2ScanChunked) against the CPU recurrence
// (SsdScan) and the CPU's chunked form (SsdChunked, same chunk length):
// sequences of 130, 37, 1 and 64 tokens in one call, each from its own
// non-zero state; chunks below, equal to and above those lengths (and not
// dividing them); then a mixed step: the sequences of at least 40 tokens
// chunked, the others through Mamba2Scan (skip_from = 40), each written once.
struct ChunkedCase {
  ScanShape shape;
  int64_t chunk;
};

void PrintTo(const ChunkedCase& c, std::ostream* os) { *os << Name(c.shape) << "_L" << c.chunk; }

class GpuMamba2Chunked : public ::testing::TestWithParam<ChunkedCase> {};

TEST_P(GpuMamba2Chunked, MatchesCpuScanAndChunked) {
  RS_SKIP_WITHOUT_GPU();
  const ScanShape shape = GetParam().shape;
  const int64_t chunk = GetParam().chunk;
  const Seqs seqs = MakeSeqs({130, 37, 1, 64});
  const ScanInputs in = MakeScan(shape, seqs.M(), 200 + static_cast<uint32_t>(shape.N + shape.G));
  const int64_t E = in.E, Cx = in.Cx, GN = shape.G * shape.N;
  const size_t slot = static_cast<size_t>(shape.H * shape.P * shape.N);
  const int64_t ssm_off = 5;
  const size_t slot_floats = slot + ssm_off;
  const std::vector<float> s0 = Random(seqs.n() * slot_floats, -1, 1, 19);

  const SsdParams p = DimsOf(shape);

  // CPU: each sequence on its own, all heads, by the recurrence and chunked.
  std::vector<float> y_scan(seqs.M() * E), s_scan = s0, y_chunked(seqs.M() * E), s_chunked = s0;
  {
    const SsdParams c = CpuParams(shape, in);
    for (int s = 0; s < seqs.n(); ++s) {
      const int64_t r = seqs.starts[s];
      const SsdInputs si = CpuInputs(shape, in, seqs, s);
      const size_t st = s * slot_floats + ssm_off;
      kernels::SsdScan(c, si, &s_scan[st], &y_scan[r * E], E, 0, shape.H);
      kernels::SsdChunked(c, si, chunk, &s_chunked[st], &y_chunked[r * E], E, 0, shape.H);
    }
  }

  Dev<float> xbc(in.xbc), dt(in.dt), dtb(in.dt_bias), A(in.A), D(in.D);
  Dev<int32_t> starts(seqs.starts);
  Dev<char> scratch(
      std::vector<char>(Mamba2ChunkedScratchBytes(p, seqs.M(), seqs.n(), chunk), 0x7f));
  SsdParams g = p;
  g.dt_bias = dtb.get();
  g.A = A.get();
  g.D = D.get();
  const float* xd = xbc.get();
  const float* dtd = dt.get() + in.dt_col;
  {
    Dev<float> y(std::vector<float>(seqs.M() * E, NAN));
    Slots slots(seqs.n(), slot_floats, s0);
    CUDA_OK(Mamba2ScanChunked(g, xd, Cx, xd + E, xd + E + GN, Cx, dtd, in.ldd, starts.get(),
                              seqs.n(), seqs.M(), chunk, 0, slots.dev(), ssm_off, y.get(), E,
                              scratch.get(), nullptr));
    const std::vector<float> y_gpu = y.Host(), s_gpu = slots.Host();
    const double ey = RelErr(y_gpu, y_scan), es = RelErr(s_gpu, s_scan);
    EXPECT_LE(ey, 1e-4);
    EXPECT_LE(es, 1e-4);
    EXPECT_LE(RelErr(y_gpu, y_chunked), 1e-4);
    EXPECT_LE(RelErr(s_gpu, s_chunked), 1e-4);
    std::cout << "[ chunked  ] " << Name(shape) << " L" << chunk << ": y " << ey << ", state " << es
              << " (vs SsdScan); y " << RelErr(y_gpu, y_chunked) << ", state "
              << RelErr(s_gpu, s_chunked) << " (vs SsdChunked)\n";
    for (int s = 0; s < seqs.n(); ++s) {  // the floats before ssm_off are not touched
      for (int64_t i = 0; i < ssm_off; ++i) {
        ASSERT_EQ(s_gpu[s * slot_floats + i], s0[s * slot_floats + i]) << s;
      }
    }
  }
  {
    // Mixed: 130 and 64 chunked, 37 and 1 by the recurrence; every row once.
    const int64_t min_tokens = 40;
    Dev<float> y(std::vector<float>(seqs.M() * E, NAN));
    Slots slots(seqs.n(), slot_floats, s0);
    CUDA_OK(Mamba2ScanChunked(g, xd, Cx, xd + E, xd + E + GN, Cx, dtd, in.ldd, starts.get(),
                              seqs.n(), seqs.M(), chunk, min_tokens, slots.dev(), ssm_off, y.get(),
                              E, scratch.get(), nullptr));
    const std::vector<float> y_long = y.Host();
    for (int s = 0; s < seqs.n(); ++s) {  // the short ones are not written yet
      if (seqs.T(s) >= min_tokens) continue;
      for (int64_t i = seqs.starts[s] * E; i < seqs.starts[s + 1] * E; ++i) {
        ASSERT_TRUE(std::isnan(y_long[i])) << i;
      }
    }
    CUDA_OK(Mamba2Scan(g, xd, Cx, xd + E, xd + E + GN, Cx, dtd, in.ldd, starts.get(), seqs.n(),
                       slots.dev(), ssm_off, y.get(), E, nullptr, min_tokens));
    const std::vector<float> y_gpu = y.Host(), s_gpu = slots.Host();
    EXPECT_LE(RelErr(y_gpu, y_scan), 1e-4);
    EXPECT_LE(RelErr(s_gpu, s_scan), 1e-4);
    for (int s = 0; s < seqs.n(); ++s) {  // the long ones are not written twice
      if (seqs.T(s) < min_tokens) continue;
      for (int64_t i = seqs.starts[s] * E; i < seqs.starts[s + 1] * E; ++i) {
        ASSERT_EQ(y_gpu[i], y_long[i]) << i;
      }
    }
  }
}

// N in {20, 64, 128} (one or two 64-wide tiles, a partial one), G in {1, 2},
// head dims below 64 and above (two tiles), dt limits; chunk lengths 1, 16,
// 64, 100 (below, equal to and above the 130, 64 and 37 tokens) and 256.
INSTANTIATE_TEST_SUITE_P(Shapes, GpuMamba2Chunked,
                         ::testing::Values(ChunkedCase{{4, 24, 2, 20, 0.002f, kInf}, 16},
                                           ChunkedCase{{4, 24, 2, 20, 0.002f, kInf}, 100},
                                           ChunkedCase{{2, 64, 1, 64, 0.0f, 0.5f}, 1},
                                           ChunkedCase{{2, 64, 1, 64, 0.0f, 0.5f}, 64},
                                           ChunkedCase{{4, 16, 2, 64, 0.0f, kInf}, 37},
                                           ChunkedCase{{2, 70, 2, 128, 0.0f, kInf}, 100},
                                           ChunkedCase{{2, 70, 1, 128, 0.001f, 2.0f}, 256}),
                         [](const auto& info) {
                           return Name(info.param.shape) + "_L" + std::to_string(info.param.chunk);
                         });

class GpuMamba2GatedNorm : public ::testing::TestWithParam<int> {};

TEST_P(GpuMamba2GatedNorm, MatchesCpu) {
  RS_SKIP_WITHOUT_GPU();
  const int64_t G = GetParam(), E = 72 * 7, M = 37;  // groups of 504 / G channels
  const int64_t ldy = E + 3, ldz = 2 * E + 50, ldo = E + 8;
  const std::vector<float> yv = Random(M * ldy, -3, 3, 31), z = Random(M * ldz, -6, 6, 32),
                           w = Random(E, 0.5f, 1.5f, 33);
  const float eps = 1e-5f;
  std::vector<float> out_cpu(M * ldo, 0.0f);
  kernels::GatedRmsNorm(yv.data(), ldy, z.data(), ldz, M, E, G, w.data(), eps, out_cpu.data(), ldo);
  std::vector<float> inplace_cpu = yv;
  kernels::GatedRmsNorm(inplace_cpu.data(), ldy, z.data(), ldz, M, E, G, w.data(), eps,
                        inplace_cpu.data(), ldy);

  Dev<float> yd(yv), zd(z), wd(w), out(std::vector<float>(M * ldo, 0.0f));
  CUDA_OK(Mamba2GatedRmsNorm(yd.get(), ldy, zd.get(), ldz, M, E, G, wd.get(), eps, out.get(), ldo,
                             nullptr));
  EXPECT_LE(RelErr(out.Host(), out_cpu), 1e-5);
  // In place (the model's use): the padding between rows stays as it was.
  CUDA_OK(Mamba2GatedRmsNorm(yd.get(), ldy, zd.get(), ldz, M, E, G, wd.get(), eps, yd.get(), ldy,
                             nullptr));
  const std::vector<float> inplace = yd.Host();
  EXPECT_LE(RelErr(inplace, inplace_cpu), 1e-5);
  for (int64_t m = 0; m < M; ++m) {
    for (int64_t c = E; c < ldy; ++c) ASSERT_EQ(inplace[m * ldy + c], yv[m * ldy + c]);
  }
}

INSTANTIATE_TEST_SUITE_P(Groups, GpuMamba2GatedNorm, ::testing::Values(1, 2, 3));

// Mamba-1's conv kernel on Mamba-2's layout: xBC at column E of the in_proj
// output rows (stride W), Cx channels, state (K-1, Cx) at an offset.
TEST(GpuMamba2Conv, XbcLayoutMatchesCpu) {
  RS_SKIP_WITHOUT_GPU();
  constexpr int kK = 4;
  const int64_t E = 72, Cx = E + 2 * 2 * 20, W = 2 * E + 2 * 2 * 20 + 6;
  const Seqs seqs = MakeSeqs({3, 1, 20});
  const std::vector<float> zx = Random(seqs.M() * W, -2, 2, 41), w = Random(kK * Cx, -1, 1, 42),
                           bias = Random(Cx, -0.5f, 0.5f, 43);
  const int64_t conv_off = 5;
  const size_t slot = (kK - 1) * Cx + conv_off;
  const std::vector<float> st0 = Random(seqs.n() * slot, -1, 1, 44);
  std::vector<float> out_cpu(seqs.M() * Cx), st_cpu = st0;
  for (int s = 0; s < seqs.n(); ++s) {
    const int64_t r = seqs.starts[s];
    kernels::CausalConv1dSilu(&zx[r * W + E], seqs.T(s), W, Cx, kK, w.data(), bias.data(),
                              &st_cpu[s * slot + conv_off], &out_cpu[r * Cx], Cx, 0, Cx);
  }
  Dev<float> xd(zx), wd(w), bd(bias);
  Dev<int32_t> starts(seqs.starts);
  Dev<float> out(std::vector<float>(seqs.M() * Cx, NAN));
  Slots slots(seqs.n(), slot, st0);
  CUDA_OK(Mamba1ConvSilu(xd.get() + E, seqs.M(), W, Cx, kK, wd.get(), bd.get(), starts.get(),
                         seqs.n(), slots.dev(), conv_off, out.get(), Cx, nullptr));
  EXPECT_LE(RelErr(out.Host(), out_cpu), 1e-5);
  EXPECT_EQ(RelErr(slots.Host(), st_cpu), 0.0);
}

}  // namespace
}  // namespace rs::kernels::cuda
