// libFuzzer target for the tokenizers (build with RS_FUZZ=ON and clang).
//
// Each input is used twice:
//   1. as text for Encode on the real GPT-NeoX tokenizer (loaded once from
//      $RS_SHARED_DIR/fixtures/tokenizers/gpt-neox-20b/tokenizer.json) and on
//      the byte tokenizer: invalid UTF-8 must give INVALID_ARGUMENT, valid
//      text ids in range whose decoding is the NFC text (checked through a
//      second encode: encode(decode(ids)) == ids), and the StreamDecoder must
//      emit only valid UTF-8;
//   2. as a tokenizer.json for the loader: any error is fine, a crash or an
//      out-of-bounds read is not (ASan), and a tokenizer that loads must
//      encode its own input without crashing.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>

#include "engine/tokenizer/bpe_tokenizer.h"
#include "engine/tokenizer/tokenizer.h"
#include "engine/util/utf8.h"

#ifndef RS_SHARED_DIR
#define RS_SHARED_DIR "../shared"
#endif

namespace {

const rs::engine::Tokenizer* Neox() {
  static const rs::engine::Tokenizer* tok = []() -> const rs::engine::Tokenizer* {
    const char* env = std::getenv("RS_SHARED_DIR");
    const std::string dir = env != nullptr ? env : RS_SHARED_DIR;
    auto t = rs::engine::LoadBpeTokenizer(dir + "/fixtures/tokenizers/gpt-neox-20b/tokenizer.json");
    if (!t.ok()) {
      std::fprintf(stderr, "tokenizer_fuzz: %s\n", t.status().ToString().c_str());
      std::abort();
    }
    return std::move(t).value().release();
  }();
  return tok;
}

void Check(bool ok) {
  if (!ok) std::abort();
}

void FuzzEncode(const rs::engine::Tokenizer* tok, std::string_view text) {
  auto ids = tok->Encode(text);
  if (!rs::utf8::IsValid(text)) {
    Check(!ids.ok() && ids.status().code() == rs::StatusCode::kInvalidArgument);
    return;
  }
  Check(ids.ok());
  for (int32_t id : *ids) Check(id >= 0 && id < tok->vocab_size());
  const std::string decoded = tok->Decode(*ids);
  Check(rs::utf8::IsValid(decoded));
  auto again = tok->Encode(decoded);  // decoded is NFC: a fixed point
  Check(again.ok() && *again == *ids);
  rs::engine::StreamDecoder dec(tok);
  std::string streamed;
  for (int32_t id : *ids) {
    const std::string piece = dec.Push(id);
    Check(rs::utf8::IsValid(piece));
    streamed += piece;
  }
  streamed += dec.Flush();
  Check(streamed == decoded);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  static const std::unique_ptr<rs::engine::Tokenizer> bytes = rs::engine::NewByteTokenizer();
  FuzzEncode(Neox(), input);
  FuzzEncode(bytes.get(), input);
  auto loaded = rs::engine::LoadBpeTokenizerFromJson(input, "fuzz");
  if (loaded.ok()) {
    auto ids = (*loaded)->Encode(input);
    (void)ids;
  }
  return 0;
}
