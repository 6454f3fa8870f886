// A restricted pickle interpreter for the data.pkl of torch.save archives
// (internal to engine/io). It never calls Python or anything arbitrary: it
// understands the opcodes torch.save emits and an allow-list of globals, and
// returns the tensors' descriptions; torch_zip.cc resolves their storages.
// The supported subset and the state-dict rules are listed in
// engine/io/tensor_store.h.
//
// Limits (DATA_LOSS beyond them): 2^22 objects, stack depth 2^20, 2^16
// open MARKs, tensor rank 64; every length is checked against the buffer.
//
// Thread-safety: a pure function.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "engine/tensor.h"
#include "engine/util/status.h"

namespace rs::engine::io {

// A storage named by a persistent id ('storage', torch.XStorage, key,
// location, numel): bytes `<prefix>/data/<key>` of numel elements of dtype.
struct PickledStorage {
  std::string key;
  DType dtype = DType::kF32;
  uint64_t numel = 0;
};

// _rebuild_tensor_v2(storage, storage_offset, size, stride, ...), named by
// its state-dict key. Sizes and strides are non-negative and of equal rank.
struct PickledTensor {
  std::string name;
  size_t storage = 0;           // index into PickledStateDict::storages
  uint64_t storage_offset = 0;  // in elements
  std::vector<int64_t> shape;
  std::vector<int64_t> stride;
};

struct PickledStateDict {
  std::vector<PickledStorage> storages;  // each key once
  std::vector<PickledTensor> tensors;    // in dict order
};

// Runs `pkl` and extracts the state dict. Messages name `file`.
// Errors: UNIMPLEMENTED for an unsupported opcode ("pickle opcode 0x.. at
// offset N not supported"), a global off the allow-list (named) or a call we
// do not model; DATA_LOSS for truncation, stack underflow, a missing memo
// entry, limits, or a result that is not a dict.
StatusOr<PickledStateDict> ParseTorchPickle(std::string_view pkl, const std::string& file);

}  // namespace rs::engine::io
