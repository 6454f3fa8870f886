#include "engine/tokenizer/tokenizer.h"
#include "engine/util/utf8.h"

namespace rs::engine {
namespace {

// Whether `s` (non-empty, shorter than its lead byte says) could still
// become one valid UTF-8 character with more bytes.
bool IsIncompleteCharacter(std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const unsigned char lead = p[0];
  size_t need;
  unsigned char lo = 0x80, hi = 0xBF;  // allowed range of the second byte
  if (lead >= 0xC2 && lead <= 0xDF) {
    need = 2;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    need = 3;
    if (lead == 0xE0) lo = 0xA0;  // no overlongs
    if (lead == 0xED) hi = 0x9F;  // no surrogates
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    need = 4;
    if (lead == 0xF0) lo = 0x90;  // no overlongs
    if (lead == 0xF4) hi = 0x8F;  // <= U+10FFFF
  } else {
    return false;
  }
  if (s.size() >= need) return false;
  for (size_t i = 1; i < s.size(); ++i) {
    const unsigned char c = p[i];
    if (i == 1 ? (c < lo || c > hi) : (c < 0x80 || c > 0xBF)) return false;
  }
  return true;
}

}  // namespace

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
    } else if (IsIncompleteCharacter(s.substr(pos))) {
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
