#include "engine/tokenizer/tokenizer.h"
#include "engine/util/utf8.h"

namespace rs::engine {
StreamDecoder::StreamDecoder(const Tokenizer* tok) : tok_(tok) {}

std::string StreamDecoder::Push(int32_t id) {
  pending_.append(tok_->TokenBytes(id));
  std::string out;
  const std::string_view s = pending_;
  size_t pos = 0;
  while (pos < s.size()) {
    const size_t len = utf8::ValidPrefixLength(s.substr(pos));
    if (len > 0) {
      out.append(s.substr(pos, len));
      pos += len;
    } else if (utf8::IsIncompleteCharacter(s.substr(pos))) {
      break;  // wait for the rest of the character
    } else {
      out.append("\xEF\xBF\xBD");  // a byte that can never be valid here
      ++pos;
    }
  }
  pending_.erase(0, pos);
  return out;
}

std::string StreamDecoder::Flush() {
  std::string out = utf8::Sanitize(pending_);
  pending_.clear();
  return out;
}

}  // namespace rs::engine
