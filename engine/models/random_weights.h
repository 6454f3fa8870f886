// Internal to engine/models: the seeded generator and tensor builder behind
// the random-weight checkpoint writers (random_model.h). Values are a pure
// function of (seed, stream, index), so files are byte-identical everywhere.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "engine/tensor.h"

namespace rs::engine::random_weights {

// Counter-based uniform generator: value i of stream `stream` for `seed`.
class Uniform {
 public:
  Uniform(uint64_t seed, uint64_t stream)
      : state_(seed * 0x9E3779B97F4A7C15ull ^ (stream + 1) * 0xD1B54A32D192ED03ull) {}
  // Uniform in [-1, 1) with 24 bits: exact and identical everywhere.
  float Next() {
    uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return static_cast<float>(static_cast<int32_t>(z >> 40) - (1 << 23)) /
           static_cast<float>(1 << 23);
  }

 private:
  uint64_t state_;
};

// Collects named tensors in one dtype; each UniformValues() call draws from
// the next stream.
struct Builder {
  DType dtype = DType::kF32;
  uint64_t seed = 0;
  uint64_t stream = 0;
  std::vector<std::vector<unsigned char>> buffers;
  std::vector<Tensor> tensors;

  void Add(const std::string& name, std::vector<int64_t> shape, const std::vector<float>& values) {
    Tensor t;
    t.name = name;
    t.dtype = dtype;
    t.shape = std::move(shape);
    const size_t n = values.size();
    std::vector<unsigned char> buf(n * DTypeSize(dtype));
    for (size_t i = 0; i < n; ++i) {
      if (dtype == DType::kF32) {
        std::memcpy(&buf[i * 4], &values[i], 4);
      } else {
        uint16_t h = dtype == DType::kBF16 ? F32ToBF16(values[i]) : F32ToF16(values[i]);
        std::memcpy(&buf[i * 2], &h, 2);
      }
    }
    buffers.push_back(std::move(buf));
    t.data = buffers.back().data();
    t.nbytes = buffers.back().size();
    tensors.push_back(std::move(t));
  }

  std::vector<float> UniformValues(size_t n, float bound) {
    Uniform u(seed, stream++);
    std::vector<float> v(n);
    for (float& x : v) x = u.Next() * bound;
    return v;
  }
};

}  // namespace rs::engine::random_weights
