#include "engine/util/hash.h"

#include <cstring>

namespace rs {
namespace {

constexpr uint64_t kMul1 = 0x9E3779B97F4A7C15ull;
constexpr uint64_t kMul2 = 0xC2B2AE3D27D4EB4Full;

inline uint64_t Rotl(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }

inline uint64_t Avalanche(uint64_t h) {
  h ^= h >> 33;
  h *= 0xFF51AFD7ED558CCDull;
  h ^= h >> 33;
  h *= 0xC4CEB9FE1A85EC53ull;
  h ^= h >> 33;
  return h;
}

}  // namespace

uint64_t Hash64(const void* data, size_t n, uint64_t seed) {
  const auto* p = static_cast<const unsigned char*>(data);
  // Four independent lanes so the loop is not one long dependency chain.
  uint64_t h[4] = {seed ^ kMul1, seed ^ kMul2, Rotl(seed, 17) ^ kMul1, Rotl(seed, 31) ^ kMul2};
  size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    for (int l = 0; l < 4; ++l) {
      uint64_t w;
      std::memcpy(&w, p + i + 8 * l, 8);
      h[l] = Rotl(h[l] ^ (w * kMul2), 31) * kMul1;
    }
  }
  uint64_t acc = Avalanche(h[0]) ^ Rotl(Avalanche(h[1]), 13) ^ Rotl(Avalanche(h[2]), 29) ^
                 Rotl(Avalanche(h[3]), 43);
  for (; i < n; i += 8) {
    uint64_t w = 0;
    std::memcpy(&w, p + i, n - i < 8 ? n - i : 8);
    acc = Rotl(acc ^ (w * kMul2), 27) * kMul1 + 0x52DCE729;
  }
  return Avalanche(acc ^ static_cast<uint64_t>(n));
}

std::string HexU64(uint64_t v) {
  static const char kDigits[] = "0123456789abcdef";
  std::string s(16, '0');
  for (int i = 15; i >= 0; --i) {
    s[static_cast<size_t>(i)] = kDigits[v & 15];
    v >>= 4;
  }
  return s;
}

}  // namespace rs
