// Tokenizers: text <-> token ids for the models we serve.
//
//   ByteTokenizer  id == byte value, vocabulary of 256 (byte-level models).
//   BPE            HF `tokenizers` tokenizer.json files of the GPT-2/NeoX kind
//                  (byte-level BPE: NFC normalizer, ByteLevel pre-tokenizer,
//                  BPE model, added tokens), id-for-id identical to HF for the
//                  features it supports; a file using any other feature is
//                  refused with UNIMPLEMENTED rather than mis-tokenized.
//   World          RWKV "world" vocabularies (rwkv_vocab_v20230424.txt):
//                  greedy longest match over the UTF-8 bytes, id-for-id
//                  identical to the official TRIE_TOKENIZER; 65536 ids, id 0
//                  is end-of-text (see world_tokenizer.h for the file format).
//
// Text is UTF-8. Encode() rejects invalid UTF-8 (INVALID_ARGUMENT naming the
// byte offset). Decode() returns raw bytes, which may end inside a UTF-8
// character (a token can be half a character); use StreamDecoder to turn a
// stream of ids into valid text.
//
// Thread-safety: a Tokenizer is immutable after loading (its internal word
// cache is synchronized): all methods may be called concurrently from any
// thread. A StreamDecoder is a small per-stream object: not thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "engine/util/status.h"

namespace rs::engine {

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;

  // The ids of `text`. Errors: INVALID_ARGUMENT ("invalid UTF-8 at byte
  // offset N") when `text` is not valid UTF-8 (truncated sequences,
  // overlong forms, surrogates, code points above U+10FFFF).
  virtual StatusOr<std::vector<int32_t>> Encode(std::string_view text) const = 0;

  // The bytes of `ids` concatenated (added/special tokens decode to their
  // content, e.g. "<|endoftext|>"). Ids outside the vocabulary (negative, >=
  // vocab_size(), or holes in it) are skipped: they decode to nothing. The
  // result may be invalid UTF-8 (e.g. a single id that is half a character).
  virtual std::string Decode(std::span<const int32_t> ids) const = 0;

  // The bytes token `id` decodes to; "" for ids outside the vocabulary.
  // The view stays valid for the tokenizer's lifetime.
  virtual std::string_view TokenBytes(int32_t id) const = 0;

  // One more than the largest id (added tokens included); for the world
  // tokenizer 65536, the models' embedding size (ids the vocabulary file
  // leaves out are holes).
  virtual int64_t vocab_size() const = 0;

  // The end-of-text token ("<|endoftext|>" for GPT-NeoX; 0 for the world
  // tokenizer, where it decodes to nothing); none for bytes.
  virtual std::optional<int32_t> eos_id() const = 0;

  // "gpt-neox-bpe" for byte-level BPE files, "rwkv-world" for the world
  // tokenizer, "bytes" for the byte tokenizer.
  virtual std::string name() const = 0;
};

// The byte tokenizer: Encode returns the bytes of (valid UTF-8) text as ids
// 0..255; Decode skips ids outside 0..255.
std::unique_ptr<Tokenizer> NewByteTokenizer();

// Loads a HF tokenizer.json with a byte-level BPE model.
// Errors: NOT_FOUND (missing file), INVALID_ARGUMENT (not JSON, malformed
// fields, merges naming unknown tokens, ...), UNIMPLEMENTED (a model type,
// normalizer, pre-tokenizer, post-processor or added-token flag that this
// implementation does not support).
StatusOr<std::unique_ptr<Tokenizer>> LoadBpeTokenizer(const std::string& tokenizer_json_path);

// Loads an RWKV world vocabulary (rwkv_vocab_v20230424.txt).
// Errors: NOT_FOUND (missing file), INVALID_ARGUMENT naming the line
// ("PATH:LINE: ...") for a malformed file: a line that is not
// `<id> <literal> <byte length>`, a bad literal or escape, an id outside
// 1..65535 or given twice, a byte length that is not the token's, invalid
// UTF-8, an empty file, or a byte of UTF-8 text with no single-byte token.
StatusOr<std::unique_ptr<Tokenizer>> LoadWorldTokenizer(const std::string& vocab_path);

// The tokenizer file in directory `dir`: tokenizer.json, else
// rwkv_vocab_v20230424.txt, else the rwkv_vocab_*.txt that sorts last (the
// newest version); "" if there is none (or `dir` is not a directory).
std::string FindTokenizerFile(const std::string& dir);

// Loads the tokenizer at `path`: a .json file is a BPE tokenizer, a .txt
// file an RWKV world vocabulary, and a directory the file FindTokenizerFile
// picks in it. Errors as LoadBpeTokenizer / LoadWorldTokenizer; NOT_FOUND for
// a missing file or a directory without a tokenizer; UNIMPLEMENTED for other
// kinds of file.
StatusOr<std::unique_ptr<Tokenizer>> LoadTokenizer(const std::string& path);

// Turns a stream of ids into valid UTF-8 text, emitting each character as
// soon as its last byte arrives and never half a character. Bytes that can
// never become a valid character (e.g. a stray continuation byte) are
// emitted as U+FFFD once that is certain.
//
// Thread-safety: not thread-safe (one per stream). REQUIRES: `tok` outlives
// the decoder.
class StreamDecoder {
 public:
  explicit StreamDecoder(const Tokenizer* tok);

  // Appends the bytes of `id` and returns the text completed by them
  // (valid UTF-8; possibly empty).
  std::string Push(int32_t id);

  // Returns the rest (an incomplete trailing sequence becomes U+FFFD) and
  // resets the decoder for reuse.
  std::string Flush();

 private:
  const Tokenizer* tok_;
  std::string pending_;  // bytes not yet emitted: a prefix of one character
};

}  // namespace rs::engine
