#include "engine/state.h"

#include <algorithm>

#include <cstdlib>
#include <cstring>
#include <new>

#include "engine/util/hash.h"

namespace rs::engine {
namespace {

constexpr char kMagic[4] = {'R', 'S', 'S', 'T'};

void PutU32(std::string* out, uint32_t v) {
  char b[4];
  for (int i = 0; i < 4; ++i) b[i] = static_cast<char>((v >> (8 * i)) & 0xFF);
  out->append(b, 4);
}
void PutU64(std::string* out, uint64_t v) {
  char b[8];
  for (int i = 0; i < 8; ++i) b[i] = static_cast<char>((v >> (8 * i)) & 0xFF);
  out->append(b, 8);
}
uint64_t GetLE(std::string_view s, size_t pos, int n) {
  uint64_t v = 0;
  for (int i = 0; i < n; ++i) v |= static_cast<uint64_t>(static_cast<unsigned char>(s[pos + i])) << (8 * i);
  return v;
}

}  // namespace

size_t StateLayout::Add(std::string name, int layer, std::vector<int64_t> shape) {
  size_t n = 1;
  for (int64_t d : shape) n *= static_cast<size_t>(d);
  size_t offset = (floats_per_sequence + 15) / 16 * 16;
  parts.push_back(StatePart{std::move(name), layer, std::move(shape), offset, n});
  floats_per_sequence = offset + n;
  return offset;
}

std::string StateLayout::DebugString() const {
  std::string s;
  for (const StatePart& p : parts) {
    s += p.name + "[";
    for (size_t i = 0; i < p.shape.size(); ++i) {
      if (i > 0) s += ',';
      s += std::to_string(p.shape[i]);
    }
    s += "]@" + std::to_string(p.offset_floats) + " ";
  }
  s += "total=" + std::to_string(bytes_per_sequence()) + "B";
  return s;
}

std::string HostState::Serialize() const {
  std::string out;
  out.reserve(4 + 4 + 4 + model_fingerprint.size() + 8 + data.size() * 4 + 8);
  out.append(kMagic, 4);
  PutU32(&out, layout_version);
  PutU32(&out, static_cast<uint32_t>(model_fingerprint.size()));
  out += model_fingerprint;
  PutU64(&out, data.size() * sizeof(float));
  out.append(reinterpret_cast<const char*>(data.data()), data.size() * sizeof(float));
  PutU64(&out, Hash64(out.data(), out.size()));
  return out;
}

StatusOr<HostState> HostState::Parse(std::string_view bytes) {
  constexpr size_t kFixed = 4 + 4 + 4 + 8 + 8;
  if (bytes.size() < kFixed) return DataLossError("serialized state is truncated");
  if (std::memcmp(bytes.data(), kMagic, 4) != 0) return DataLossError("not a serialized state (bad magic)");
  const uint64_t stored = GetLE(bytes, bytes.size() - 8, 8);
  if (Hash64(bytes.data(), bytes.size() - 8) != stored) {
    return DataLossError("serialized state checksum mismatch");
  }
  HostState st;
  st.layout_version = static_cast<uint32_t>(GetLE(bytes, 4, 4));
  const uint64_t fp_len = GetLE(bytes, 8, 4);
  if (fp_len > bytes.size() - kFixed) return DataLossError("serialized state is truncated");
  st.model_fingerprint = std::string(bytes.substr(12, fp_len));
  const uint64_t n_bytes = GetLE(bytes, 12 + fp_len, 8);
  if (n_bytes != bytes.size() - kFixed - fp_len || n_bytes % sizeof(float) != 0) {
    return DataLossError("serialized state has a bad length");
  }
  if (st.layout_version != kStateLayoutVersion) {
    return FailedPreconditionError("state layout version " + std::to_string(st.layout_version) +
                                   " is not supported (this build uses " +
                                   std::to_string(kStateLayoutVersion) + ")");
  }
  st.data.resize(n_bytes / sizeof(float));
  if (n_bytes > 0) std::memcpy(st.data.data(), bytes.data() + 20 + fp_len, n_bytes);  // data() may be null
  return st;
}

namespace {

class HostStateMemory final : public StateMemory {
 public:
  float* Allocate(size_t n) override {
    const size_t bytes = (std::max<size_t>(n, 16) * sizeof(float) + 63) / 64 * 64;
    return static_cast<float*>(std::aligned_alloc(64, bytes));
  }
  void Free(float* p) override { std::free(p); }
  void Zero(float* dst, size_t n) override { std::memset(dst, 0, n * sizeof(float)); }
  void ToHost(const float* src, size_t n, float* host) override { std::memcpy(host, src, n * sizeof(float)); }
  void FromHost(const float* host, size_t n, float* dst) override { std::memcpy(dst, host, n * sizeof(float)); }
  void Copy(const float* src, size_t n, float* dst) override { std::memmove(dst, src, n * sizeof(float)); }
  const char* device() const override { return "cpu"; }
};

}  // namespace

std::unique_ptr<StateMemory> NewHostStateMemory() { return std::make_unique<HostStateMemory>(); }

StatePool::StatePool(const StateLayout& layout, std::string model_fingerprint, int n_slots,
                     std::unique_ptr<StateMemory> memory)
    : layout_(layout),
      fingerprint_(std::move(model_fingerprint)),
      n_slots_(n_slots),
      memory_(memory ? std::move(memory) : NewHostStateMemory()) {
  const size_t n = layout_.floats_per_sequence * static_cast<size_t>(n_slots_);
  data_ = memory_->Allocate(n);
  if (data_ == nullptr) throw std::bad_alloc();
  memory_->Zero(data_, n);
  in_use_.assign(static_cast<size_t>(n_slots_), false);
  for (int s = n_slots_ - 1; s >= 0; --s) free_.push_back(s);
}

StatePool::~StatePool() { memory_->Free(data_); }

StatusOr<int> StatePool::Acquire() {
  if (free_.empty()) {
    return ResourceExhaustedError("all " + std::to_string(n_slots_) + " state slots are in use");
  }
  int slot = free_.back();
  free_.pop_back();
  in_use_[static_cast<size_t>(slot)] = true;
  Reset(slot);
  return slot;
}

void StatePool::Release(int slot) {
  if (slot < 0 || slot >= n_slots_ || !in_use_[static_cast<size_t>(slot)]) return;
  in_use_[static_cast<size_t>(slot)] = false;
  free_.push_back(slot);
}

bool StatePool::InUse(int slot) const {
  return slot >= 0 && slot < n_slots_ && in_use_[static_cast<size_t>(slot)];
}

void StatePool::Reset(int slot) { memory_->Zero(SlotData(slot), layout_.floats_per_sequence); }

HostState StatePool::Snapshot(int slot) const {
  HostState st;
  st.model_fingerprint = fingerprint_;
  st.layout_version = kStateLayoutVersion;
  st.data.resize(layout_.floats_per_sequence);
  memory_->ToHost(SlotData(slot), layout_.floats_per_sequence, st.data.data());
  return st;
}

Status StatePool::Restore(int slot, const HostState& state) {
  if (state.model_fingerprint != fingerprint_) {
    return FailedPreconditionError("state belongs to model " + state.model_fingerprint +
                                   ", not to this model " + fingerprint_);
  }
  if (state.layout_version != kStateLayoutVersion) {
    return FailedPreconditionError("state layout version mismatch");
  }
  if (state.data.size() != layout_.floats_per_sequence) {
    return FailedPreconditionError("state has " + std::to_string(state.data.size()) +
                                   " floats, this model's layout has " +
                                   std::to_string(layout_.floats_per_sequence));
  }
  memory_->FromHost(state.data.data(), layout_.floats_per_sequence, SlotData(slot));
  return OkStatus();
}

void StatePool::Copy(int from, int to) {
  if (from == to) return;
  memory_->Copy(SlotData(from), layout_.floats_per_sequence, SlotData(to));
}

float* StatePool::SlotData(int slot) {
  return data_ + static_cast<size_t>(slot) * layout_.floats_per_sequence;
}
const float* StatePool::SlotData(int slot) const {
  return data_ + static_cast<size_t>(slot) * layout_.floats_per_sequence;
}

}  // namespace rs::engine
