#include "kernels/cpu/cpu_level.h"

#include <atomic>
#include <cstdlib>
#include <cstring>

#include "kernels/cpu/gemm.h"

#if defined(__x86_64__)
#include <cpuid.h>
#endif

namespace rs::kernels {
namespace {

CpuLevel Detect() {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq")) {
    return CpuLevel::kAvx512;
  }
  // F16C through cpuid: clang 14's __builtin_cpu_supports does not know it.
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  const bool f16c = __get_cpuid(1, &eax, &ebx, &ecx, &edx) != 0 && (ecx & (1u << 29)) != 0;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && f16c) {
    return CpuLevel::kAvx2;
  }
#endif
  return CpuLevel::kScalar;
}

// Parses a level name; returns `fallback` for null or unknown names.
CpuLevel Parse(const char* name, CpuLevel fallback) {
  if (name == nullptr) return fallback;
  if (std::strcmp(name, "avx512") == 0) return CpuLevel::kAvx512;
  if (std::strcmp(name, "avx2") == 0) return CpuLevel::kAvx2;
  if (std::strcmp(name, "scalar") == 0) return CpuLevel::kScalar;
  return fallback;
}

CpuLevel Cap(CpuLevel want) {
  const CpuLevel have = DetectedCpuLevel();
  return static_cast<int>(want) < static_cast<int>(have) ? want : have;
}

CpuLevel EnvLevel() {
  static const CpuLevel level = Cap(Parse(std::getenv("RS_CPU_LEVEL"), DetectedCpuLevel()));
  return level;
}

std::atomic<int> g_override{-1};

// AMD family 1Ah (Zen 5) and later: see WeightStream in the header.
WeightStream DetectWeightStream() {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  if (__get_cpuid(0, &eax, &ebx, &ecx, &edx) == 0) return WeightStream::kPrefetch;
  char vendor[13] = {};
  std::memcpy(vendor, &ebx, 4);
  std::memcpy(vendor + 4, &edx, 4);
  std::memcpy(vendor + 8, &ecx, 4);
  if (std::strcmp(vendor, "AuthenticAMD") != 0 || __get_cpuid(1, &eax, &ebx, &ecx, &edx) == 0) {
    return WeightStream::kPrefetch;
  }
  const unsigned base = (eax >> 8) & 0xf;
  const unsigned family = base == 0xf ? base + ((eax >> 20) & 0xff) : base;
  if (family >= 0x1a) return WeightStream::kTouch;
#endif
  return WeightStream::kPrefetch;
}

WeightStream ParseStream(const char* name, WeightStream fallback) {
  if (name == nullptr) return fallback;
  if (std::strcmp(name, "prefetch") == 0) return WeightStream::kPrefetch;
  if (std::strcmp(name, "touch") == 0) return WeightStream::kTouch;
  return fallback;
}

WeightStream EnvWeightStream() {
  static const WeightStream mode = ParseStream(std::getenv("RS_GEMM_STREAM"), DetectWeightStream());
  return mode;
}

std::atomic<int> g_stream_override{-1};

}  // namespace

WeightStream GetWeightStream() {
  const int o = g_stream_override.load(std::memory_order_relaxed);
  return o >= 0 ? static_cast<WeightStream>(o) : EnvWeightStream();
}

WeightStream SetWeightStreamForTesting(const char* mode) {
  g_stream_override.store(
      mode == nullptr ? -1 : static_cast<int>(ParseStream(mode, EnvWeightStream())),
      std::memory_order_relaxed);
  return GetWeightStream();
}

const char* WeightStreamToString(WeightStream mode) {
  return mode == WeightStream::kTouch ? "touch" : "prefetch";
}

CpuLevel DetectedCpuLevel() {
  static const CpuLevel level = Detect();
  return level;
}

CpuLevel GetCpuLevel() {
  const int o = g_override.load(std::memory_order_relaxed);
  return o >= 0 ? static_cast<CpuLevel>(o) : EnvLevel();
}

CpuLevel SetCpuLevelForTesting(const char* level) {
  if (level == nullptr) {
    g_override.store(-1, std::memory_order_relaxed);
  } else {
    g_override.store(static_cast<int>(Cap(Parse(level, DetectedCpuLevel()))),
                     std::memory_order_relaxed);
  }
  return GetCpuLevel();
}

const char* CpuLevelToString(CpuLevel level) {
  switch (level) {
    case CpuLevel::kAvx512:
      return "avx512";
    case CpuLevel::kAvx2:
      return "avx2";
    case CpuLevel::kScalar:
      break;
  }
  return "scalar";
}

const char* CpuLevelName() { return CpuLevelToString(GetCpuLevel()); }

const char* GemmWeightStreamName() { return WeightStreamToString(GetWeightStream()); }

}  // namespace rs::kernels
