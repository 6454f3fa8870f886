// Internal to kernels/cpu: one table of the RWKV ops (rwkv_ops.h) per
// dispatch level; rwkv_ops.cc picks the table for the CPU.
#pragma once

#include "kernels/cpu/rwkv_ops.h"

namespace rs::kernels::internal {

struct RwkvOps {
  decltype(&rs::kernels::LayerNorm) layer_norm;
  decltype(&rs::kernels::TokenShiftMix) token_shift_mix;
  decltype(&rs::kernels::Activate) activate;
  decltype(&rs::kernels::Rwkv7Prepare) rwkv7_prepare;
  decltype(&rs::kernels::Wkv7) wkv7;
  decltype(&rs::kernels::Rwkv7Output) rwkv7_output;
  decltype(&rs::kernels::Rwkv6TokenShift) rwkv6_token_shift;
  decltype(&rs::kernels::Rwkv6Mix) rwkv6_mix;
  decltype(&rs::kernels::Rwkv6Decay) rwkv6_decay;
  decltype(&rs::kernels::Wkv6) wkv6;
  decltype(&rs::kernels::Rwkv6Output) rwkv6_output;
};

namespace avx512 {
extern const RwkvOps kOps;
}
namespace avx2 {
extern const RwkvOps kOps;
}
namespace scalar {
extern const RwkvOps kOps;
}

}  // namespace rs::kernels::internal
