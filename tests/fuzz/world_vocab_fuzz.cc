// libFuzzer target for the RWKV world vocabulary parser (build with
// RS_FUZZ=ON and clang; scripts/fuzz world_vocab_fuzz).
//
// The first input byte picks the mode; the rest is vocabulary text:
//   even  parsed as the whole file;
//   odd   appended to 243 valid single-byte lines (one for every byte that
//         can occur in UTF-8), so that the fuzzer reaches the trie and the
//         encoder without first having to discover those lines.
// Any error is fine; a crash, an out-of-bounds access (ASan) or undefined
// behaviour (UBSan) is not. A tokenizer that loads must encode texts (valid
// UTF-8: ids in range whose decoding is the text, and a StreamDecoder that
// emits only valid UTF-8 and in total the text; invalid UTF-8:
// INVALID_ARGUMENT), and a failed load must be INVALID_ARGUMENT naming the
// source.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>

#include "engine/tokenizer/tokenizer.h"
#include "engine/tokenizer/world_tokenizer.h"
#include "engine/util/utf8.h"

namespace {

void Check(bool ok) {
  if (!ok) std::abort();
}

const std::string& ByteLines() {
  static const std::string lines = [] {
    std::string s;
    char buf[32];
    for (int b = 0; b < 0xF5; ++b) {
      if (b == 0xC0 || b == 0xC1) continue;
      std::snprintf(buf, sizeof(buf), "%d b'\\x%02x' 1\n", b + 1, b);
      s += buf;
    }
    return s;
  }();
  return lines;
}

void CheckEncode(const rs::engine::Tokenizer& tok, std::string_view text) {
  auto ids = tok.Encode(text);
  if (!rs::utf8::IsValid(text)) {
    Check(!ids.ok() && ids.status().code() == rs::StatusCode::kInvalidArgument);
    return;
  }
  Check(ids.ok());
  for (int32_t id : *ids) {
    Check(id > 0 && id < tok.vocab_size());
    Check(!tok.TokenBytes(id).empty());
  }
  Check(tok.Decode(*ids) == text);
  rs::engine::StreamDecoder dec(&tok);
  std::string streamed;
  for (int32_t id : *ids) {
    const std::string piece = dec.Push(id);
    Check(rs::utf8::IsValid(piece));
    streamed += piece;
  }
  streamed += dec.Flush();
  Check(streamed == text);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view body(reinterpret_cast<const char*>(data) + 1, size - 1);
  const std::string text = (data[0] & 1) ? ByteLines() + std::string(body) : std::string(body);
  auto tok = rs::engine::LoadWorldTokenizerFromText(text, "fuzz");
  if (!tok.ok()) {
    Check(tok.status().code() == rs::StatusCode::kInvalidArgument);
    Check(tok.status().message().rfind("fuzz", 0) == 0);
    return 0;
  }
  Check((*tok)->vocab_size() == rs::engine::kWorldVocabSize);
  // Texts: the input itself, a fixed multilingual one, and the bytes of the
  // loaded tokens (which walk the trie's deepest paths).
  CheckEncode(**tok, body);
  CheckEncode(**tok, "Hello, world! caf\xc3\xa9 \xe4\xb8\xad\xe6\x96\x87 \xf0\x9f\x98\x80\r\n\t ");
  std::string tokens;
  for (int32_t id = 0; id < 70000 && tokens.size() < 4096; id += 1 + id / 64) {
    tokens.append((*tok)->TokenBytes(id));
  }
  CheckEncode(**tok, tokens);
  return 0;
}
