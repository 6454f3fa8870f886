#include "kernels/cuda/cuda_probe.h"

#include <cuda_runtime.h>

namespace rs::kernels::cuda {

int UsableDeviceCount() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();  // clear the sticky error
    return 0;
  }
  return n;
}

}  // namespace rs::kernels::cuda
