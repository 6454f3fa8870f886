// The RWKV world tokenizer: vocabulary parser, double-array trie, greedy
// longest-match encoder (see world_tokenizer.h for the file format).
#include "engine/tokenizer/world_tokenizer.h"

#include <algorithm>
#include <array>
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include "engine/util/file.h"
#include "engine/util/utf8.h"

namespace rs::engine {
namespace {

constexpr int32_t kMaxId = static_cast<int32_t>(kWorldVocabSize - 1);
// A hostile file must not make us build a trie of gigabytes: the trie has at
// most one node per byte of the file.
constexpr size_t kMaxFileBytes = size_t{32} << 20;

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Parses a decimal field of ASCII digits; false if empty, not digits, or
// above `max`.
bool ParseDecimal(std::string_view s, int64_t max, int64_t* value) {
  if (s.empty()) return false;
  int64_t v = 0;
  for (char c : s) {
    if (!IsDigit(c)) return false;
    v = v * 10 + (c - '0');
    if (v > max) return false;
  }
  *value = v;
  return true;
}

// `s` for an error message: control bytes as \xHH, cut to about 40 bytes
// (at a character boundary).
std::string Printable(std::string_view s) {
  std::string out;
  size_t n = std::min<size_t>(s.size(), 40);
  while (n < s.size() && n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
  for (char c : s.substr(0, n)) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\x%02x", u);
      out += buf;
    } else {
      out.push_back(c);
    }
  }
  if (n < s.size()) out += "...";
  return out;
}

// The byte a one-character escape (\n, \t, \\, ...) stands for, or -1.
int SimpleEscape(char e) {
  static constexpr std::pair<char, char> kEscapes[] = {
      {'\\', '\\'}, {'\'', '\''}, {'"', '"'},  {'a', '\a'}, {'b', '\b'},
      {'f', '\f'},  {'n', '\n'},  {'r', '\r'}, {'t', '\t'}, {'v', '\v'}};
  for (const auto& [escape, byte] : kEscapes) {
    if (escape == e) return static_cast<unsigned char>(byte);
  }
  return -1;
}

// Parses one Python str/bytes literal that must span all of `lit` and
// appends its bytes (a str's UTF-8 encoding) to *out. Returns "" on success,
// else what is wrong.
std::string ParseLiteral(std::string_view lit, std::string* out) {
  size_t i = 0;
  bool is_bytes = false;
  while (i < lit.size() && ((lit[i] >= 'a' && lit[i] <= 'z') || (lit[i] >= 'A' && lit[i] <= 'Z'))) {
    ++i;
  }
  if (i >= lit.size() || (lit[i] != '\'' && lit[i] != '"')) {
    return "expected a quoted string literal, got \"" + Printable(lit) + "\"";
  }
  const std::string_view prefix = lit.substr(0, i);
  if (prefix == "b" || prefix == "B") {
    is_bytes = true;
  } else if (!prefix.empty() && prefix != "u" && prefix != "U") {
    return "unsupported string prefix \"" + Printable(prefix) + "\"";
  }
  const char quote = lit[i++];
  if (lit.substr(i, 2) == std::string(2, quote)) return "triple-quoted literals are not supported";
  bool closed = false;
  while (i < lit.size()) {
    const char c = lit[i];
    if (c == quote) {
      closed = true;
      ++i;
      break;
    }
    if (c == '\0') return "NUL byte in the literal";
    if (c != '\\') {
      if (is_bytes && static_cast<unsigned char>(c) >= 0x80) {
        return "non-ASCII character in a bytes literal";
      }
      out->push_back(c);
      ++i;
      continue;
    }
    // An escape sequence.
    if (i + 1 >= lit.size()) break;  // unterminated
    const char e = lit[i + 1];
    i += 2;
    const int simple = SimpleEscape(e);
    if (simple >= 0) {
      out->push_back(static_cast<char>(simple));
      continue;
    }
    uint32_t value = 0;
    if (e >= '0' && e <= '7') {
      value = static_cast<uint32_t>(e - '0');
      for (int k = 0; k < 2 && i < lit.size() && lit[i] >= '0' && lit[i] <= '7'; ++k, ++i) {
        value = value * 8 + static_cast<uint32_t>(lit[i] - '0');
      }
      if (value > 0377) return "octal escape above \\377";
    } else if (e == 'x' || (!is_bytes && (e == 'u' || e == 'U'))) {
      const int digits = e == 'x' ? 2 : e == 'u' ? 4 : 8;
      for (int k = 0; k < digits; ++k, ++i) {
        const int h = i < lit.size() ? HexValue(lit[i]) : -1;
        if (h < 0) return std::string("truncated \\") + e + " escape";
        value = value * 16 + static_cast<uint32_t>(h);
      }
      if (value > 0x10FFFF) return "escape above U+10FFFF";
      if (value >= 0xD800 && value <= 0xDFFF) return "surrogate code point (not UTF-8 encodable)";
    } else if (e == 'N' && !is_bytes) {
      return "\\N{...} escapes are not supported";
    } else {
      const std::string_view rest = lit.substr(i - 1);  // the whole character after '\\'
      return "invalid escape sequence \\" +
             Printable(rest.substr(0, std::max<size_t>(1, utf8::ValidPrefixLength(rest))));
    }
    if (is_bytes) {
      out->push_back(static_cast<char>(value));
    } else {
      utf8::Append(value, out);
    }
  }
  if (!closed) return "unterminated string literal";
  if (i != lit.size()) {
    return "unexpected text after the literal: \"" + Printable(lit.substr(i)) + "\"";
  }
  return "";
}

class WorldTokenizer final : public Tokenizer {
 public:
  // Builds the tokenizer from vocabulary text; errors are prefixed with
  // `source`.
  static StatusOr<std::unique_ptr<Tokenizer>> Build(std::string_view text,
                                                    const std::string& source);

  StatusOr<std::vector<int32_t>> Encode(std::string_view text) const override;
  std::string Decode(std::span<const int32_t> ids) const override;
  std::string_view TokenBytes(int32_t id) const override {
    if (id < 0 || id >= kWorldVocabSize) return {};
    return std::string_view(blob_).substr(offsets_[id], offsets_[id + 1] - offsets_[id]);
  }
  int64_t vocab_size() const override { return kWorldVocabSize; }
  std::optional<int32_t> eos_id() const override { return 0; }
  std::string name() const override { return "rwkv-world"; }

 private:
  // One double-array slot. A node s has the child for byte c at slot
  // t = base + c when units_[t].check == s. Leaves have base 0; free slots
  // have check -1; the root is slot 0 (check -2). units_ extends 256 slots
  // past the largest base, so base + c is always in bounds.
  struct Unit {
    int32_t base = 0;
    int32_t check = -1;
    int32_t id = -1;  // the token ending at this node, or -1
  };

  // Builds units_ from the (bytes, id) pairs. REQUIRES: sorted by bytes,
  // no duplicates, no empty bytes.
  void BuildTrie(const std::vector<std::pair<std::string_view, int32_t>>& keys);

  std::string blob_;               // the bytes of every token, by id
  std::vector<uint32_t> offsets_;  // id -> start in blob_; kWorldVocabSize + 1 entries
  std::vector<Unit> units_;
};

StatusOr<std::unique_ptr<Tokenizer>> WorldTokenizer::Build(std::string_view text,
                                                           const std::string& source) {
  if (text.size() > kMaxFileBytes) {
    return InvalidArgumentError(source + ": larger than 32 MiB (not a world vocabulary)");
  }
  // The tokens in file order; their bytes are parsed[offset, offset + size).
  struct Parsed {
    int32_t id, line;
    uint32_t offset, size;
  };
  std::vector<Parsed> tokens;
  std::string parsed;
  std::vector<bool> seen(kWorldVocabSize, false);
  size_t pos = 0;
  int32_t line_no = 0;
  while (pos < text.size()) {
    ++line_no;
    size_t end = pos;
    while (end < text.size() && text[end] != '\n' && text[end] != '\r') ++end;
    const std::string_view line = text.substr(pos, end - pos);
    pos = end;
    if (pos < text.size()) {
      const bool crlf = text[pos] == '\r' && pos + 1 < text.size() && text[pos + 1] == '\n';
      pos += crlf ? 2 : 1;
    }

    auto error = [&](const std::string& what) {
      return InvalidArgumentError(source + ":" + std::to_string(line_no) + ": " + what);
    };
    if (line.empty()) return error("empty line");
    const size_t bad = utf8::FindInvalid(line);
    if (bad != std::string_view::npos) {
      return error("invalid UTF-8 at byte " + std::to_string(bad) + " of the line");
    }
    const size_t first = line.find(' ');
    const size_t last = line.rfind(' ');
    if (first == std::string_view::npos || first == last) {
      return error("expected \"<id> <literal> <byte length>\", got \"" + Printable(line) + "\"");
    }
    int64_t id = 0;
    if (!ParseDecimal(line.substr(0, first), kMaxId, &id) || id == 0) {
      if (line.substr(0, first) == "0") {
        return error("id 0 is reserved for end-of-text and cannot be in the file");
      }
      return error("the id \"" + Printable(line.substr(0, first)) + "\" is not a number in 1.." +
                   std::to_string(kMaxId));
    }
    int64_t length = 0;
    if (!ParseDecimal(line.substr(last + 1), int64_t{1} << 40, &length)) {
      return error("the byte length \"" + Printable(line.substr(last + 1)) + "\" is not a number");
    }
    std::string_view lit = line.substr(first + 1, last - first - 1);
    while (!lit.empty() && (lit.front() == ' ' || lit.front() == '\t')) lit.remove_prefix(1);
    while (!lit.empty() && (lit.back() == ' ' || lit.back() == '\t')) lit.remove_suffix(1);
    const size_t offset = parsed.size();
    const std::string lit_error = ParseLiteral(lit, &parsed);
    if (!lit_error.empty()) return error(lit_error);
    const size_t size = parsed.size() - offset;
    if (static_cast<int64_t>(size) != length) {
      return error("the token is " + std::to_string(size) + " bytes but the line says " +
                   std::to_string(length));
    }
    if (seen[id]) {
      int32_t first_line = 0;
      for (const Parsed& t : tokens) first_line = t.id == id ? t.line : first_line;
      return error("duplicate id " + std::to_string(id) + " (first on line " +
                   std::to_string(first_line) + ")");
    }
    seen[id] = true;
    tokens.push_back({static_cast<int32_t>(id), line_no, static_cast<uint32_t>(offset),
                      static_cast<uint32_t>(size)});
  }
  if (tokens.empty()) return InvalidArgumentError(source + ": empty vocabulary file");

  // blob_ and offsets_ in id order.
  auto tok = std::unique_ptr<WorldTokenizer>(new WorldTokenizer());
  std::vector<uint32_t> index_of_id(kWorldVocabSize, 0);  // 1 + index into tokens
  for (size_t i = 0; i < tokens.size(); ++i) {
    index_of_id[tokens[i].id] = static_cast<uint32_t>(i + 1);
  }
  tok->blob_.reserve(parsed.size());
  tok->offsets_.resize(kWorldVocabSize + 1);
  for (int64_t id = 0; id < kWorldVocabSize; ++id) {
    tok->offsets_[id] = static_cast<uint32_t>(tok->blob_.size());
    if (index_of_id[id] != 0) {
      const Parsed& t = tokens[index_of_id[id] - 1];
      tok->blob_.append(parsed, t.offset, t.size);
    }
  }
  tok->offsets_[kWorldVocabSize] = static_cast<uint32_t>(tok->blob_.size());

  // Keys for the trie, in file order; on equal bytes the later line wins
  // (TRIE_TOKENIZER's token2idx keeps the last id it sees).
  std::vector<std::pair<std::string_view, int32_t>> keys;
  keys.reserve(tokens.size());
  for (const Parsed& t : tokens) {
    if (t.size > 0) keys.emplace_back(tok->TokenBytes(t.id), t.id);
  }
  std::stable_sort(keys.begin(), keys.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  size_t n_unique = 0;
  for (size_t i = 0; i < keys.size(); ++i) {
    if (i + 1 < keys.size() && keys[i + 1].first == keys[i].first) continue;  // a later one wins
    keys[n_unique++] = keys[i];
  }
  keys.resize(n_unique);

  std::array<bool, 256> has_byte{};
  for (const auto& [bytes, id] : keys) {
    if (bytes.size() == 1) has_byte[static_cast<unsigned char>(bytes[0])] = true;
  }
  for (int b = 0; b < 0xF5; ++b) {
    if (b == 0xC0 || b == 0xC1) continue;  // never in UTF-8
    if (!has_byte[b]) {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "0x%02X", b);
      return InvalidArgumentError(source + ": no single-byte token for byte " + buf +
                                  " (every byte of UTF-8 text needs one)");
    }
  }
  tok->BuildTrie(keys);
  return std::unique_ptr<Tokenizer>(std::move(tok));
}

void WorldTokenizer::BuildTrie(const std::vector<std::pair<std::string_view, int32_t>>& keys) {
  // Depth-first over ranges of the sorted keys: a node at `depth` owns the
  // keys [lo, hi) that share its prefix; its children are the runs of equal
  // bytes at `depth`. Explicit stack: keys may be long.
  struct Pending {
    int32_t slot;
    size_t lo, hi, depth;
  };
  units_.assign(512, Unit{});
  units_[0].check = -2;
  size_t next_check_pos = 1;  // slots below are all in use
  std::vector<Pending> stack = {{0, 0, keys.size(), 0}};
  std::vector<uint8_t> labels;
  std::vector<std::pair<size_t, size_t>> ranges;
  labels.reserve(256);
  ranges.reserve(256);
  auto ensure = [this](size_t size) {
    if (units_.size() < size) units_.resize(std::max(size, units_.size() * 3 / 2), Unit{});
  };
  while (!stack.empty()) {
    const Pending node = stack.back();
    stack.pop_back();
    size_t lo = node.lo;
    if (lo < node.hi && keys[lo].first.size() == node.depth) {
      units_[node.slot].id = keys[lo].second;  // the one key that ends here (sorted first)
      ++lo;
    }
    labels.clear();
    ranges.clear();
    for (size_t i = lo; i < node.hi;) {
      const auto c = static_cast<uint8_t>(keys[i].first[node.depth]);
      size_t j = i + 1;
      while (j < node.hi && static_cast<uint8_t>(keys[j].first[node.depth]) == c) ++j;
      labels.push_back(c);
      ranges.emplace_back(i, j);
      i = j;
    }
    if (labels.empty()) continue;  // a leaf: base 0
    // Find the first base whose slots for all labels are free (as in
    // darts: scan free slots from next_check_pos; base >= 1).
    size_t pos = std::max<size_t>(labels[0] + 1, next_check_pos);
    bool first_free = true;
    size_t n_used_before = 0;
    int32_t base = 0;
    for (;; ++pos) {
      ensure(pos + 257);
      if (units_[pos].check != -1) {
        ++n_used_before;
        continue;
      }
      if (first_free) {
        next_check_pos = pos;
        first_free = false;
        n_used_before = 0;
      }
      const size_t b = pos - labels[0];
      bool fits = true;
      for (size_t k = 1; k < labels.size(); ++k) {
        if (units_[b + labels[k]].check != -1) {
          fits = false;
          break;
        }
      }
      if (fits) {
        base = static_cast<int32_t>(b);
        break;
      }
    }
    // Mostly-full stretches are skipped by later searches.
    if (n_used_before * 20 >= (pos - next_check_pos + 1) * 19) next_check_pos = pos;
    units_[node.slot].base = base;
    for (size_t k = 0; k < labels.size(); ++k) {
      const int32_t child = base + labels[k];
      units_[child].check = node.slot;
      stack.push_back({child, ranges[k].first, ranges[k].second, node.depth + 1});
    }
  }
  // Trim to the largest base + 256 (every base + c in bounds).
  size_t size = 0;
  for (size_t s = 0; s < units_.size(); ++s) {
    if (units_[s].check != -1) size = std::max(size, s + 1);
    size = std::max(size, static_cast<size_t>(units_[s].base) + 256);
  }
  units_.resize(size);
  units_.shrink_to_fit();
}

StatusOr<std::vector<int32_t>> WorldTokenizer::Encode(std::string_view text) const {
  const size_t bad = utf8::FindInvalid(text);
  if (bad != std::string_view::npos) {
    return InvalidArgumentError("invalid UTF-8 at byte offset " + std::to_string(bad));
  }
  std::vector<int32_t> ids;
  ids.reserve(text.size() / 3 + 1);
  const Unit* units = units_.data();
  const auto* p = reinterpret_cast<const uint8_t*>(text.data());
  const size_t n = text.size();
  size_t pos = 0;
  while (pos < n) {
    // Walk the trie as far as the text goes; remember the last token end.
    int32_t s = 0;
    int32_t best_id = -1;
    size_t best_end = pos;
    for (size_t i = pos; i < n;) {
      const int32_t t = units[s].base + p[i];
      if (units[t].check != s) break;
      s = t;
      ++i;
      if (units[s].id >= 0) {
        best_id = units[s].id;
        best_end = i;
      }
    }
    if (best_id < 0) {  // cannot happen: the loader requires every UTF-8 byte
      return InternalError("world tokenizer: no token at byte offset " + std::to_string(pos));
    }
    ids.push_back(best_id);
    pos = best_end;
  }
  return ids;
}

std::string WorldTokenizer::Decode(std::span<const int32_t> ids) const {
  size_t size = 0;
  for (int32_t id : ids) size += TokenBytes(id).size();
  std::string out;
  out.reserve(size);
  for (int32_t id : ids) out.append(TokenBytes(id));
  return out;
}

}  // namespace

StatusOr<std::unique_ptr<Tokenizer>> LoadWorldTokenizerFromText(std::string_view text,
                                                                const std::string& source) {
  return WorldTokenizer::Build(text, source);
}

StatusOr<std::unique_ptr<Tokenizer>> LoadWorldTokenizer(const std::string& vocab_path) {
  RS_ASSIGN_OR_RETURN(std::string text,
                      ReadFileBounded(vocab_path, kMaxFileBytes, "vocabulary file", " (not a world vocabulary)"));
  return LoadWorldTokenizerFromText(text, vocab_path);
}

}  // namespace rs::engine
