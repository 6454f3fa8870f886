// libFuzzer target: ParseTorchZip (zip reader + pickle interpreter + tensor
// resolution) on arbitrary bytes.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "engine/io/tensor_store.h"
#include "tests/fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto store =
      rs::engine::io::ParseTorchZip(std::string_view(reinterpret_cast<const char*>(data), size));
  if (store.ok()) rs::engine::io::CheckStore(**store);
  return 0;
}
