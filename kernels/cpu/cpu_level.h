// Internal: the CPU dispatch level shared by all kernels in kernels/cpu.
//
// The level is detected once (first use) from the CPU's features:
//   kAvx512: avx512f + avx512bw + avx512vl + avx512dq
//   kAvx2:   avx2 + fma + f16c
//   kScalar: anything else
// and can be lowered (never raised) with the environment variable
// RS_CPU_LEVEL=avx2|scalar, read once.
//
// Thread-safety: GetCpuLevel is safe from any thread. SetCpuLevelForTesting
// must not run concurrently with kernels.
#pragma once

namespace rs::kernels {

enum class CpuLevel { kScalar = 0, kAvx2 = 1, kAvx512 = 2 };

CpuLevel GetCpuLevel();

// The best level this CPU supports (ignores RS_CPU_LEVEL).
CpuLevel DetectedCpuLevel();

// Test-only: forces the level ("avx512", "avx2", "scalar"; capped at what the
// CPU supports), or restores the detected/env level when `level` is null.
// Returns the level now in effect.
CpuLevel SetCpuLevelForTesting(const char* level);

const char* CpuLevelToString(CpuLevel level);

}  // namespace rs::kernels
