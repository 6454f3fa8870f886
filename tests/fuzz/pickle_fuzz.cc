// libFuzzer target: the restricted pickle interpreter alone (data.pkl bytes),
// which mutations of a whole zip reach only slowly.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "engine/io/pickle.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto dict = rs::engine::io::ParseTorchPickle(
      std::string_view(reinterpret_cast<const char*>(data), size), "<fuzz>");
  if (!dict.ok()) return 0;
  for (const auto& t : dict->tensors) {
    if (t.storage >= dict->storages.size() || t.shape.size() != t.stride.size()) std::abort();
  }
  return 0;
}
