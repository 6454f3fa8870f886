#include "engine/io/zip.h"

#include "engine/io/bytes.h"

namespace rs::engine::io {
namespace {

constexpr uint32_t kLocalHeaderSig = 0x04034b50;
constexpr uint32_t kCentralHeaderSig = 0x02014b50;
constexpr uint32_t kEocdSig = 0x06054b50;
constexpr uint32_t kZip64EocdSig = 0x06064b50;
constexpr uint32_t kZip64LocatorSig = 0x07064b50;
constexpr size_t kEocdSize = 22;
constexpr size_t kZip64LocatorSize = 20;
constexpr size_t kZip64EocdSize = 56;
constexpr size_t kCentralHeaderSize = 46;
constexpr size_t kLocalHeaderSize = 30;
constexpr uint16_t kZip64ExtraId = 0x0001;

// Replaces the 0xFFFF... fields of a central header with the zip64 extra
// field's values (present in this order, each only when its field is maxed).
bool ApplyZip64Extra(std::string_view extra, ZipArchive::Entry* e, bool need_usize, bool need_csize,
                     bool need_offset) {
  ByteReader r(extra);
  while (r.remaining() >= 4) {
    uint16_t id, size;
    std::string_view body;
    if (!r.ReadLE(&id) || !r.ReadLE(&size) || !r.ReadBytes(size, &body)) return false;
    if (id != kZip64ExtraId) continue;
    ByteReader z(body);
    if (need_usize && !z.ReadLE(&e->uncompressed_size)) return false;
    if (need_csize && !z.ReadLE(&e->compressed_size)) return false;
    if (need_offset && !z.ReadLE(&e->local_header_offset)) return false;
    return true;
  }
  return !(need_usize || need_csize || need_offset);
}

}  // namespace

StatusOr<ZipArchive> ZipArchive::Open(std::string_view bytes, const std::string& file) {
  auto bad = [&](const std::string& what) { return DataLossError(file + ": zip: " + what); };
  if (bytes.size() < kEocdSize) return bad("too short for an end of central directory record");
  // The EOCD record is the last thing in the file but for a comment of at
  // most 65535 bytes: take the last signature whose comment length fits.
  size_t eocd = std::string_view::npos;
  const size_t lowest = bytes.size() >= kEocdSize + 0xffff ? bytes.size() - kEocdSize - 0xffff : 0;
  for (size_t pos = bytes.size() - kEocdSize + 1; pos-- > lowest;) {
    if (LoadLE<uint32_t>(bytes.data() + pos) == kEocdSig &&
        pos + kEocdSize + LoadLE<uint16_t>(bytes.data() + pos + 20) <= bytes.size()) {
      eocd = pos;
      break;
    }
  }
  if (eocd == std::string_view::npos) return bad("no end of central directory record");
  const char* p = bytes.data() + eocd;
  const uint16_t disk = LoadLE<uint16_t>(p + 4), cd_disk = LoadLE<uint16_t>(p + 6);
  uint64_t n_disk_entries = LoadLE<uint16_t>(p + 8);
  uint64_t n_entries = LoadLE<uint16_t>(p + 10);
  uint64_t cd_size = LoadLE<uint32_t>(p + 12);
  uint64_t cd_offset = LoadLE<uint32_t>(p + 16);
  uint64_t cd_end_limit = eocd;  // the central directory ends before this
  if (eocd >= kZip64LocatorSize &&
      LoadLE<uint32_t>(bytes.data() + eocd - kZip64LocatorSize) == kZip64LocatorSig) {
    const char* loc = bytes.data() + eocd - kZip64LocatorSize;
    const uint64_t z_offset = LoadLE<uint64_t>(loc + 8);
    if (LoadLE<uint32_t>(loc + 16) > 1) return UnimplementedError(file + ": multi-disk zip");
    if (z_offset > eocd - kZip64LocatorSize ||
        eocd - kZip64LocatorSize - z_offset < kZip64EocdSize) {
      return bad("zip64 end of central directory record offset out of range");
    }
    const char* z = bytes.data() + z_offset;
    if (LoadLE<uint32_t>(z) != kZip64EocdSig) return bad("bad zip64 end of central directory");
    if (LoadLE<uint32_t>(z + 16) != 0 || LoadLE<uint32_t>(z + 20) != 0) {
      return UnimplementedError(file + ": multi-disk zip");
    }
    n_disk_entries = LoadLE<uint64_t>(z + 24);
    n_entries = LoadLE<uint64_t>(z + 32);
    cd_size = LoadLE<uint64_t>(z + 40);
    cd_offset = LoadLE<uint64_t>(z + 48);
    cd_end_limit = z_offset;
  } else if (disk != 0 || cd_disk != 0) {
    return UnimplementedError(file + ": multi-disk zip");
  }
  if (n_disk_entries != n_entries) return UnimplementedError(file + ": multi-disk zip");
  if (cd_offset > cd_end_limit || cd_size > cd_end_limit - cd_offset) {
    return bad("central directory [" + std::to_string(cd_offset) + ", +" + std::to_string(cd_size) +
               ") out of range");
  }
  if (n_entries > cd_size / kCentralHeaderSize) {
    return bad(std::to_string(n_entries) + " entries cannot fit a " + std::to_string(cd_size) +
               "-byte central directory");
  }
  ZipArchive zip;
  zip.bytes_ = bytes;
  zip.file_ = file;
  zip.entries_.reserve(static_cast<size_t>(n_entries));
  ByteReader r(bytes.substr(static_cast<size_t>(cd_offset), static_cast<size_t>(cd_size)));
  for (uint64_t i = 0; i < n_entries; ++i) {
    std::string_view fixed;
    if (!r.ReadBytes(kCentralHeaderSize, &fixed) ||
        LoadLE<uint32_t>(fixed.data()) != kCentralHeaderSig) {
      return bad("bad central directory header " + std::to_string(i));
    }
    const char* h = fixed.data();
    Entry e;
    e.flags = LoadLE<uint16_t>(h + 8);
    e.method = LoadLE<uint16_t>(h + 10);
    e.compressed_size = LoadLE<uint32_t>(h + 20);
    e.uncompressed_size = LoadLE<uint32_t>(h + 24);
    const uint16_t name_len = LoadLE<uint16_t>(h + 28);
    const uint16_t extra_len = LoadLE<uint16_t>(h + 30);
    const uint16_t comment_len = LoadLE<uint16_t>(h + 32);
    e.local_header_offset = LoadLE<uint32_t>(h + 42);
    std::string_view name, extra, comment;
    if (!r.ReadBytes(name_len, &name) || !r.ReadBytes(extra_len, &extra) ||
        !r.ReadBytes(comment_len, &comment)) {
      return bad("central directory header " + std::to_string(i) + " truncated");
    }
    e.name = std::string(name);
    const bool need_usize = e.uncompressed_size == 0xffffffffu;
    const bool need_csize = e.compressed_size == 0xffffffffu;
    const bool need_offset = e.local_header_offset == 0xffffffffu;
    if (!ApplyZip64Extra(extra, &e, need_usize, need_csize, need_offset)) {
      return bad("entry '" + e.name + "': bad zip64 extra field");
    }
    if (!zip.index_.emplace(e.name, zip.entries_.size()).second) {
      return bad("duplicate entry '" + e.name + "'");
    }
    zip.entries_.push_back(std::move(e));
  }
  return zip;
}

const ZipArchive::Entry* ZipArchive::Find(std::string_view name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &entries_[it->second];
}

StatusOr<std::string_view> ZipArchive::Read(const Entry& e) const {
  auto bad = [&](const std::string& what) {
    return DataLossError(file_ + ": zip entry '" + e.name + "': " + what);
  };
  if (e.method != 0) {
    return UnimplementedError(file_ + ": compressed zip entry '" + e.name + "' (method " +
                              std::to_string(e.method) + "); only stored entries are read");
  }
  if (e.flags & 0x1) return UnimplementedError(file_ + ": encrypted zip entry '" + e.name + "'");
  if (e.compressed_size != e.uncompressed_size) {
    return bad("stored entry with compressed size " + std::to_string(e.compressed_size) +
               " != uncompressed size " + std::to_string(e.uncompressed_size));
  }
  if (e.local_header_offset > bytes_.size() ||
      bytes_.size() - e.local_header_offset < kLocalHeaderSize) {
    return bad("local header offset " + std::to_string(e.local_header_offset) + " out of range");
  }
  const char* h = bytes_.data() + e.local_header_offset;
  if (LoadLE<uint32_t>(h) != kLocalHeaderSig) return bad("bad local header signature");
  const uint64_t name_len = LoadLE<uint16_t>(h + 26);
  const uint64_t extra_len = LoadLE<uint16_t>(h + 28);
  const uint64_t data_offset = e.local_header_offset + kLocalHeaderSize + name_len + extra_len;
  if (data_offset > bytes_.size() || bytes_.size() - data_offset < e.compressed_size) {
    return bad("data [" + std::to_string(data_offset) + ", +" + std::to_string(e.compressed_size) +
               ") past the end of the archive");
  }
  if (std::string_view(h + kLocalHeaderSize, name_len) != e.name) {
    return bad("local header names a different entry");
  }
  return bytes_.substr(static_cast<size_t>(data_offset), static_cast<size_t>(e.compressed_size));
}

}  // namespace rs::engine::io
