// Per-sequence recurrent state: its layout, a pool of fixed-size slots, and
// host snapshots that can be serialized (swap, session store, migration).
//
// Every sequence of a model carries the same fixed-size state (fp32), whatever
// its length. A StateLayout lists the parts (per layer: conv state, SSM state,
// token-shift vectors, WKV matrices, ...) with their offsets; a StatePool holds
// N slots of layout.bytes_per_sequence each in one allocation; Forward() takes
// slot ids, so states are never copied per step.
//
// Thread-safety: StatePool is NOT thread-safe; the engine thread owns it.
// HostState is a value type.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "engine/util/status.h"

namespace rs::engine {

// Bumped whenever the meaning of the bytes of any architecture's state changes.
inline constexpr uint32_t kStateLayoutVersion = 1;

struct StatePart {
  std::string name;            // e.g. "layers.3.conv", "layers.3.ssm"
  int layer = -1;
  std::vector<int64_t> shape;  // fp32 elements, row-major
  size_t offset_floats = 0;    // from the start of a sequence's state
  size_t n_floats = 0;
};

struct StateLayout {
  std::vector<StatePart> parts;
  size_t floats_per_sequence = 0;
  size_t bytes_per_sequence() const { return floats_per_sequence * sizeof(float); }

  // Appends a part after the existing ones; returns its offset in floats.
  // Offsets are rounded up to 16 floats (64 bytes) so every part is aligned.
  size_t Add(std::string name, int layer, std::vector<int64_t> shape);
  std::string DebugString() const;
};

// A copy of one sequence's state in host memory, tagged with the model it
// belongs to. Serialize() produces a self-checking byte string:
//   magic "RSST" | u32 layout version | u32 fingerprint length | fingerprint |
//   u64 n_bytes | state bytes | u64 checksum (FNV-1a 64 of everything before)
struct HostState {
  std::string model_fingerprint;
  uint32_t layout_version = kStateLayoutVersion;
  std::vector<float> data;  // floats_per_sequence values

  std::string Serialize() const;
  // Errors: DATA_LOSS for a bad magic, truncation or checksum mismatch;
  // FAILED_PRECONDITION for another layout version.
  static StatusOr<HostState> Parse(std::string_view bytes);
};

// Where a pool's slots live: host memory (the default) or a device's. The
// pool does its zeroing and copies through it. Errors of a device (which
// cannot happen for host memory) are reported by its own Check().
class StateMemory {
 public:
  virtual ~StateMemory() = default;
  // One allocation of n floats (null on failure).
  virtual float* Allocate(size_t n_floats) = 0;
  virtual void Free(float* p) = 0;
  virtual void Zero(float* dst, size_t n_floats) = 0;
  virtual void ToHost(const float* src, size_t n_floats, float* host) = 0;
  virtual void FromHost(const float* host, size_t n_floats, float* dst) = 0;
  virtual void Copy(const float* src, size_t n_floats, float* dst) = 0;
  // "cpu", "cuda".
  virtual const char* device() const = 0;
};

// Host memory, 64-byte aligned.
std::unique_ptr<StateMemory> NewHostStateMemory();

// N fixed-size slots in one allocation of a StateMemory (host by default).
class StatePool {
 public:
  // REQUIRES: n_slots >= 1. Throws std::bad_alloc when the memory cannot be
  // allocated.
  StatePool(const StateLayout& layout, std::string model_fingerprint, int n_slots,
            std::unique_ptr<StateMemory> memory = nullptr);
  StatePool(const StatePool&) = delete;
  StatePool& operator=(const StatePool&) = delete;
  ~StatePool();

  int n_slots() const { return n_slots_; }
  int n_free() const { return static_cast<int>(free_.size()); }
  size_t bytes_per_slot() const { return layout_.bytes_per_sequence(); }
  size_t total_bytes() const { return bytes_per_slot() * static_cast<size_t>(n_slots_); }
  const StateLayout& layout() const { return layout_; }
  const std::string& model_fingerprint() const { return fingerprint_; }

  // Takes a free slot and zeroes it (the state before any token).
  // RESOURCE_EXHAUSTED when every slot is in use.
  StatusOr<int> Acquire();
  // REQUIRES: slot was returned by Acquire() and not yet released.
  void Release(int slot);
  bool InUse(int slot) const;

  // Zeroes a slot's state.
  void Reset(int slot);
  HostState Snapshot(int slot) const;
  // FAILED_PRECONDITION if the state belongs to another model or layout.
  Status Restore(int slot, const HostState& state);
  // Copies slot `from` into slot `to` (fork).
  void Copy(int from, int to);

  // "cpu" for host memory, else the device the slots live on.
  const char* device() const { return memory_->device(); }

  // Raw access for the backend that owns the memory (a DEVICE pointer for a
  // device pool). REQUIRES: 0 <= slot < n_slots().
  float* SlotData(int slot);
  const float* SlotData(int slot) const;

 private:
  StateLayout layout_;
  std::string fingerprint_;
  int n_slots_;
  std::unique_ptr<StateMemory> memory_;
  float* data_ = nullptr;  // n_slots * floats_per_sequence, in memory_
  std::vector<int> free_;  // stack of free slots
  std::vector<bool> in_use_;
};

}  // namespace rs::engine
