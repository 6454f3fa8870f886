// The byte tokenizer: id == byte value.
#include "engine/tokenizer/tokenizer.h"
#include "engine/util/utf8.h"

namespace rs::engine {
namespace {

class ByteTokenizer final : public Tokenizer {
 public:
  StatusOr<std::vector<int32_t>> Encode(std::string_view text) const override {
    const size_t bad = utf8::FindInvalid(text);
    if (bad != std::string_view::npos) {
      return InvalidArgumentError("invalid UTF-8 at byte offset " + std::to_string(bad));
    }
    std::vector<int32_t> ids(text.size());
    for (size_t i = 0; i < text.size(); ++i) ids[i] = static_cast<unsigned char>(text[i]);
    return ids;
  }

  std::string Decode(std::span<const int32_t> ids) const override {
    std::string out;
    out.reserve(ids.size());
    for (int32_t id : ids) {
      if (id >= 0 && id < 256) out.push_back(static_cast<char>(id));
    }
    return out;
  }

  std::string_view TokenBytes(int32_t id) const override {
    static const std::string kAllBytes = [] {
      std::string s(256, '\0');
      for (int b = 0; b < 256; ++b) s[b] = static_cast<char>(b);
      return s;
    }();
    if (id < 0 || id >= 256) return {};
    return std::string_view(kAllBytes).substr(id, 1);
  }

  int64_t vocab_size() const override { return 256; }
  std::optional<int32_t> eos_id() const override { return std::nullopt; }
  std::string name() const override { return "bytes"; }
};

}  // namespace

std::unique_ptr<Tokenizer> NewByteTokenizer() { return std::make_unique<ByteTokenizer>(); }

}  // namespace rs::engine
