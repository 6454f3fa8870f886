// GPU linear layers (kernels/cuda/gemm.h) against the CPU's kernels::Gemm on
// the same weights: the GEMV path (exact widening, fp32 activations) within
// 1e-5 relative for every dtype; the cuBLAS path within 1e-5 for F32 weights
// (no TF32) and 1e-2 for F16/BF16 (activations rounded to the weight type).
// Relative = max|gpu - cpu| / max(1, max|cpu|).
#include <cuda_runtime.h>

#include <cstring>
#include <string>
#include <vector>

#include "kernels/cpu/gemm.h"
#include "kernels/cuda/gemm.h"
#include "tests/gpu/gpu_test_util.h"

namespace rs::kernels::cuda {
namespace {

using namespace testing;  // NOLINT

uint16_t ToBf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return static_cast<uint16_t>((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

// IEEE half from float (round to nearest even; values here are small normals).
uint16_t ToF16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  const uint32_t sign = (u >> 16) & 0x8000u;
  int32_t exp = static_cast<int32_t>((u >> 23) & 0xff) - 127 + 15;
  uint32_t mant = u & 0x7fffffu;
  if (exp <= 0) return static_cast<uint16_t>(sign);
  uint32_t h = sign | (static_cast<uint32_t>(exp) << 10) | (mant >> 13);
  const uint32_t rest = mant & 0x1fffu;
  if (rest > 0x1000u || (rest == 0x1000u && (h & 1u))) ++h;
  return static_cast<uint16_t>(h);
}

struct Case {
  GpuWeightType type;
  int64_t n, k;
};

class GpuGemmTest : public ::testing::TestWithParam<Case> {};

TEST_P(GpuGemmTest, GemvAndBlasMatchCpuGemm) {
  RS_SKIP_WITHOUT_GPU();
  const Case c = GetParam();
  const std::vector<float> wf = Random(c.n * c.k, -1, 1, 5);
  std::vector<uint16_t> w16(wf.size());
  for (size_t i = 0; i < wf.size(); ++i) w16[i] = c.type == GpuWeightType::kBF16 ? ToBf16(wf[i]) : ToF16(wf[i]);
  const std::vector<float> bias = Random(c.n, -1, 1, 6);
  WeightMatrix cpu_w;
  cpu_w.n = c.n;
  cpu_w.k = c.k;
  cpu_w.type = c.type == GpuWeightType::kF32 ? WeightType::kF32
               : c.type == GpuWeightType::kBF16 ? WeightType::kBF16
                                                : WeightType::kF16;
  cpu_w.data = c.type == GpuWeightType::kF32 ? static_cast<const void*>(wf.data()) : w16.data();
  Dev<float> wdev_f(wf);
  Dev<uint16_t> wdev_h(w16);
  GpuWeight gw{c.type, c.type == GpuWeightType::kF32 ? static_cast<const void*>(wdev_f.get()) : wdev_h.get(), c.n,
               c.k};
  GpuGemm gemm;
  CUDA_OK(gemm.Init(nullptr));
  for (int64_t M : {1, 2, 3, 8, 9, 40}) {
    const int64_t ldx = c.k + 4;
    const std::vector<float> x = Random(M * ldx, -1, 1, 7 + static_cast<uint32_t>(M));
    std::vector<float> y_cpu(M * c.n);
    Gemm(x.data(), M, ldx, cpu_w, bias.data(), y_cpu.data(), c.n, nullptr);
    Dev<float> xd(x);
    if (M <= 8) {
      Dev<float> y(std::vector<float>(M * c.n, NAN));
      CUDA_OK(gemm.RunGemv(xd.get(), M, ldx, gw, nullptr, y.get(), c.n));  // bias: through Run below
      std::vector<float> y_nb(M * c.n);
      Gemm(x.data(), M, ldx, cpu_w, nullptr, y_nb.data(), c.n, nullptr);
      EXPECT_LE(RelErr(y.Host(), y_nb), 1e-5) << "gemv M=" << M;
    }
    Dev<float> bd(bias);
    Dev<float> y(std::vector<float>(M * c.n, NAN));
    CUDA_OK(gemm.RunBlas(xd.get(), M, ldx, gw, bd.get(), y.get(), c.n));
    EXPECT_LE(RelErr(y.Host(), y_cpu), c.type == GpuWeightType::kF32 ? 1e-5 : 1e-2) << "blas M=" << M;
    Dev<float> y2(std::vector<float>(M * c.n, NAN));
    CUDA_OK(gemm.Run(xd.get(), M, ldx, gw, bd.get(), y2.get(), c.n));
    EXPECT_LE(RelErr(y2.Host(), y_cpu), M <= kGemvMaxRows || c.type == GpuWeightType::kF32 ? 1e-5 : 1e-2)
        << "run M=" << M;
  }
}

INSTANTIATE_TEST_SUITE_P(Shapes, GpuGemmTest,
                         ::testing::Values(Case{GpuWeightType::kF32, 300, 256}, Case{GpuWeightType::kF32, 77, 203},
                                           Case{GpuWeightType::kBF16, 300, 256}, Case{GpuWeightType::kBF16, 77, 203},
                                           Case{GpuWeightType::kF16, 300, 256}, Case{GpuWeightType::kF16, 65, 1000}),
                         [](const auto& info) {
                           const Case& c = info.param;
                           const char* t = c.type == GpuWeightType::kF32 ? "F32"
                                           : c.type == GpuWeightType::kBF16 ? "BF16"
                                                                            : "F16";
                           return std::string(t) + "_" + std::to_string(c.n) + "x" + std::to_string(c.k);
                         });

}  // namespace
}  // namespace rs::kernels::cuda
