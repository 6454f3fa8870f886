// Internal glue between the readers of engine/io (not a public API).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "engine/io/tensor_store.h"

namespace rs::engine::io {

// Parses the safetensors file `bytes` (owned by `store`) into `store`;
// messages name `file`.
Status ParseSafetensorsInto(std::string_view bytes, const std::string& file, TensorStore* store);

// Parses the torch.save zip archive `bytes` (owned by `store`) into `store`.
Status ParseTorchZipInto(std::string_view bytes, const std::string& file, TensorStore* store);

// `p` if it is aligned to `align` bytes, else a copy of its `nbytes` bytes in
// a new aligned buffer owned by `store`.
StatusOr<const void*> AlignedData(TensorStore* store, const void* p, size_t nbytes, size_t align);

}  // namespace rs::engine::io
