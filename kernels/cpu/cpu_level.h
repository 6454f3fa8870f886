// Internal: the CPU dispatch level shared by all kernels in kernels/cpu.
//
// The level is detected once (first use) from the CPU's features:
//   kAvx512: avx512f + avx512bw + avx512vl + avx512dq
//   kAvx2:   avx2 + fma + f16c
//   kScalar: anything else
// and can be lowered (never raised) with the environment variable
// RS_CPU_LEVEL=avx2|scalar, read once.
//
// Thread-safety: GetCpuLevel and GetWeightStream are safe from any thread.
// The *ForTesting setters must not run concurrently with kernels.
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

// How the AVX-512 GEMM keeps DRAM-resident weights flowing when few x rows
// share each weight panel (batched decode, M = 8..64), where a panel's first
// pass waits on DRAM and the passes after it compute from cache:
//   kPrefetch: software prefetches of the panel two ahead, spread over the
//              k loop (AMD Zen 4: an RWKV-7 0.1B step's GEMMs at M = 16,
//              33.5-35.4 -> 27.5-29.1 ms);
//   kTouch:    for F32 weights and 8..64 rows, no software prefetches; the
//              panel is first read by a tight load loop, which the hardware
//              prefetcher streams at full rate (AMD Zen 5, where those
//              prefetches gained nothing: the same GEMMs 21.6-23.4 ->
//              20.3-21.0 ms; RWKV-7 F32 decode +5-10 % at 16 sequences,
//              +12-16 % at 8; docs/perf.md). Elsewhere it keeps the
//              prefetches.
// Chosen once from the CPU (kTouch on AMD family 1Ah and later, kPrefetch
// elsewhere); RS_GEMM_STREAM=prefetch|touch overrides it. Neither changes
// any result.
enum class WeightStream { kPrefetch = 0, kTouch = 1 };

WeightStream GetWeightStream();

// Test-only: forces the mode ("prefetch" or "touch"), or restores the
// detected/env mode when `mode` is null. Returns the mode now in effect.
WeightStream SetWeightStreamForTesting(const char* mode);

const char* WeightStreamToString(WeightStream mode);

}  // namespace rs::kernels
