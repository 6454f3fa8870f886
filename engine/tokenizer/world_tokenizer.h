// The RWKV "world" tokenizer (see tokenizer.h for the public entry points).
// This header exposes loading from the text of a vocabulary file, for tests
// and fuzzing without files.
//
// Vocabulary file (rwkv_vocab_v20230424.txt): UTF-8 text, one token a line
// (lines end in \n, \r\n or \r, as Python's text mode reads them):
//
//   <id> <python literal> <byte length>
//
// The id is decimal, 1..65535 (id 0 is end-of-text and is not in the file;
// the official file has 1..65529). The literal is what the official loader
// passes to Python's eval(): split at the first and the last space of the
// line. Supported literals: '…' and "…" str literals (optionally u-prefixed),
// UTF-8 encoded, and b'…' / b"…" bytes literals (ASCII characters only),
// with Python's escapes: \\ \' \" \a \b \f \n \r \t \v, \ooo (octal, at most
// 0o377), \xHH (in a str: the code point U+00HH; in bytes: the byte), and in
// a str \uXXXX and \UXXXXXXXX (no surrogates, at most U+10FFFF). The length
// field must equal the length of the token's bytes. Stricter than Python
// 3.11 (each an error here): unknown escapes such as \q and octal escapes
// above 0o377 (Python accepts them with a DeprecationWarning), \N{name},
// raw (r'…'), f-strings, triple quotes, concatenated literals, and any
// expression that is not a single literal.
//
// Two lines may spell the same bytes (both ids decode to them); encoding
// then uses the later line's id, as TRIE_TOKENIZER does. A token of zero
// bytes is accepted and never produced by Encode. Every byte that can occur
// in UTF-8 text (0x00-0xF4 except 0xC0, 0xC1) must have a single-byte token,
// so that every valid text can be encoded.
//
// Encoding is greedy longest match over the UTF-8 bytes (id-for-id the
// official `rwkv.rwkv_tokenizer.TRIE_TOKENIZER`), on a double-array trie.
// vocab_size() is 65536, the size of the world models' embedding; ids the
// file leaves out (0, 65530..65535 in the official file) decode to nothing.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "engine/tokenizer/tokenizer.h"
#include "engine/util/status.h"

namespace rs::engine {

// The world models' vocabulary: ids are 0..kWorldVocabSize-1.
inline constexpr int64_t kWorldVocabSize = 65536;

// The file name of the official vocabulary.
inline constexpr const char* kWorldVocabFileName = "rwkv_vocab_v20230424.txt";

// Errors as LoadWorldTokenizer; `source` names the input in messages
// ("source:LINE: what is wrong").
StatusOr<std::unique_ptr<Tokenizer>> LoadWorldTokenizerFromText(std::string_view text,
                                                                const std::string& source);

}  // namespace rs::engine
