// Tokenizer throughput and load time (GPT-NeoX BPE from ../shared).
//
//   BM_LoadNeox            parse tokenizer.json (~2.4 MB, 50k merges) + build
//   BM_EncodeMixed         ~1 MB of generated English prose and code
//                          (warm word cache: steady state of a server)
//   BM_EncodeUniqueWords   random letter strings: mostly word-cache misses
//   BM_EncodeCjk           Chinese/Japanese text (multi-byte, NFC check)
//   BM_Decode              ids of the mixed corpus back to bytes
//   BM_StreamDecode        the same through StreamDecoder, one id at a time
//
// RWKV world tokenizer (rwkv_vocab_v20230424.txt from ../shared):
//   BM_LoadWorld           parse the vocabulary (~1.1 MB, 65529 lines) + trie
//   BM_WorldEncodeMixed    the mixed English/code corpus above
//   BM_WorldEncodeCjk      the Chinese/Japanese text above
//   BM_WorldEncodeVaried   English, code, Chinese, Japanese, Korean, Arabic,
//                          emoji, numbers and whitespace runs interleaved
//   BM_WorldDecode         ids of the varied corpus back to bytes
#include <benchmark/benchmark.h>

#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "engine/tokenizer/tokenizer.h"
#include "engine/tokenizer/world_tokenizer.h"

namespace rs::engine {
namespace {

const std::string kNeoxPath =
    std::string(RS_SHARED_DIR) + "/fixtures/tokenizers/gpt-neox-20b/tokenizer.json";

const Tokenizer* Neox() {
  static const Tokenizer* tok = []() -> const Tokenizer* {
    auto t = LoadBpeTokenizer(kNeoxPath);
    if (!t.ok()) {
      std::fprintf(stderr, "%s\n", t.status().ToString().c_str());
      return nullptr;
    }
    return std::move(t).value().release();
  }();
  return tok;
}

// About `bytes` of English-like prose interleaved with Python and C++ code.
std::string MixedCorpus(size_t bytes) {
  static const char* const kWords[] = {"the",
                                       "of",
                                       "and",
                                       "to",
                                       "in",
                                       "a",
                                       "is",
                                       "that",
                                       "for",
                                       "it",
                                       "as",
                                       "was",
                                       "with",
                                       "be",
                                       "by",
                                       "on",
                                       "not",
                                       "he",
                                       "this",
                                       "are",
                                       "or",
                                       "his",
                                       "from",
                                       "at",
                                       "which",
                                       "but",
                                       "have",
                                       "an",
                                       "had",
                                       "they",
                                       "you",
                                       "were",
                                       "their",
                                       "one",
                                       "all",
                                       "we",
                                       "can",
                                       "her",
                                       "has",
                                       "there",
                                       "been",
                                       "if",
                                       "more",
                                       "when",
                                       "will",
                                       "would",
                                       "who",
                                       "so",
                                       "no",
                                       "model",
                                       "recurrent",
                                       "state",
                                       "inference",
                                       "server",
                                       "latency",
                                       "throughput",
                                       "tokenizer",
                                       "sequence",
                                       "memory",
                                       "batch",
                                       "scheduler",
                                       "request",
                                       "session",
                                       "snapshot",
                                       "kernel",
                                       "performance",
                                       "distributed",
                                       "configuration",
                                       "approximately",
                                       "nevertheless",
                                       "caf\u00e9",
                                       "na\u00efve",
                                       "Mamba",
                                       "RWKV",
                                       "GPU",
                                       "it's",
                                       "don't",
                                       "we're",
                                       "they'll"};
  static const char* const kCode[] = {
      "def forward(self, x: torch.Tensor) -> torch.Tensor:\n"
      "    h = self.norm(x)\n    for layer in self.layers:\n        h = "
      "layer(h) + h\n"
      "    return self.head(h)\n\n",
      "for (int i = 0; i < n; ++i) {\n\tconst float v = x[i] * scale;\n\ty[i] "
      "= v > 0.0f ? v : 0.0f;"
      "  // relu\n}\n",
      "if __name__ == \"__main__\":\n    args = parse_args()\n    "
      "main(args.config, "
      "verbose=True)\n",
      "class StatePool {\n public:\n  explicit StatePool(size_t slots);\n  "
      "StatusOr<int> "
      "Acquire();\n\n private:\n  std::vector<int> free_;\n};\n",
      "    {\"id\": 42, \"name\": \"rwkv7-0.1b\", \"ctx\": 4096, \"ok\": "
      "true},\n"};
  std::mt19937 rng(2024);
  std::string out;
  while (out.size() < bytes) {
    if (rng() % 4 == 0) {
      out += kCode[rng() % std::size(kCode)];
      continue;
    }
    const int sentences = 2 + rng() % 5;
    for (int s = 0; s < sentences; ++s) {
      const int words = 6 + rng() % 18;
      for (int w = 0; w < words; ++w) {
        std::string word = kWords[rng() % std::size(kWords)];
        if (w == 0 && word[0] >= 'a' && word[0] <= 'z') word[0] = static_cast<char>(word[0] - 32);
        out += word;
        if (rng() % 13 == 0) out += ",";
        if (rng() % 29 == 0) {
          out += ' ';
          out += std::to_string(rng() % 10000);
        }
        out += w + 1 < words ? " " : "";
      }
      out += rng() % 7 == 0 ? "? " : ". ";
    }
    out += "\n\n";
  }
  return out;
}

void BM_LoadNeox(benchmark::State& state) {
  for (auto _ : state) {
    auto tok = LoadBpeTokenizer(kNeoxPath);
    if (!tok.ok()) {
      state.SkipWithError(tok.status().ToString().c_str());
      return;
    }
    benchmark::DoNotOptimize(tok);
  }
}
BENCHMARK(BM_LoadNeox)->Unit(benchmark::kMillisecond);

void EncodeWith(benchmark::State& state, const Tokenizer* tok, const std::string& text);

void EncodeBench(benchmark::State& state, const std::string& text) {
  const Tokenizer* tok = Neox();
  if (tok == nullptr) {
    state.SkipWithError("cannot load GPT-NeoX tokenizer");
    return;
  }
  EncodeWith(state, tok, text);
}

// Encodes `text` with `tok` each iteration; reports bytes/s and tokens/s.
void EncodeWith(benchmark::State& state, const Tokenizer* tok, const std::string& text) {
  size_t n_tokens = 0;
  for (auto _ : state) {
    auto ids = tok->Encode(text);
    if (!ids.ok()) {
      state.SkipWithError(ids.status().ToString().c_str());
      return;
    }
    n_tokens = ids->size();
    benchmark::DoNotOptimize(ids);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * text.size()));
  state.counters["tokens"] = static_cast<double>(n_tokens);
  state.counters["bytes/token"] = static_cast<double>(text.size()) / n_tokens;
  state.counters["tokens/s"] = benchmark::Counter(
      static_cast<double>(n_tokens) * state.iterations(), benchmark::Counter::kIsRate);
}

void BM_EncodeMixed(benchmark::State& state) {
  static const std::string text = MixedCorpus(1 << 20);
  EncodeBench(state, text);
}
BENCHMARK(BM_EncodeMixed)->Unit(benchmark::kMillisecond);

void BM_EncodeUniqueWords(benchmark::State& state) {
  static const std::string text = [] {
    std::mt19937 rng(7);
    std::string s;
    while (s.size() < (1 << 18)) {
      s += ' ';
      const int len = 3 + rng() % 10;
      for (int i = 0; i < len; ++i) s += static_cast<char>('a' + rng() % 26);
    }
    return s;
  }();
  EncodeBench(state, text);
}
BENCHMARK(BM_EncodeUniqueWords)->Unit(benchmark::kMillisecond);

std::string CjkCorpus() {
  std::string s;
  while (s.size() < (1 << 18)) {
    s += "\u6211\u4eec\u6b63\u5728\u6784\u5efa\u4e00\u4e2a\u63a8\u7406\u670d"
         "\u52a1\u5668\u3002"
         "\u3053\u308c\u306f\u65e5\u672c\u8a9e\u306e\u30c6\u30ad\u30b9\u30c8"
         "\u3067\u3059\u3002\n";
  }
  return s;
}

void BM_EncodeCjk(benchmark::State& state) {
  static const std::string text = CjkCorpus();
  EncodeBench(state, text);
}
BENCHMARK(BM_EncodeCjk)->Unit(benchmark::kMillisecond);

// Decodes the ids of `text` (bytes/s of text produced).
void DecodeBench(benchmark::State& state, const Tokenizer* tok, const char* what, const std::string& text) {
  if (tok == nullptr) {
    state.SkipWithError((std::string("cannot load ") + what).c_str());
    return;
  }
  const std::vector<int32_t> ids = *tok->Encode(text);
  size_t bytes = 0;
  for (auto _ : state) {
    std::string out = tok->Decode(ids);
    bytes = out.size();
    benchmark::DoNotOptimize(out);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * bytes));
}

void BM_Decode(benchmark::State& state) {
  DecodeBench(state, Neox(), "GPT-NeoX tokenizer", MixedCorpus(1 << 20));
}
BENCHMARK(BM_Decode)->Unit(benchmark::kMillisecond);

void BM_StreamDecode(benchmark::State& state) {
  const Tokenizer* tok = Neox();
  if (tok == nullptr) {
    state.SkipWithError("cannot load GPT-NeoX tokenizer");
    return;
  }
  const std::vector<int32_t> ids = *tok->Encode(MixedCorpus(1 << 18));
  for (auto _ : state) {
    StreamDecoder dec(tok);
    size_t bytes = 0;
    for (int32_t id : ids) bytes += dec.Push(id).size();
    benchmark::DoNotOptimize(bytes);
  }
  state.counters["tokens/s"] = benchmark::Counter(
      static_cast<double>(ids.size()) * state.iterations(), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_StreamDecode)->Unit(benchmark::kMillisecond);

// ---- RWKV world tokenizer ------------------------------------------------

const std::string kWorldPath =
    std::string(RS_SHARED_DIR) + "/fixtures/tokenizers/rwkv-world/rwkv_vocab_v20230424.txt";

const Tokenizer* World() {
  static const Tokenizer* tok = []() -> const Tokenizer* {
    auto t = LoadWorldTokenizer(kWorldPath);
    if (!t.ok()) {
      std::fprintf(stderr, "%s\n", t.status().ToString().c_str());
      return nullptr;
    }
    return std::move(t).value().release();
  }();
  return tok;
}

// About `bytes` of varied text: the mixed English/code corpus cut into
// paragraphs, interleaved with Chinese, Japanese, Korean, Arabic, emoji
// (ZWJ sequences too), numbers and runs of spaces/tabs/newlines.
std::string VariedCorpus(size_t bytes) {
  static const char* const kOther[] = {
      "\u6211\u4eec\u6b63\u5728\u6784\u5efa\u4e00\u4e2a\u63a8\u7406\u670d\u52a1\u5668\uff0c"
      "\u5b83\u652f\u6301\u5faa\u73af\u795e\u7ecf\u7f51\u7edc\u6a21\u578b\u3002",
      "\u3053\u308c\u306f\u65e5\u672c\u8a9e\u306e\u30c6\u30ad\u30b9\u30c8\u3067\u3059\u3002",
      "\ud55c\uad6d\uc5b4 \ud14d\uc2a4\ud2b8\uc785\ub2c8\ub2e4. \uc548\ub155\ud558\uc138\uc694!",
      "\u0645\u0631\u062d\u0628\u0627 \u0628\u0627\u0644\u0639\u0627\u0644\u0645\u060c "
      "\u0647\u0630\u0627 \u0646\u0635 \u0639\u0631\u0628\u064a.",
      "I \u2764\ufe0f RWKV \U0001f680 \U0001f468\u200d\U0001f469\u200d\U0001f467 "
      "\U0001f44d\U0001f3fd",
      "3.14159 2023-04-24 1,000,000 0x7fff -42 ",
      "        \t\t\n\n\n    ",
  };
  const std::string mixed = MixedCorpus(bytes);
  std::mt19937 rng(77);
  std::string out;
  size_t pos = 0;
  while (out.size() < bytes && pos < mixed.size()) {
    size_t n = 200 + rng() % 600;  // then up to a character boundary
    while (pos + n < mixed.size() && (static_cast<unsigned char>(mixed[pos + n]) & 0xC0) == 0x80) {
      ++n;
    }
    out.append(mixed, pos, n);
    pos += n;
    const int k = 1 + static_cast<int>(rng() % 4);
    for (int i = 0; i < k; ++i) out += kOther[rng() % std::size(kOther)];
  }
  return out;
}

void WorldEncodeBench(benchmark::State& state, const std::string& text) {
  const Tokenizer* tok = World();
  if (tok == nullptr) {
    state.SkipWithError("cannot load the RWKV world vocabulary");
    return;
  }
  EncodeWith(state, tok, text);
}

void BM_LoadWorld(benchmark::State& state) {
  for (auto _ : state) {
    auto tok = LoadWorldTokenizer(kWorldPath);
    if (!tok.ok()) {
      state.SkipWithError(tok.status().ToString().c_str());
      return;
    }
    benchmark::DoNotOptimize(tok);
  }
}
BENCHMARK(BM_LoadWorld)->Unit(benchmark::kMillisecond);

void BM_WorldEncodeMixed(benchmark::State& state) {
  static const std::string text = MixedCorpus(1 << 20);
  WorldEncodeBench(state, text);
}
BENCHMARK(BM_WorldEncodeMixed)->Unit(benchmark::kMillisecond);

void BM_WorldEncodeCjk(benchmark::State& state) {
  static const std::string text = CjkCorpus();
  WorldEncodeBench(state, text);
}
BENCHMARK(BM_WorldEncodeCjk)->Unit(benchmark::kMillisecond);

void BM_WorldEncodeVaried(benchmark::State& state) {
  static const std::string text = VariedCorpus(1 << 20);
  WorldEncodeBench(state, text);
}
BENCHMARK(BM_WorldEncodeVaried)->Unit(benchmark::kMillisecond);

void BM_WorldDecode(benchmark::State& state) {
  DecodeBench(state, World(), "the RWKV world vocabulary", VariedCorpus(1 << 20));
}
BENCHMARK(BM_WorldDecode)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace rs::engine
