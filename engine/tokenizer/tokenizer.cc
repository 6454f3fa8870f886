// LoadTokenizer: picks the tokenizer kind from the path.
#include "engine/tokenizer/tokenizer.h"

#include <filesystem>

#include "engine/tokenizer/world_tokenizer.h"

namespace rs::engine {

std::string FindTokenizerFile(const std::string& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::path d(dir);
  if (!fs::is_directory(d, ec)) return "";
  for (const char* name : {"tokenizer.json", kWorldVocabFileName}) {
    if (fs::is_regular_file(d / name, ec)) return (d / name).string();
  }
  std::string best;
  for (fs::directory_iterator it(d, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.size() > 15 && name.rfind("rwkv_vocab_", 0) == 0 &&
        name.compare(name.size() - 4, 4, ".txt") == 0 && it->is_regular_file(ec) &&
        name > fs::path(best).filename().string()) {
      best = it->path().string();
    }
  }
  return best;
}

StatusOr<std::unique_ptr<Tokenizer>> LoadTokenizer(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::path p(path);
  if (fs::is_directory(p, ec)) {
    const std::string found = FindTokenizerFile(path);
    if (found.empty()) {
      return NotFoundError("no tokenizer in " + path + " (no tokenizer.json or " +
                           kWorldVocabFileName + ")");
    }
    p = found;
  }
  if (!fs::exists(p, ec)) return NotFoundError("no tokenizer at " + p.string());
  const std::string ext = p.extension().string();
  if (ext == ".json") return LoadBpeTokenizer(p.string());
  if (ext == ".txt") return LoadWorldTokenizer(p.string());
  return UnimplementedError(p.string() +
                            ": unknown tokenizer file kind (expected tokenizer.json or an RWKV "
                            "world vocabulary .txt)");
}

}  // namespace rs::engine
