// Helpers for the GPU tests: skipping without a device, device copies of
// host vectors, random inputs, relative error, and the per-sequence state
// slots of a step (as a state pool hands them to the kernels).
#pragma once

#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "gtest/gtest.h"
#include "kernels/cuda/cuda_probe.h"

namespace rs::kernels::cuda::testing {

#define RS_SKIP_WITHOUT_GPU()                                       \
  do {                                                              \
    if (::rs::kernels::cuda::UsableDeviceCount() == 0) GTEST_SKIP() << "no CUDA device"; \
  } while (0)

#define CUDA_OK(expr)                                               \
  do {                                                              \
    const cudaError_t rs_err_ = (expr);                             \
    ASSERT_EQ(rs_err_, cudaSuccess) << cudaGetErrorString(rs_err_); \
  } while (0)

// A device copy of a host vector (freed on destruction).
template <typename T>
class Dev {
 public:
  explicit Dev(const std::vector<T>& host) : n_(host.size()) {
    EXPECT_EQ(cudaMalloc(&p_, std::max<size_t>(n_, 1) * sizeof(T)), cudaSuccess);
    if (n_ > 0) {
      EXPECT_EQ(cudaMemcpy(p_, host.data(), n_ * sizeof(T), cudaMemcpyHostToDevice), cudaSuccess);
    }
  }
  ~Dev() { cudaFree(p_); }
  Dev(const Dev&) = delete;
  Dev& operator=(const Dev&) = delete;
  T* get() const { return p_; }
  std::vector<T> Host() const {
    std::vector<T> out(n_);
    EXPECT_EQ(cudaDeviceSynchronize(), cudaSuccess);
    if (n_ > 0) {
      EXPECT_EQ(cudaMemcpy(out.data(), p_, n_ * sizeof(T), cudaMemcpyDeviceToHost), cudaSuccess);
    }
    return out;
  }

 private:
  T* p_ = nullptr;
  size_t n_;
};

std::vector<float> Random(size_t n, float lo, float hi, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(n);
  for (float& x : v) x = d(rng);
  return v;
}

// max|a - b| / max(floor, max|b|).
double RelErr(const std::vector<float>& a, const std::vector<float>& b, double floor = 1.0) {
  EXPECT_EQ(a.size(), b.size());
  double diff = 0.0, ref = floor;
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) {
    diff = std::max(diff, std::abs(static_cast<double>(a[i]) - b[i]));
    ref = std::max(ref, std::abs(static_cast<double>(b[i])));
  }
  return diff / ref;
}

// A step of several sequences: lengths, row starts, and per-sequence state
// slots (separate device allocations, as a pool's slots are separate slices).
struct Seqs {
  std::vector<int32_t> starts;
  int n() const { return static_cast<int>(starts.size()) - 1; }
  int64_t M() const { return starts.back(); }
  int64_t T(int s) const { return starts[s + 1] - starts[s]; }
};

Seqs MakeSeqs(const std::vector<int>& lengths) {
  Seqs s;
  s.starts.push_back(0);
  for (int t : lengths) s.starts.push_back(s.starts.back() + t);
  return s;
}

// Per-sequence slots of `slot_floats` floats each, initialised from `init`
// (n_seq * slot_floats), plus the device array of their base pointers.
class Slots {
 public:
  Slots(int n_seq, size_t slot_floats, const std::vector<float>& init) : floats_(slot_floats) {
    for (int s = 0; s < n_seq; ++s) {
      float* p = nullptr;
      EXPECT_EQ(cudaMalloc(&p, slot_floats * sizeof(float)), cudaSuccess);
      EXPECT_EQ(cudaMemcpy(p, init.data() + s * slot_floats, slot_floats * sizeof(float),
                           cudaMemcpyHostToDevice),
                cudaSuccess);
      ptrs_.push_back(p);
    }
    EXPECT_EQ(cudaMalloc(&dev_ptrs_, std::max<size_t>(ptrs_.size(), 1) * sizeof(float*)),
              cudaSuccess);
    EXPECT_EQ(
        cudaMemcpy(dev_ptrs_, ptrs_.data(), ptrs_.size() * sizeof(float*), cudaMemcpyHostToDevice),
        cudaSuccess);
  }
  ~Slots() {
    for (float* p : ptrs_) cudaFree(p);
    cudaFree(dev_ptrs_);
  }
  float* const* dev() const { return dev_ptrs_; }
  std::vector<float> Host() const {
    EXPECT_EQ(cudaDeviceSynchronize(), cudaSuccess);
    std::vector<float> out(ptrs_.size() * floats_);
    for (size_t s = 0; s < ptrs_.size(); ++s) {
      EXPECT_EQ(cudaMemcpy(out.data() + s * floats_, ptrs_[s], floats_ * sizeof(float),
                           cudaMemcpyDeviceToHost),
                cudaSuccess);
    }
    return out;
  }

 private:
  size_t floats_;
  std::vector<float*> ptrs_;
  float** dev_ptrs_ = nullptr;
};

}  // namespace rs::kernels::cuda::testing
