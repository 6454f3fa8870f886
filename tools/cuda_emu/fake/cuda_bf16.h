// <cuda_bf16.h> for tools/cuda_emu: the BF16 storage type only (what the
// kernels read as raw bits). Contract: 16 bits, the upper half of a float.
#pragma once
#include <cstdint>

struct __nv_bfloat16 {
  uint16_t x;
};
