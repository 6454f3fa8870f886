// Shared by the fuzz targets: touches every byte of every tensor a store
// hands out (so AddressSanitizer sees any view outside its memory) and checks
// the store's invariants; aborts on a violation.
#pragma once

#include <cstdio>
#include <cstdlib>

#include "engine/io/tensor_store.h"

namespace rs::engine::io {

inline void CheckStore(const TensorStore& store) {
  volatile unsigned sum = 0;
  for (const Tensor& t : store.tensors()) {
    uint64_t numel = 1;
    for (int64_t d : t.shape) {
      if (d < 0) std::abort();
      numel *= static_cast<uint64_t>(d);
    }
    if (t.nbytes != numel * DTypeSize(t.dtype)) std::abort();
    if (reinterpret_cast<uintptr_t>(t.data) % DTypeSize(t.dtype) != 0) std::abort();
    if (store.Find(t.name) != &t) std::abort();
    const auto* p = static_cast<const unsigned char*>(t.data);
    for (size_t i = 0; i < t.nbytes; ++i) sum = sum + p[i];
  }
  (void)sum;
}

}  // namespace rs::engine::io
