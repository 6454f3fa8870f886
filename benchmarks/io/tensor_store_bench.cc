// Checkpoint open cost: header/pickle parsing and validation dominate (the
// weights are mapped, not read), so the numbers are tensors per second.
//   BM_OpenSafetensors/N   a file of N small F32 tensors written by WriteSafetensors
//   BM_OpenTorchZip        the real RWKV-7 tiny checkpoint (399 tensors) in ../shared
//   BM_ParseTorchZipMemory the same from memory (adds one copy of the 3.3 MB file)
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "engine/io/tensor_store.h"

namespace rs::engine::io {
namespace {

const std::string kRwkv = std::string(RS_SHARED_DIR) + "/fixtures/models/rwkv7-tiny-834K/model.pth";

void BM_OpenSafetensors(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  std::vector<float> values(64, 0.5f);
  std::vector<Tensor> tensors(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) {
    Tensor& t = tensors[static_cast<size_t>(i)];
    t.name = "blocks." + std::to_string(i / 16) + ".weight_" + std::to_string(i % 16);
    t.shape = {8, 8};
    t.data = values.data();
    t.nbytes = 256;
  }
  const std::string path = "/tmp/rs_io_bench_" + std::to_string(::getpid()) + ".safetensors";
  if (!WriteSafetensors(path, tensors).ok()) {
    state.SkipWithError("cannot write the benchmark file");
    return;
  }
  for (auto _ : state) {
    auto store = OpenSafetensors(path);
    if (!store.ok()) state.SkipWithError(store.status().ToString().c_str());
    benchmark::DoNotOptimize(store);
  }
  std::remove(path.c_str());
  state.counters["tensors/s"] =
      benchmark::Counter(static_cast<double>(n), benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_OpenSafetensors)->Arg(100)->Arg(1000)->Arg(10000)->Unit(benchmark::kMicrosecond);

void BM_OpenTorchZip(benchmark::State& state) {
  size_t n = 0;
  for (auto _ : state) {
    auto store = OpenTorchZip(kRwkv);
    if (!store.ok()) {
      state.SkipWithError(store.status().ToString().c_str());
      return;
    }
    n = (*store)->tensors().size();
  }
  state.counters["tensors/s"] =
      benchmark::Counter(static_cast<double>(n), benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_OpenTorchZip)->Unit(benchmark::kMicrosecond);

void BM_ParseTorchZipMemory(benchmark::State& state) {
  std::ifstream f(kRwkv, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  const std::string bytes = ss.str();
  for (auto _ : state) {
    auto store = ParseTorchZip(bytes);
    if (!store.ok()) {
      state.SkipWithError(store.status().ToString().c_str());
      return;
    }
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * bytes.size()));
}
BENCHMARK(BM_ParseTorchZipMemory)->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace rs::engine::io
