// Byte-level BPE from a HF tokenizer.json (see tokenizer.h for the public
// entry points). This header exposes loading from JSON text, for tests and
// fuzzing without files.
//
// Supported (anything else is refused with UNIMPLEMENTED):
//   normalizer     null or NFC
//   pre_tokenizer  ByteLevel (add_prefix_space false, use_regex true)
//   model          BPE (no dropout, no continuing_subword_prefix or
//                  end_of_word_suffix; ignore_merges supported; unk_token,
//                  fuse_unk and byte_fallback accepted but never used, since
//                  every byte of UTF-8 text must have a token)
//   post_processor null or ByteLevel (offsets only: adds no ids)
//   decoder        null or ByteLevel
//   added_tokens   any, with single_word, lstrip and rstrip false; tokens
//                  with normalized=false are matched in the raw text, those
//                  with normalized=true in each normalized gap between them
//   truncation, padding: null
//
// The pipeline (HF's): split out non-normalized added tokens; NFC each gap;
// split out normalized added tokens; pre-tokenize each remaining gap with
// the GPT-2 regex; BPE each word over its bytes.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "engine/tokenizer/tokenizer.h"
#include "engine/util/status.h"

namespace rs::engine {

// Errors as LoadBpeTokenizer; `source` names the input in messages.
StatusOr<std::unique_ptr<Tokenizer>> LoadBpeTokenizerFromJson(std::string_view json_text,
                                                              const std::string& source);

}  // namespace rs::engine
