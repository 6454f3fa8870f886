// Mamba-2 ops: the scalar level's copy of mamba2_ops_impl.h and the dispatch.
#define RS_MAMBA2_LEVEL scalar
#include "kernels/cpu/cpu_level.h"
#include "kernels/cpu/mamba2_ops_impl.h"

namespace rs::kernels {
namespace {

const internal::Mamba2Ops& Ops() {
  switch (GetCpuLevel()) {
    case CpuLevel::kAvx512:
      return internal::avx512::kMamba2Ops;
    case CpuLevel::kAvx2:
      return internal::avx2::kMamba2Ops;
    case CpuLevel::kScalar:
      break;
  }
  return internal::scalar::kMamba2Ops;
}

}  // namespace

void SsdScan(const SsdParams& p, const SsdInputs& in, float* S, float* y, int64_t ldy, int64_t h0,
             int64_t h1) {
  if (in.T <= 0 || h1 <= h0) return;
  Ops().ssd_scan(p, in, S, y, ldy, h0, h1);
}

void SsdChunked(const SsdParams& p, const SsdInputs& in, int64_t chunk, float* S, float* y,
                int64_t ldy, int64_t h0, int64_t h1) {
  if (in.T <= 0 || h1 <= h0 || chunk < 1) return;
  Ops().ssd_chunked(p, in, chunk, S, y, ldy, h0, h1);
}

void GatedRmsNorm(const float* y, int64_t ldy, const float* z, int64_t ldz, int64_t M, int64_t E,
                  int64_t G, const float* w, float eps, float* out, int64_t ldo) {
  if (M <= 0 || E <= 0 || G <= 0) return;
  Ops().gated_rms_norm(y, ldy, z, ldz, M, E, G, w, eps, out, ldo);
}

}  // namespace rs::kernels
