// A read-only view of a zip archive held in memory (internal to engine/io):
// the central directory, with zip64 support, and the bytes of STORED
// entries. Format: PKWARE APPNOTE.TXT 6.3 (sections 4.3.6-4.3.16, 4.5.3).
//
// Thread-safety: immutable after Open; share freely.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "engine/util/status.h"

namespace rs::engine::io {

class ZipArchive {
 public:
  struct Entry {
    std::string name;
    uint16_t flags = 0;
    uint16_t method = 0;  // 0 = stored
    uint64_t compressed_size = 0;
    uint64_t uncompressed_size = 0;
    uint64_t local_header_offset = 0;
  };

  // Reads the central directory of `bytes` (which must outlive the archive).
  // Errors: DATA_LOSS naming `file` for a missing or inconsistent end of
  // central directory record, zip64 record, central header, or a duplicate
  // entry name; UNIMPLEMENTED for a multi-disk archive.
  static StatusOr<ZipArchive> Open(std::string_view bytes, const std::string& file);

  // Entries in central directory order.
  const std::vector<Entry>& entries() const { return entries_; }
  // The entry called `name`, or null.
  const Entry* Find(std::string_view name) const;

  // The bytes of `entry`, checked against its local header and the archive.
  // Errors: UNIMPLEMENTED "compressed zip entry" for a method other than 0
  // (or encryption); DATA_LOSS for a bad local header or data past the end.
  StatusOr<std::string_view> Read(const Entry& entry) const;

 private:
  std::string_view bytes_;
  std::string file_;
  std::vector<Entry> entries_;
  std::map<std::string, size_t, std::less<>> index_;
};

}  // namespace rs::engine::io
