// libFuzzer target: a safetensors file (seeded with tiny Mamba-1, RWKV-7 and
// RWKV-6 checkpoints, so mutations reach the model loaders with odd names,
// shapes and dtypes) through LoadModelFromStore; a model that loads must run
// a two-token step and a one-token step without reading outside its tensors.
// Errors are fine; crashes, sanitizer reports and leaks are not.
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "engine/io/tensor_store.h"
#include "engine/model.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace rs::engine;
  auto store = io::ParseSafetensors(std::string_view(reinterpret_cast<const char*>(data), size));
  if (!store.ok()) return 0;
  LoadOptions options;
  options.n_threads = 1;
  auto model = LoadModelFromStore(std::move(store).value(), nullptr, options);
  if (!model.ok()) return 0;
  Model& m = **model;
  // Keep each run small: the fuzzer may build a model with a large state.
  if (m.spec().state.bytes_per_sequence() > (size_t{64} << 20)) return 0;
  auto pool = m.NewStatePool(1);
  auto slot = pool->Acquire();
  if (!slot.ok()) return 0;
  const int32_t vocab = static_cast<int32_t>(m.spec().vocab_size);
  const std::vector<int32_t> two = {0, vocab - 1}, one = {vocab / 2};
  Logits logits;
  Batch batch;
  batch.seqs.push_back({*slot, two, true});
  if (!m.Forward(batch, *pool, &logits).ok()) __builtin_trap();  // a valid batch must run
  batch.seqs[0].tokens = one;
  if (!m.Forward(batch, *pool, &logits).ok()) __builtin_trap();
  return 0;
}
