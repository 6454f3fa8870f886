#include "kernels/cpu/rmsnorm.h"

#include <cmath>

#include "kernels/cpu/cpu_level.h"
#include "kernels/cpu/rmsnorm_internal.h"

namespace rs::kernels {
namespace {

// Scalar level: 8 lanes of plain multiply-add, then the fixed tree.
void RmsNormScalar(const float* x, int64_t M, int64_t C, int64_t ldx, const float* w, float eps,
                   float* y, int64_t ldy) {
  for (int64_t m = 0; m < M; ++m) {
    const float* xr = x + m * ldx;
    float* yr = y + m * ldy;
    float acc[8] = {};
    int64_t c = 0;
    for (; c + 8 <= C; c += 8) {
      for (int j = 0; j < 8; ++j) acc[j] += xr[c + j] * xr[c + j];
    }
    for (int j = 0; c + j < C; ++j) acc[j] += xr[c + j] * xr[c + j];
    float s4[4];
    for (int i = 0; i < 4; ++i) s4[i] = acc[i] + acc[i + 4];
    const float sum = (s4[0] + s4[1]) + (s4[2] + s4[3]);
    const float r = 1.0f / std::sqrt(sum / static_cast<float>(C) + eps);
    for (c = 0; c < C; ++c) yr[c] = (xr[c] * r) * w[c];
  }
}

}  // namespace

void RmsNorm(const float* x, int64_t M, int64_t C, int64_t ldx, const float* w, float eps, float* y,
             int64_t ldy) {
  if (M <= 0 || C <= 0) return;
  switch (GetCpuLevel()) {
    case CpuLevel::kAvx512:
      return internal::RmsNormAvx512(x, M, C, ldx, w, eps, y, ldy);
    case CpuLevel::kAvx2:
      return internal::RmsNormAvx2(x, M, C, ldx, w, eps, y, ldy);
    case CpuLevel::kScalar:
      break;
  }
  RmsNormScalar(x, M, C, ldx, w, eps, y, ldy);
}

}  // namespace rs::kernels
