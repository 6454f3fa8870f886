// Internal to kernels/cpu: one table of the Mamba-2 ops (mamba2_ops.h) per
// dispatch level; mamba2_ops.cc picks the table for the CPU.
#pragma once

#include "kernels/cpu/mamba2_ops.h"

namespace rs::kernels::internal {

struct Mamba2Ops {
  decltype(&rs::kernels::SsdScan) ssd_scan;
  decltype(&rs::kernels::SsdChunked) ssd_chunked;
  decltype(&rs::kernels::GatedRmsNorm) gated_rms_norm;
};

namespace avx512 {
extern const Mamba2Ops kMamba2Ops;
}
namespace avx2 {
extern const Mamba2Ops kMamba2Ops;
}
namespace scalar {
extern const Mamba2Ops kMamba2Ops;
}

}  // namespace rs::kernels::internal
