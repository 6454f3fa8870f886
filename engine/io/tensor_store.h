// Checkpoint readers: named tensors from safetensors files, sharded
// safetensors indexes and torch.save zip archives (.bin/.pth), all of which
// are untrusted bytes. A reader validates every length, offset and size
// against the bytes it has before it touches them: a malformed file yields a
// one-line Status naming the file (and the tensor, where there is one), never
// a crash or a read outside the file.
//
// Error codes (every reader):
//   NOT_FOUND          the file does not exist
//   PERMISSION_DENIED  the file cannot be opened for reading
//   DATA_LOSS          truncated or corrupt bytes, inconsistent sizes/offsets
//   UNIMPLEMENTED      valid, but uses a feature we do not read (a dtype, a
//                      compressed zip entry, a pickle opcode or global)
//   RESOURCE_EXHAUSTED copies of non-contiguous tensors would exceed the budget
//                      (4 x the archive size + 64 MiB)
//
// ---- safetensors -----------------------------------------------------------
// Layout: u64 little-endian N, then N bytes of JSON header, then the data
// section. The header is an object: "__metadata__" (ignored) and, per tensor,
//   "name": {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}
// with [begin, end) relative to the data section. Checked: N <= 100 MB and
// N <= file size - 8; the header is valid JSON; dtype is one of F32 F16 BF16
// F64 I64 I32 I16 I8 U8 BOOL (others: UNIMPLEMENTED naming dtype and tensor);
// shape entries are non-negative integers; begin <= end <= data section size;
// end - begin == numel * dtype size (overflow-checked); no duplicate names; no
// two non-empty tensors overlap (gaps and trailing bytes are tolerated).
// Tensor order is the header's member order.
//
// ---- sharded safetensors (model.safetensors.index.json) ------------------
// {"metadata": {...}, "weight_map": {"tensor name": "shard file name", ...}}.
// Shard names are plain file names in the index's folder (no '/', not "." or
// ".."). Each shard is opened once, in order of first mention; the store
// holds every tensor of every shard (shards in that order, each in file
// order). Every weight_map entry must be found in the shard it names, and no
// name may appear in two shards (DATA_LOSS otherwise).
//
// ---- torch.save zip archives ---------------------------------------------
// A zip (STORED entries only; compressed or encrypted entries: UNIMPLEMENTED)
// read from its central directory, zip64 records included (EOCD locator,
// zip64 EOCD record, zip64 extra fields). All entries share one prefix (the
// saved file's stem, "archive", ...): `<prefix>/data.pkl` is the pickled
// object and `<prefix>/data/<key>` the raw little-endian bytes of storage
// <key>; `<prefix>/byteorder`, when present, must read "little". CRCs are not
// checked (it would read every byte of the weights at load time).
//
// data.pkl is run by a restricted pickle interpreter (never Python's): the
// opcodes torch.save emits (protocol 2, plus FRAME, MEMOIZE, SHORT_BINUNICODE,
// SHORT_BINBYTES, BINBYTES, STACK_GLOBAL of later protocols) and only these
// globals: collections.OrderedDict, torch._utils._rebuild_tensor_v2,
// torch._utils._rebuild_parameter and torch.{Float,Half,BFloat16,Double,Long,
// Int,Short,Char,Byte,Bool}Storage. Any other global (os.system,
// torch.storage._load_from_bytes of the legacy format, ...) or opcode is
// UNIMPLEMENTED, named, before anything is called. The pickled object must be
// a dict of name -> tensor. If no top-level value is a tensor, one level of
// nesting is accepted: the value under "state_dict", "model" or "module"
// (first present that holds tensors), or else the only value that is a dict
// holding tensors ({"model": {...}, "epoch": 3}). Entries whose value is not
// a tensor are skipped. A tensor must lie inside its storage, whose entry
// size must be numel x dtype size. Row-major contiguous tensors are views of
// the mapped file (tied weights share bytes); others are copied into owned
// contiguous buffers.
//
// Memory: files are mapped read-only (PROT_READ, MAP_PRIVATE). A tensor whose
// bytes are not aligned to its dtype size in the file is copied into an owned
// 64-byte-aligned buffer, so every Tensor::data is aligned for typed loads
// (a tensor with no elements points to a static aligned empty buffer).
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "engine/tensor.h"
#include "engine/util/status.h"

namespace rs::engine::io {

class MappedFile;  // engine/io/file.h

// A set of named tensors read from one or more files; owns the memory they
// point into (file mappings and heap buffers), so every Tensor::data stays
// valid while the store lives.
//
// Thread-safety: after a reader returns it, a store is immutable and safe to
// read from any number of threads. The builder methods (AddMapping ...
// Merge) are for readers and are not thread-safe.
class TensorStore {
 public:
  TensorStore();
  ~TensorStore();
  TensorStore(const TensorStore&) = delete;
  TensorStore& operator=(const TensorStore&) = delete;

  // The tensor called `name`, or null if absent.
  const Tensor* Find(std::string_view name) const;
  // All tensors, in file order (see the format notes above).
  const std::vector<Tensor>& tensors() const { return tensors_; }
  // Bytes of file mappings held.
  size_t mapped_bytes() const { return mapped_bytes_; }
  // Bytes of heap buffers held (copies of non-contiguous or misaligned
  // tensors, and the input copied by Parse*).
  size_t owned_bytes() const { return owned_bytes_; }

  // ---- Builder interface, for readers ----
  // Takes ownership of `file` (kept mapped while the store lives); returns
  // its bytes.
  std::string_view AddMapping(std::unique_ptr<MappedFile> file);
  // A new zero-filled, 64-byte-aligned buffer of `n` bytes owned by the
  // store. Errors: RESOURCE_EXHAUSTED when the allocation fails.
  StatusOr<uint8_t*> AllocateBuffer(size_t n);
  // Appends `t`. REQUIRES: t.data points into memory this store owns (or
  // t.nbytes == 0). Errors: ALREADY_EXISTS when the name is taken.
  Status AddTensor(Tensor t);
  // Moves every tensor and all memory of `other` into this store, after its
  // own tensors. Errors: ALREADY_EXISTS naming a tensor both hold (then
  // neither store is changed).
  Status Merge(TensorStore&& other);

 private:
  struct AlignedFree {
    void operator()(uint8_t* p) const;
  };
  std::vector<Tensor> tensors_;
  std::map<std::string, size_t, std::less<>> index_;  // name -> tensors_ slot
  std::vector<std::unique_ptr<MappedFile>> mappings_;
  std::vector<std::unique_ptr<uint8_t, AlignedFree>> buffers_;
  size_t mapped_bytes_ = 0;
  size_t owned_bytes_ = 0;
};

// Maps the safetensors file at `path`. Tensors are views of the mapping.
StatusOr<std::unique_ptr<TensorStore>> OpenSafetensors(const std::string& path);

// Opens every shard named by a model.safetensors.index.json (shards in the
// index's folder) into one store.
StatusOr<std::unique_ptr<TensorStore>> OpenSafetensorsIndex(const std::string& index_json_path);

// Maps a torch.save zip archive (.bin/.pth/.pt). Errors as above; the
// pre-1.6 (non-zip) torch format is UNIMPLEMENTED.
StatusOr<std::unique_ptr<TensorStore>> OpenTorchZip(const std::string& path);

// Opens `path` with the reader its first bytes call for: a zip ("PK") ->
// OpenTorchZip; a legacy pickle -> UNIMPLEMENTED; a name ending in
// ".index.json" -> OpenSafetensorsIndex; a plausible safetensors header ->
// OpenSafetensors. Otherwise by extension (.safetensors; .bin .pth .pt
// .ckpt), else INVALID_ARGUMENT "unrecognized tensor file format".
StatusOr<std::unique_ptr<TensorStore>> OpenTensorFile(const std::string& path);

// The same readers over bytes in memory (tests, fuzzers). The store COPIES
// `bytes` into an owned buffer (owned_bytes() >= bytes.size()); the caller's
// bytes need not outlive the call. Messages name the file "<memory>".
StatusOr<std::unique_ptr<TensorStore>> ParseSafetensors(std::string_view bytes);
StatusOr<std::unique_ptr<TensorStore>> ParseTorchZip(std::string_view bytes);

// Writes `tensors` (in this order, data in the same order) as a safetensors
// file with an optional "__metadata__" string map. The header is padded with
// spaces to a multiple of 8 bytes, so data offsets are 8-byte aligned when
// every tensor's size is. The file is written to `path`.tmp, flushed, then
// renamed over `path`: readers never see a partial file.
// Errors: INVALID_ARGUMENT for an empty, duplicate or "__metadata__" name,
// or nbytes != numel * dtype size, or a negative dimension; I/O errors as
// NOT_FOUND / PERMISSION_DENIED / RESOURCE_EXHAUSTED (disk full) /
// UNAVAILABLE naming the path.
Status WriteSafetensors(const std::string& path, const std::vector<Tensor>& tensors,
                        const std::vector<std::pair<std::string, std::string>>& metadata = {});

}  // namespace rs::engine::io
