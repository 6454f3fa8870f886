// Hash64: a fast, non-cryptographic 64-bit hash for checksums of serialized
// states and model fingerprints. Stable across platforms and releases (it is
// written into files): 8-byte little-endian words mixed with multiply/rotate,
// the tail bytes zero-padded, the length folded in, then a final avalanche.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace rs {

uint64_t Hash64(const void* data, size_t n, uint64_t seed = 0);
// 16 lowercase hex digits.
std::string HexU64(uint64_t v);

}  // namespace rs
