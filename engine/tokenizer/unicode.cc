#include "engine/tokenizer/unicode.h"

#include <algorithm>
#include <array>
#include <vector>

#include "engine/tokenizer/unicode_tables.h"
#include "engine/util/utf8.h"

namespace rs::engine::unicode {
namespace {

namespace t = unicode_tables;

// Value of the range containing cp in a sorted, disjoint range table; 0 if
// none does.
uint8_t LookupRange(const t::ClassRange* ranges, size_t n, char32_t cp) {
  const t::ClassRange* end = ranges + n;
  const t::ClassRange* it = std::upper_bound(
      ranges, end, cp, [](char32_t c, const t::ClassRange& r) { return c < r.first; });
  if (it == ranges) return 0;
  --it;
  return cp <= it->last ? it->value : 0;
}

// Classes of U+0000..U+00FF, the common case, without a binary search.
const std::array<CharClass, 256>& Latin1Classes() {
  static const std::array<CharClass, 256> table = [] {
    std::array<CharClass, 256> a{};
    for (char32_t cp = 0; cp < 256; ++cp) {
      a[cp] = static_cast<CharClass>(LookupRange(t::kClassRanges, t::kNumClassRanges, cp));
    }
    return a;
  }();
  return table;
}

// Hangul syllable constants (Unicode 3.12).
constexpr char32_t kSBase = 0xAC00, kLBase = 0x1100, kVBase = 0x1161, kTBase = 0x11A7;
constexpr char32_t kLCount = 19, kVCount = 21, kTCount = 28;
constexpr char32_t kNCount = kVCount * kTCount, kSCount = kLCount * kNCount;

void Decompose(char32_t cp, std::vector<char32_t>* out) {
  if (cp >= kSBase && cp < kSBase + kSCount) {
    const char32_t s = cp - kSBase;
    out->push_back(kLBase + s / kNCount);
    out->push_back(kVBase + (s % kNCount) / kTCount);
    if (s % kTCount != 0) out->push_back(kTBase + s % kTCount);
    return;
  }
  const t::Decomposition* end = t::kDecompositions + t::kNumDecompositions;
  const t::Decomposition* it =
      std::lower_bound(t::kDecompositions, end, cp,
                       [](const t::Decomposition& d, char32_t c) { return d.code_point < c; });
  if (it != end && it->code_point == cp) {
    out->insert(out->end(), t::kDecompositionData + it->offset,
                t::kDecompositionData + it->offset + it->length);
  } else {
    out->push_back(cp);
  }
}

// The primary composite of (a, b), or 0 if there is none.
char32_t Compose(char32_t a, char32_t b) {
  if (a >= kLBase && a < kLBase + kLCount && b >= kVBase && b < kVBase + kVCount) {
    return kSBase + ((a - kLBase) * kVCount + (b - kVBase)) * kTCount;
  }
  if (a >= kSBase && a < kSBase + kSCount && (a - kSBase) % kTCount == 0 && b > kTBase &&
      b < kTBase + kTCount) {
    return a + (b - kTBase);
  }
  const t::Composition* end = t::kCompositions + t::kNumCompositions;
  const t::Composition* it = std::lower_bound(
      t::kCompositions, end, std::make_pair(a, b),
      [](const t::Composition& c, const std::pair<char32_t, char32_t>& key) {
        return c.first < key.first || (c.first == key.first && c.second < key.second);
      });
  if (it != end && it->first == a && it->second == b) return it->composite;
  return 0;
}

}  // namespace

CharClass GetCharClass(char32_t cp) {
  if (cp < 256) return Latin1Classes()[cp];
  return static_cast<CharClass>(LookupRange(t::kClassRanges, t::kNumClassRanges, cp));
}

uint8_t CombiningClass(char32_t cp) {
  if (cp < 0x300) return 0;
  return LookupRange(t::kCombiningClassRanges, t::kNumCombiningClassRanges, cp);
}

bool IsNfcQuick(std::string_view text) {
  const char32_t first_unsafe = t::kNfcUnsafeRanges[0].first;
  size_t pos = 0;
  while (pos < text.size()) {
    if (static_cast<unsigned char>(text[pos]) < 0x80) {
      ++pos;
      continue;
    }
    const char32_t cp = utf8::DecodeValid(text, &pos);
    if (cp >= first_unsafe && LookupRange(t::kNfcUnsafeRanges, t::kNumNfcUnsafeRanges, cp)) {
      return false;
    }
  }
  return true;
}

void AppendNfc(std::string_view text, std::string* out) {
  if (IsNfcQuick(text)) {
    out->append(text);
    return;
  }
  // 1. Full canonical decomposition.
  std::vector<char32_t> chars;
  chars.reserve(text.size());
  for (size_t pos = 0; pos < text.size();) Decompose(utf8::DecodeValid(text, &pos), &chars);

  // 2. Canonical ordering: stable sort of each run of non-starters by class.
  for (size_t i = 0; i < chars.size();) {
    if (CombiningClass(chars[i]) == 0) {
      ++i;
      continue;
    }
    size_t j = i;
    while (j < chars.size() && CombiningClass(chars[j]) != 0) ++j;
    std::stable_sort(chars.begin() + i, chars.begin() + j,
                     [](char32_t a, char32_t b) { return CombiningClass(a) < CombiningClass(b); });
    i = j;
  }

  // 3. Canonical composition. `last_ccc` is the class of the last character
  // kept after the current starter, or -1 when none was (adjacent).
  std::vector<char32_t> composed;
  composed.reserve(chars.size());
  ptrdiff_t starter = -1;
  int last_ccc = -1;
  for (char32_t c : chars) {
    const int ccc = CombiningClass(c);
    if (starter >= 0 && (last_ccc == -1 || last_ccc < ccc)) {
      const char32_t composite = Compose(composed[starter], c);
      if (composite != 0) {
        composed[starter] = composite;
        continue;
      }
    }
    if (ccc == 0) {
      starter = static_cast<ptrdiff_t>(composed.size());
      last_ccc = -1;
    } else {
      last_ccc = ccc;
    }
    composed.push_back(c);
  }
  for (char32_t c : composed) utf8::Append(c, out);
}

std::string Nfc(std::string_view text) {
  std::string out;
  AppendNfc(text, &out);
  return out;
}

}  // namespace rs::engine::unicode
