// Internal to kernels/cpu: the GemmKMajor block written once against
// vec16.h, included by gemm_kmajor.cc (scalar), gemm_kmajor_avx2.cc and
// gemm_kmajor_avx512.cc, each defining RS_KMAJOR_LEVEL. In the FMA levels the
// multiply-add is contracted into an FMA (fp-contract=fast for this code
// only): deterministic for a given build, and the same in every call path.
#include "kernels/cpu/gemm_kmajor_internal.h"
#include "kernels/cpu/vec16.h"

#pragma GCC push_options
#pragma GCC optimize("fp-contract=fast")

namespace rs::kernels::internal::RS_KMAJOR_LEVEL {
namespace {

using vec16::V16;

// MB rows of x times NV full vectors of 16 outputs starting at n0.
template <int MB, int NV>
void Tile(const float* x, int64_t ldx, const float* w, int64_t K, int64_t N, int64_t n0,
          const float* bias, float* y, int64_t ldy) {
  V16 acc[MB][NV];
#pragma GCC unroll 4
  for (int i = 0; i < MB; ++i) {
#pragma GCC unroll 4
    for (int q = 0; q < NV; ++q) acc[i][q] = vec16::Splat(0.0f);
  }
  const float* wr = w + n0;
  for (int64_t k = 0; k < K; ++k, wr += N) {
    V16 wv[NV];
#pragma GCC unroll 4
    for (int q = 0; q < NV; ++q) wv[q] = vec16::Load(wr + 16 * q);
#pragma GCC unroll 4
    for (int i = 0; i < MB; ++i) {
      const V16 xb = vec16::Splat(x[i * ldx + k]);
#pragma GCC unroll 4
      for (int q = 0; q < NV; ++q) acc[i][q] = acc[i][q] + xb * wv[q];
    }
  }
#pragma GCC unroll 4
  for (int i = 0; i < MB; ++i) {
#pragma GCC unroll 4
    for (int q = 0; q < NV; ++q) {
      const V16 v = bias != nullptr ? acc[i][q] + vec16::Load(bias + n0 + 16 * q) : acc[i][q];
      vec16::Store(y + i * ldy + n0 + 16 * q, v);
    }
  }
}

// The last n1 - n0 < 16 outputs of MB rows (same arithmetic, zero padded).
template <int MB>
void TailTile(const float* x, int64_t ldx, const float* w, int64_t K, int64_t N, int64_t n0,
              int64_t n1, const float* bias, float* y, int64_t ldy) {
  const int64_t len = n1 - n0;
  V16 acc[MB];
  for (int i = 0; i < MB; ++i) acc[i] = vec16::Splat(0.0f);
  for (int64_t k = 0; k < K; ++k) {
    const V16 wv = vec16::LoadPartial(w + k * N + n0, len);
    for (int i = 0; i < MB; ++i) acc[i] = acc[i] + vec16::Splat(x[i * ldx + k]) * wv;
  }
  for (int i = 0; i < MB; ++i) {
    const V16 v = bias != nullptr ? acc[i] + vec16::LoadPartial(bias + n0, len) : acc[i];
    vec16::StorePartial(y + i * ldy + n0, v, len);
  }
}

template <int MB>
void Rows(const float* x, int64_t ldx, const float* w, int64_t K, int64_t N, int64_t n0, int64_t n1,
          const float* bias, float* y, int64_t ldy) {
  int64_t n = n0;
  for (; n + 64 <= n1; n += 64) Tile<MB, 4>(x, ldx, w, K, N, n, bias, y, ldy);
  for (; n + 16 <= n1; n += 16) Tile<MB, 1>(x, ldx, w, K, N, n, bias, y, ldy);
  if (n < n1) TailTile<MB>(x, ldx, w, K, N, n, n1, bias, y, ldy);
}

}  // namespace

void GemmKMajorBlock(const float* x, int64_t ldx, int64_t m0, int64_t m1, const float* w, int64_t K,
                     int64_t N, int64_t n0, int64_t n1, const float* bias, float* y, int64_t ldy) {
  int64_t m = m0;
  for (; m + 4 <= m1; m += 4) Rows<4>(x + m * ldx, ldx, w, K, N, n0, n1, bias, y + m * ldy, ldy);
  for (; m < m1; ++m) Rows<1>(x + m * ldx, ldx, w, K, N, n0, n1, bias, y + m * ldy, ldy);
}

}  // namespace rs::kernels::internal::RS_KMAJOR_LEVEL

#pragma GCC pop_options
