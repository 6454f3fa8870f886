#include "engine/util/file.h"

#include <cstdio>

namespace rs {

StatusOr<std::string> ReadFileBounded(const std::string& path, size_t max_bytes,
                                      const std::string& what, const std::string& too_large_note) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) return NotFoundError("cannot open " + what + " " + path);
  std::string text;
  char buf[1 << 16];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), f)) > 0) {
    text.append(buf, n);
    if (text.size() > max_bytes) {
      std::fclose(f);
      return InvalidArgumentError(path + ": larger than " + std::to_string(max_bytes) + " bytes" +
                                  too_large_note);
    }
  }
  const bool failed = std::ferror(f) != 0;
  std::fclose(f);
  if (failed) return DataLossError("error reading " + path);
  return text;
}

}  // namespace rs
