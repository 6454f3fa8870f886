// RMSNorm over the last dimension (Mamba, HF MambaRMSNorm semantics, fp32):
//   y[m, c] = x[m, c] / sqrt(mean_c(x[m, :]^2) + eps) * w[c]
// The reduction order depends only on C. x and y may alias.
#pragma once

#include <cstdint>

namespace rs::kernels {

void RmsNorm(const float* x, int64_t M, int64_t C, int64_t ldx, const float* w, float eps,
             float* y, int64_t ldy);

}  // namespace rs::kernels
