// Mamba-1 conv/scan: dispatch and the scalar level (plain loops with libm's
// expf/log1pf; separate multiply and add).
#include "kernels/cpu/mamba1_ops.h"

#include <cmath>

#include "kernels/cpu/cpu_level.h"
#include "kernels/cpu/mamba1_ops_internal.h"

namespace rs::kernels {
namespace {

inline float SiluScalar(float v) { return v / (1.0f + std::exp(-v)); }
inline float SoftplusScalar(float v) { return v > 20.0f ? v : std::log1p(std::exp(v)); }

void CausalConv1dSiluScalar(const float* x, int64_t T, int64_t ldx, int64_t E, int K,
                            const float* w, const float* bias, float* state, float* out,
                            int64_t ldo, int64_t e0, int64_t e1) {
  for (int64_t e = e0; e < e1; ++e) {
    for (int64_t t = 0; t < T; ++t) {
      float acc = bias != nullptr ? bias[e] : 0.0f;
      for (int j = 0; j < K; ++j) {
        const int64_t i = t - (K - 1) + j;
        const float in = i >= 0 ? x[i * ldx + e] : state[(K - 1 + i) * E + e];
        acc += w[j * E + e] * in;
      }
      out[t * ldo + e] = SiluScalar(acc);
    }
    // New state row r holds input position T - (K-1) + r; rows are read
    // (row T + r of the old state) before they are overwritten.
    for (int r = 0; r < K - 1; ++r) {
      const int64_t p = T - (K - 1) + r;
      state[r * E + e] = p >= 0 ? x[p * ldx + e] : state[(T + r) * E + e];
    }
  }
}

void SelectiveScanScalar(const float* u, int64_t ldu, const float* dt, int64_t ldd,
                         const float* dt_bias, const float* A, const float* B, const float* C,
                         int64_t ldbc, const float* D, const float* z, int64_t ldz, int64_t T,
                         int64_t E, int64_t N, float* h, float* y, int64_t ldy, int64_t e0,
                         int64_t e1) {
  for (int64_t t = 0; t < T; ++t) {
    const float* Bt = B + t * ldbc;
    const float* Ct = C + t * ldbc;
    for (int64_t e = e0; e < e1; ++e) {
      const float delta = SoftplusScalar(dt[t * ldd + e] + dt_bias[e]);
      const float ue = u[t * ldu + e];
      const float du = delta * ue;
      float s = 0.0f;
      for (int64_t n = 0; n < N; ++n) {
        float& hv = h[n * E + e];
        const float dA = std::exp(delta * A[n * E + e]);
        hv = dA * hv + du * Bt[n];
        s += hv * Ct[n];
      }
      y[t * ldy + e] = (s + D[e] * ue) * SiluScalar(z[t * ldz + e]);
    }
  }
}

}  // namespace

void CausalConv1dSilu(const float* x, int64_t T, int64_t ldx, int64_t E, int K, const float* w,
                      const float* bias, float* state, float* out, int64_t ldo, int64_t e0,
                      int64_t e1) {
  if (T <= 0 || e1 <= e0 || K <= 0) return;
  switch (GetCpuLevel()) {
    case CpuLevel::kAvx512:
      return internal::CausalConv1dSiluAvx512(x, T, ldx, E, K, w, bias, state, out, ldo, e0, e1);
    case CpuLevel::kAvx2:
      return internal::CausalConv1dSiluAvx2(x, T, ldx, E, K, w, bias, state, out, ldo, e0, e1);
    case CpuLevel::kScalar:
      break;
  }
  CausalConv1dSiluScalar(x, T, ldx, E, K, w, bias, state, out, ldo, e0, e1);
}

void SelectiveScan(const float* u, int64_t ldu, const float* dt, int64_t ldd, const float* dt_bias,
                   const float* A, const float* B, const float* C, int64_t ldbc, const float* D,
                   const float* z, int64_t ldz, int64_t T, int64_t E, int64_t N, float* h, float* y,
                   int64_t ldy, int64_t e0, int64_t e1) {
  if (T <= 0 || e1 <= e0 || N <= 0 || N > 64) return;
  switch (GetCpuLevel()) {
    case CpuLevel::kAvx512:
      return internal::SelectiveScanAvx512(u, ldu, dt, ldd, dt_bias, A, B, C, ldbc, D, z, ldz, T, E,
                                           N, h, y, ldy, e0, e1);
    case CpuLevel::kAvx2:
      return internal::SelectiveScanAvx2(u, ldu, dt, ldd, dt_bias, A, B, C, ldbc, D, z, ldz, T, E,
                                         N, h, y, ldy, e0, e1);
    case CpuLevel::kScalar:
      break;
  }
  SelectiveScanScalar(u, ldu, dt, ldd, dt_bias, A, B, C, ldbc, D, z, ldz, T, E, N, h, y, ldy, e0,
                      e1);
}

}  // namespace rs::kernels
