#include "engine/tokenizer/byte_level.h"

#include <array>

#include "engine/tokenizer/unicode.h"
#include "engine/util/utf8.h"

namespace rs::engine::byte_level {
namespace {

using unicode::CharClass;

struct ByteTables {
  std::array<char32_t, 256> byte_to_char;
  std::array<int16_t, 324> char_to_byte;  // every byte character is < U+0144
};

// GPT-2's bytes_to_unicode(): printable bytes keep their code point, the
// other 68 are numbered from U+0100 in byte order.
const ByteTables& Tables() {
  static const ByteTables tables = [] {
    ByteTables t;
    t.char_to_byte.fill(-1);
    char32_t next = 0x100;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
      const char32_t c = printable ? static_cast<char32_t>(b) : next++;
      t.byte_to_char[b] = c;
      t.char_to_byte[c] = static_cast<int16_t>(b);
    }
    return t;
  }();
  return tables;
}

// A decoded character: its class and its length in bytes.
struct Char {
  CharClass cls;
  uint32_t cp;
  size_t len;
};

// Classes of ASCII bytes, the hot path.
const std::array<CharClass, 128>& AsciiClasses() {
  static const std::array<CharClass, 128> table = [] {
    std::array<CharClass, 128> a{};
    for (char32_t c = 0; c < 128; ++c) a[c] = unicode::GetCharClass(c);
    return a;
  }();
  return table;
}

inline Char CharAt(std::string_view s, size_t pos) {
  const unsigned char b = static_cast<unsigned char>(s[pos]);
  if (b < 0x80) return {AsciiClasses()[b], b, 1};
  size_t next = pos;
  const uint32_t cp = utf8::DecodeValid(s, &next);
  return {unicode::GetCharClass(cp), cp, next - pos};
}

// End of the run of characters of class `cls` starting at `pos`.
inline size_t RunEnd(std::string_view s, size_t pos, CharClass cls) {
  while (pos < s.size()) {
    const Char c = CharAt(s, pos);
    if (c.cls != cls) break;
    pos += c.len;
  }
  return pos;
}

// Length of a contraction ('s 't 're 've 'm 'll 'd) at `pos`, or 0.
inline size_t ContractionLength(std::string_view s, size_t pos) {
  if (pos + 1 >= s.size()) return 0;
  const char a = s[pos + 1];
  if (a == 's' || a == 't' || a == 'm' || a == 'd') return 2;
  if (pos + 2 >= s.size()) return 0;
  const char b = s[pos + 2];
  if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return 3;
  return 0;
}

// End of the regex match that starts at `pos` (< s.size()).
size_t MatchAt(std::string_view s, size_t pos) {
  if (s[pos] == '\'') {
    const size_t n = ContractionLength(s, pos);
    if (n != 0) return pos + n;
  }
  const Char c0 = CharAt(s, pos);
  // ` ?\p{L}+`, ` ?\p{N}+`, ` ?[^\s\p{L}\p{N}]+`: the optional space is U+0020.
  if (c0.cls != CharClass::kWhitespace) return RunEnd(s, pos + c0.len, c0.cls);
  if (c0.cp == ' ' && pos + 1 < s.size()) {
    const Char c1 = CharAt(s, pos + 1);
    if (c1.cls != CharClass::kWhitespace) return RunEnd(s, pos + 1 + c1.len, c1.cls);
  }
  // `\s+(?!\S)|\s+`: the whole whitespace run if it reaches the end; else
  // all of it but its last character (which then starts the next piece),
  // or the single character if the run has only one.
  size_t end = pos + c0.len;
  size_t last_start = pos;
  while (end < s.size()) {
    const Char c = CharAt(s, end);
    if (c.cls != CharClass::kWhitespace) break;
    last_start = end;
    end += c.len;
  }
  if (end == s.size() || last_start == pos) return end;
  return last_start;
}

}  // namespace

char32_t ByteToChar(uint8_t b) { return Tables().byte_to_char[b]; }

int CharToByte(char32_t c) {
  const auto& t = Tables().char_to_byte;
  return c < t.size() ? t[c] : -1;
}

bool TokenToBytes(std::string_view token, std::string* out) {
  out->clear();
  for (size_t pos = 0; pos < token.size();) {
    const int b = CharToByte(utf8::DecodeValid(token, &pos));
    if (b < 0) return false;
    out->push_back(static_cast<char>(b));
  }
  return true;
}

void SplitGpt2(std::string_view text, std::vector<std::string_view>* pieces) {
  size_t pos = 0;
  while (pos < text.size()) {
    const size_t end = MatchAt(text, pos);
    pieces->push_back(text.substr(pos, end - pos));
    pos = end;
  }
}

}  // namespace rs::engine::byte_level
