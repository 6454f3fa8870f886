// Bounds-checked little-endian reads and overflow-checked arithmetic for the
// parsers of untrusted bytes (internal to engine/io).
//
// Thread-safety: a ByteReader is a cursor over caller-owned bytes; one
// thread at a time.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

namespace rs::engine::io {

// Unsigned little-endian integer of sizeof(T) bytes at `p`.
template <typename T>
inline T LoadLE(const void* p) {
  const auto* b = static_cast<const uint8_t*>(p);
  T v = 0;
  for (size_t i = 0; i < sizeof(T); ++i) v |= static_cast<T>(static_cast<T>(b[i]) << (8 * i));
  return v;
}

// *out = a * b; false on overflow.
inline bool CheckedMul(uint64_t a, uint64_t b, uint64_t* out) {
  return !__builtin_mul_overflow(a, b, out);
}
// *out = a + b; false on overflow.
inline bool CheckedAdd(uint64_t a, uint64_t b, uint64_t* out) {
  return !__builtin_add_overflow(a, b, out);
}

// A cursor over `bytes`: every Read* fails (returns false, cursor unmoved)
// instead of reading past the end.
class ByteReader {
 public:
  explicit ByteReader(std::string_view bytes) : bytes_(bytes) {}

  size_t pos() const { return pos_; }
  size_t remaining() const { return bytes_.size() - pos_; }
  bool done() const { return pos_ == bytes_.size(); }

  template <typename T>
  bool ReadLE(T* out) {
    if (remaining() < sizeof(T)) return false;
    *out = LoadLE<T>(bytes_.data() + pos_);
    pos_ += sizeof(T);
    return true;
  }
  bool ReadBytes(size_t n, std::string_view* out) {
    if (remaining() < n) return false;
    *out = bytes_.substr(pos_, n);
    pos_ += n;
    return true;
  }
  // Bytes up to (not including) the next '\n', which is consumed.
  bool ReadLine(std::string_view* out) {
    size_t nl = bytes_.find('\n', pos_);
    if (nl == std::string_view::npos) return false;
    *out = bytes_.substr(pos_, nl - pos_);
    pos_ = nl + 1;
    return true;
  }

 private:
  std::string_view bytes_;
  size_t pos_ = 0;
};

}  // namespace rs::engine::io
