// DType and Tensor: a typed, shaped, non-owning view of weight bytes.
//
// Tensors returned by a checkpoint reader point into memory owned by that
// reader (a memory map or a buffer); they stay valid while it lives.
// Shapes are row-major and contiguous (readers make non-contiguous tensors
// contiguous). Thread-safety: immutable views; safe to share.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

namespace rs {

enum class DType : uint8_t { kF32, kF16, kBF16, kF64, kI64, kI32, kI16, kI8, kU8, kBool };

// Bytes per element.
size_t DTypeSize(DType t);
// "F32", "F16", "BF16", ... (safetensors spelling).
const char* DTypeName(DType t);

struct Tensor {
  std::string name;
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;
  const void* data = nullptr;  // contiguous, row-major
  size_t nbytes = 0;           // == numel() * DTypeSize(dtype)

  int64_t numel() const {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    return n;
  }
  int64_t dim(int i) const { return shape[static_cast<size_t>(i)]; }
  int rank() const { return static_cast<int>(shape.size()); }
  // "[768, 1536]"
  std::string ShapeString() const;
};

// Scalar conversions (round-to-nearest-even for narrowing).
inline float BF16ToF32(uint16_t h) {
  uint32_t u = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
inline uint16_t F32ToBF16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x40);  // NaN
  u += 0x7fffu + ((u >> 16) & 1u);
  return static_cast<uint16_t>(u >> 16);
}
float F16ToF32(uint16_t h);
uint16_t F32ToF16(float f);

// Converts `n` elements of `src` (dtype F32/F16/BF16/F64) to float.
// Returns false for other dtypes.
bool ConvertToF32(DType dtype, const void* src, size_t n, float* dst);

}  // namespace rs
