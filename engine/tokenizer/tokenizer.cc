// LoadTokenizer: picks the tokenizer kind from the path.
#include "engine/tokenizer/tokenizer.h"

#include <filesystem>

namespace rs::engine {

StatusOr<std::unique_ptr<Tokenizer>> LoadTokenizer(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::path p(path);
  if (fs::is_directory(p, ec)) p /= "tokenizer.json";
  if (!fs::exists(p, ec)) return NotFoundError("no tokenizer at " + p.string());
  const std::string ext = p.extension().string();
  if (ext == ".json") return LoadBpeTokenizer(p.string());
  if (ext == ".txt") {
    return UnimplementedError(p.string() +
                              ": vocabulary .txt files (RWKV world) are not supported yet");
  }
  return UnimplementedError(p.string() + ": unknown tokenizer file kind (expected .json)");
}

}  // namespace rs::engine
