// libFuzzer target: json::Parse on arbitrary text; whatever parses must dump
// to text that parses again to the same dump (a fixed point).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "engine/util/json.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto v = rs::json::Parse(std::string_view(reinterpret_cast<const char*>(data), size));
  if (!v.ok()) return 0;
  const std::string once = v->Dump();
  auto again = rs::json::Parse(once);
  if (!again.ok()) {
    std::fprintf(stderr, "Dump output does not parse: %s\n", again.status().ToString().c_str());
    std::abort();
  }
  if (again->Dump() != once) {
    std::fprintf(stderr, "Dump is not a fixed point\n");
    std::abort();
  }
  return 0;
}
