// Tokenizer throughput and load time (GPT-NeoX BPE from ../shared).
//
//   BM_LoadNeox            parse tokenizer.json (~2.4 MB, 50k merges) + build
//   BM_EncodeMixed         ~1 MB of generated English prose and code
//                          (warm word cache: steady state of a server)
//   BM_EncodeUniqueWords   random letter strings: mostly word-cache misses
//   BM_EncodeCjk           Chinese/Japanese text (multi-byte, NFC check)
//   BM_Decode              ids of the mixed corpus back to bytes
//   BM_StreamDecode        the same through StreamDecoder, one id at a time
#include <benchmark/benchmark.h>

#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "engine/tokenizer/tokenizer.h"

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

void EncodeBench(benchmark::State& state, const std::string& text) {
  const Tokenizer* tok = Neox();
  if (tok == nullptr) {
    state.SkipWithError("cannot load GPT-NeoX tokenizer");
    return;
  }
  size_t n_tokens = 0;
  for (auto _ : state) {
    auto ids = tok->Encode(text);
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

void BM_EncodeCjk(benchmark::State& state) {
  static const std::string text = [] {
    std::string s;
    while (s.size() < (1 << 18)) {
      s += "\u6211\u4eec\u6b63\u5728\u6784\u5efa\u4e00\u4e2a\u63a8\u7406\u670d"
           "\u52a1\u5668\u3002"
           "\u3053\u308c\u306f\u65e5\u672c\u8a9e\u306e\u30c6\u30ad\u30b9\u30c8"
           "\u3067\u3059\u3002\n";
    }
    return s;
  }();
  EncodeBench(state, text);
}
BENCHMARK(BM_EncodeCjk)->Unit(benchmark::kMillisecond);

void BM_Decode(benchmark::State& state) {
  const Tokenizer* tok = Neox();
  if (tok == nullptr) {
    state.SkipWithError("cannot load GPT-NeoX tokenizer");
    return;
  }
  const std::vector<int32_t> ids = *tok->Encode(MixedCorpus(1 << 20));
  size_t bytes = 0;
  for (auto _ : state) {
    std::string text = tok->Decode(ids);
    bytes = text.size();
    benchmark::DoNotOptimize(text);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * bytes));
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

}  // namespace
}  // namespace rs::engine
