// <cuda_fp16.h> for tools/cuda_emu: the F16 storage type and its exact
// widening to float (the only F16 operation the kernels here use).
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>

struct __half {
  uint16_t x;
};

// IEEE binary16 -> binary32, exact (subnormals, infinities and NaNs included).
inline float __half2float(__half h) {
  const uint32_t sign = static_cast<uint32_t>(h.x & 0x8000u) << 16;
  const uint32_t exp = (h.x >> 10) & 0x1fu, man = h.x & 0x3ffu;
  float f;
  if (exp == 0) {
    f = std::ldexp(static_cast<float>(man), -24);  // zero or subnormal
    return sign ? -f : f;
  }
  const uint32_t bits =
      sign | (exp == 0x1f ? 0x7f800000u | (man << 13) : ((exp + 112) << 23) | (man << 13));
  std::memcpy(&f, &bits, 4);
  return f;
}
