// The byte-level pieces of GPT-2-style BPE (HF `tokenizers` ByteLevel
// pre-tokenizer and decoder):
//
//   * the byte <-> character alphabet: every byte is shown as a printable
//     character (printable Latin-1 bytes as themselves, the others as
//     U+0100 + n in order), which is how byte-level vocab and merges spell
//     tokens ("Ġ" is the space byte);
//   * the GPT-2 pre-tokenizer regex
//       's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+|
//       ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
//     implemented by hand (no regex library), with Oniguruma's semantics
//     (ordered alternation, greedy, backtracking on the look-ahead).
//
// Thread-safety: stateless functions; safe from any thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace rs::engine::byte_level {

// The character that stands for byte `b` in byte-level vocabularies.
char32_t ByteToChar(uint8_t b);

// The byte that character `c` stands for, or -1 if `c` is not one of the
// 256 byte characters.
int CharToByte(char32_t c);

// Maps a byte-level token spelling (UTF-8 of byte characters) back to its
// bytes. Returns false if `token` contains a character that is not a byte
// character (then *out is unspecified). REQUIRES: `token` is valid UTF-8.
bool TokenToBytes(std::string_view token, std::string* out);

// Splits `text` into the pieces matched by the GPT-2 regex, in order; the
// pieces cover `text` exactly. Appends views into `text` to *pieces.
// REQUIRES: `text` is valid UTF-8.
void SplitGpt2(std::string_view text, std::vector<std::string_view>* pieces);

}  // namespace rs::engine::byte_level
