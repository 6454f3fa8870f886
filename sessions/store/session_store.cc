#include "sessions/store/session_store.h"

namespace rs::sessions {

uint64_t SnapshotChecksum(const std::string& bytes) {
  // FNV-1a, 64-bit: offset basis and prime from the reference definition.
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : bytes) {
    h ^= c;
    h *= 0x100000001b3ull;
  }
  return h;
}

}  // namespace rs::sessions
