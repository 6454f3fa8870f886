// The CUDA backend's engine side: a state pool in device memory, and the GPU
// models built from loaded CPU models (whose spec, state layout and
// fingerprint they keep, so states move between backends unchanged).
// Compiled only when the build has CUDA (RS_HAVE_CUDA).
#pragma once

#include <memory>

#include "engine/model.h"

namespace rs::engine {

// Device memory for a StatePool (cudaMalloc; copies synchronous).
std::unique_ptr<StateMemory> NewCudaStateMemory();

// A model that computes on the GPU, built from *cpu, which it takes over on
// success (the GPU model keeps its spec, and the checkpoint mapping lives
// with it); on an error *cpu is left as it was. UNIMPLEMENTED for an
// architecture without a CUDA model yet; UNAVAILABLE on any CUDA error.
StatusOr<std::unique_ptr<Model>> ToCuda(std::unique_ptr<Model>* cpu);

}  // namespace rs::engine
