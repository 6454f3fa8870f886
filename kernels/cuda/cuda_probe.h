// Run-time probe for a usable CUDA device. Any CUDA error at start-up means
// "no GPU": callers fall back to the CPU backend.
#pragma once

namespace rs::kernels::cuda {

// Number of usable CUDA devices; 0 on any error (no driver, no device).
int UsableDeviceCount();

}  // namespace rs::kernels::cuda
