// Run-time probe for a usable CUDA device. Any CUDA error at start-up means
// "no GPU": callers fall back to the CPU backend.
#pragma once

namespace rs::kernels::cuda {

// Number of usable CUDA devices; 0 on any error (no driver, no device).
int UsableDeviceCount();

}  // namespace rs::kernels::cuda

namespace rs::kernels::cuda {

// Device-to-device copy bandwidth of device 0 in bytes/s, counting bytes read
// plus bytes written (median of 5 copies of 1 GiB); 0 on any error.
double DeviceCopyBandwidth();

}  // namespace rs::kernels::cuda
