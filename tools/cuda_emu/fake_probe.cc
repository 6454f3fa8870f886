// kernels/cuda/cuda_probe.cu for tools/cuda_emu: one emulated device (so the
// GPU tests run instead of skipping), no bandwidth figure. At exit it prints
// how many captured graphs were replayed and how many API calls a real
// capture would have refused (each of those also returned an error).
#include <cuda_runtime.h>

#include <cstdio>

#include "kernels/cuda/cuda_probe.h"

namespace rs::kernels::cuda {

int UsableDeviceCount() { return 1; }

double DeviceCopyBandwidth() { return 0; }

}  // namespace rs::kernels::cuda

namespace {

struct EmuReport {
  ~EmuReport() {
    std::fprintf(stderr, "emu: %ld graph launches, %d capture violations\n", emu::graph_launches,
                 emu::capture_violations);
  }
} emu_report;

}  // namespace
