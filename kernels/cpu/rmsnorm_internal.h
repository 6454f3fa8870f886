// Internal to kernels/cpu: per-level RmsNorm implementations (see rmsnorm.h).
// Sum of squares: lane j sums c ≡ j mod L (L = 16 AVX-512, 8 AVX2/scalar) in
// increasing c, then the fixed tree of gemm_internal.h.
#pragma once

#include <cstdint>

namespace rs::kernels::internal {

void RmsNormAvx512(const float* x, int64_t M, int64_t C, int64_t ldx, const float* w, float eps,
                   float* y, int64_t ldy);
void RmsNormAvx2(const float* x, int64_t M, int64_t C, int64_t ldx, const float* w, float eps,
                 float* y, int64_t ldy);

}  // namespace rs::kernels::internal
