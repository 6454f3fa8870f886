// File access for the checkpoint readers (internal to engine/io): read-only
// memory maps, small whole-file reads, atomic writes, errno -> Status.
//
// Thread-safety: a MappedFile is immutable after Open; share freely.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "engine/util/status.h"

namespace rs::engine::io {

// A whole file mapped PROT_READ, MAP_PRIVATE. An empty file maps to no bytes.
class MappedFile {
 public:
  // Errors: NOT_FOUND (no such file), PERMISSION_DENIED, INVALID_ARGUMENT
  // (not a regular file), UNAVAILABLE (other I/O errors); each names `path`.
  static StatusOr<std::unique_ptr<MappedFile>> Open(const std::string& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  std::string_view bytes() const { return {reinterpret_cast<const char*>(data_), size_}; }
  const std::string& path() const { return path_; }

 private:
  MappedFile(std::string path, const uint8_t* data, size_t size)
      : path_(std::move(path)), data_(data), size_(size) {}
  std::string path_;
  const uint8_t* data_;
  size_t size_;
};

// `context: strerror(err)` with the code that fits errno `err`.
Status ErrnoToStatus(int err, const std::string& context);

// The whole file at `path`. Errors as MappedFile::Open, and DATA_LOSS when
// it is larger than `max_bytes`.
StatusOr<std::string> ReadFileToString(const std::string& path, size_t max_bytes);

// Writes the concatenation of `pieces` to `path`.tmp, fsyncs it and renames
// it over `path`. On error the temporary file is removed.
Status WriteFileAtomically(const std::string& path, const std::vector<std::string_view>& pieces);

}  // namespace rs::engine::io
