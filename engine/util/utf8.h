// UTF-8 helpers shared by the JSON parser, tokenizers and stream decoders.
// Strict UTF-8 (RFC 3629): no overlong forms, no surrogates, <= U+10FFFF.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace rs::utf8 {

// Length (1..4) of the valid UTF-8 character at the start of `s`, or 0 if
// the bytes there are not a complete valid character.
size_t ValidPrefixLength(std::string_view s);

// Offset of the first byte that does not start a valid character, or npos.
size_t FindInvalid(std::string_view s);
inline bool IsValid(std::string_view s) { return FindInvalid(s) == std::string_view::npos; }

// Decodes the character at s[*pos] and advances *pos. REQUIRES: valid UTF-8.
uint32_t DecodeValid(std::string_view s, size_t* pos);

// Appends the UTF-8 encoding of code point cp (REQUIRES: cp <= 0x10FFFF).
void Append(uint32_t cp, std::string* out);

// Whether `s` (shorter than its lead byte says) could still become one valid
// character with more bytes: a proper prefix of a valid encoding.
bool IsIncompleteCharacter(std::string_view s);

// Length of the longest prefix of `s` that does not end inside a character
// that could still be completed by more bytes (for streaming decoders):
// bytes after it are an incomplete but so-far-valid sequence.
size_t CompletePrefixLength(std::string_view s);

// Replaces every invalid byte with U+FFFD.
std::string Sanitize(std::string_view s);

}  // namespace rs::utf8
