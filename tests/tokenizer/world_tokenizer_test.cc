// The RWKV world tokenizer against the official TRIE_TOKENIZER's goldens
// (tests/data/tokenizer/make_world_goldens.py), plus small synthetic
// vocabularies for the parser, malformed files, streaming and dispatch.
#include "engine/tokenizer/world_tokenizer.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "engine/tokenizer/tokenizer.h"
#include "engine/util/json.h"
#include "engine/util/utf8.h"
#include "tests/tokenizer/tokenizer_test_util.h"

namespace rs::engine {
namespace {

using testing::IdsToString;
using testing::ReadFileOrDie;

std::string WorldVocabPath() {
  return std::string(RS_SHARED_DIR) + "/fixtures/tokenizers/rwkv-world/rwkv_vocab_v20230424.txt";
}

std::string WorldGoldensPath() {
  return std::string(RS_SOURCE_DIR) + "/tests/data/tokenizer/world_goldens.json";
}

const Tokenizer* World() {
  static const Tokenizer* tok = []() -> const Tokenizer* {
    auto t = LoadWorldTokenizer(WorldVocabPath());
    EXPECT_TRUE(t.ok()) << t.status().ToString();
    return t.ok() ? std::move(t).value().release() : nullptr;
  }();
  return tok;
}

#define RS_REQUIRE_WORLD()                                     \
  do {                                                         \
    if (!std::filesystem::exists(WorldVocabPath())) {          \
      GTEST_SKIP() << "fixture missing: " << WorldVocabPath(); \
    }                                                          \
    ASSERT_NE(World(), nullptr);                               \
  } while (0)

struct Golden {
  std::string name, text;
  std::vector<int32_t> ids;
  bool splits_a_character = false;
};

struct Goldens {
  std::vector<Golden> cases;
  std::vector<std::pair<int32_t, std::string>> tokens;  // id -> hex of its bytes
  std::string tokens_fnv1a64;
};

const Goldens& LoadGoldens() {
  static const Goldens goldens = [] {
    Goldens out;
    auto root = json::Parse(ReadFileOrDie(WorldGoldensPath()));
    EXPECT_TRUE(root.ok()) << root.status().ToString();
    if (!root.ok()) return out;
    for (const json::Value& c : root->Find("cases")->AsArray()) {
      Golden g{c.Find("name")->AsString(),
               c.Find("text")->AsString(),
               {},
               c.Find("splits_a_character")->AsBool()};
      for (const json::Value& id : c.Find("ids")->AsArray()) {
        g.ids.push_back(static_cast<int32_t>(id.AsInt()));
      }
      out.cases.push_back(std::move(g));
    }
    for (const json::Value& t : root->Find("tokens")->AsArray()) {
      out.tokens.emplace_back(static_cast<int32_t>(t.Find("id")->AsInt()),
                              t.Find("hex")->AsString());
    }
    out.tokens_fnv1a64 = root->Find("tokens_fnv1a64")->AsString();
    return out;
  }();
  return goldens;
}

std::string Hex(std::string_view bytes) {
  std::string out;
  char buf[4];
  for (char c : bytes) {
    std::snprintf(buf, sizeof(buf), "%02x", static_cast<unsigned char>(c));
    out += buf;
  }
  return out;
}

// ---- The official vocabulary against TRIE_TOKENIZER ----------------------

TEST(WorldTokenizerTest, Metadata) {
  RS_REQUIRE_WORLD();
  EXPECT_EQ(World()->name(), "rwkv-world");
  EXPECT_EQ(World()->vocab_size(), 65536);
  ASSERT_TRUE(World()->eos_id().has_value());
  EXPECT_EQ(*World()->eos_id(), 0);
  EXPECT_EQ(World()->TokenBytes(0), "");
  EXPECT_EQ(World()->TokenBytes(1), std::string(1, '\0'));
  EXPECT_EQ(World()->TokenBytes(257), "\t\t");
  EXPECT_EQ(World()->TokenBytes(65529), std::string(128, ' '));
  EXPECT_EQ(World()->TokenBytes(65530), "");
  EXPECT_EQ(World()->TokenBytes(65535), "");
  EXPECT_EQ(World()->TokenBytes(65536), "");
  EXPECT_EQ(World()->TokenBytes(-1), "");
}

TEST(WorldTokenizerTest, EveryTokenMatchesTheReference) {
  RS_REQUIRE_WORLD();
  const Goldens& g = LoadGoldens();
  ASSERT_GE(g.tokens.size(), 1000u);
  for (const auto& [id, hex] : g.tokens) EXPECT_EQ(Hex(World()->TokenBytes(id)), hex) << id;
  uint64_t fnv = 0xcbf29ce484222325ull;
  auto mix = [&fnv](unsigned char b) { fnv = (fnv ^ b) * 0x100000001b3ull; };
  for (int32_t id = 0; id < 65536; ++id) {
    const std::string_view bytes = World()->TokenBytes(id);
    const auto n = static_cast<uint32_t>(bytes.size());
    for (int k = 0; k < 4; ++k) mix(static_cast<unsigned char>(n >> (8 * k)));
    for (char c : bytes) mix(static_cast<unsigned char>(c));
  }
  char buf[20];
  std::snprintf(buf, sizeof(buf), "%016llx", static_cast<unsigned long long>(fnv));
  EXPECT_EQ(buf, g.tokens_fnv1a64);
}

TEST(WorldTokenizerTest, MatchesTrieTokenizerGoldens) {
  RS_REQUIRE_WORLD();
  const Goldens& g = LoadGoldens();
  ASSERT_GE(g.cases.size(), 50u);
  for (const Golden& c : g.cases) {
    auto ids = World()->Encode(c.text);
    ASSERT_TRUE(ids.ok()) << c.name << ": " << ids.status().ToString();
    EXPECT_EQ(IdsToString(*ids), IdsToString(c.ids)) << c.name;
  }
}

TEST(WorldTokenizerTest, DecodeRoundTrips) {
  RS_REQUIRE_WORLD();
  for (const Golden& c : LoadGoldens().cases) {
    EXPECT_EQ(World()->Decode(c.ids), c.text) << c.name;
  }
}

// Tokens may end inside a UTF-8 character; the StreamDecoder must still emit
// only whole characters, and in total exactly the text.
TEST(WorldTokenizerTest, StreamDecoderNeverEmitsHalfACharacter) {
  RS_REQUIRE_WORLD();
  int split_cases = 0;
  for (const Golden& c : LoadGoldens().cases) {
    bool has_partial_token = false;
    for (int32_t id : c.ids) has_partial_token |= !utf8::IsValid(World()->TokenBytes(id));
    EXPECT_EQ(has_partial_token, c.splits_a_character) << c.name;
    split_cases += has_partial_token;
    StreamDecoder dec(World());
    std::string streamed;
    size_t pushed_bytes = 0;
    int held_back = 0;  // pushes after which the decoder holds back bytes
    for (int32_t id : c.ids) {
      const std::string piece = dec.Push(id);
      EXPECT_TRUE(utf8::IsValid(piece)) << c.name << ": id " << id;
      streamed += piece;
      pushed_bytes += World()->TokenBytes(id).size();
      held_back += streamed.size() < pushed_bytes;
    }
    EXPECT_EQ(dec.Flush(), "") << c.name;
    EXPECT_EQ(streamed, c.text) << c.name;
    if (has_partial_token) {
      EXPECT_GT(held_back, 0) << c.name;
    }
  }
  EXPECT_GE(split_cases, 5);
}

TEST(WorldTokenizerTest, KnownSmallCases) {
  RS_REQUIRE_WORLD();
  auto ids = World()->Encode("");
  ASSERT_TRUE(ids.ok());
  EXPECT_TRUE(ids->empty());
  // Every single byte of ASCII is its own id (byte + 1).
  for (int b = 0; b < 128; ++b) {
    auto one = World()->Encode(std::string(1, static_cast<char>(b)));
    ASSERT_TRUE(one.ok());
    EXPECT_EQ(IdsToString(*one), std::to_string(b + 1));
  }
}

TEST(WorldTokenizerTest, RejectsInvalidUtf8WithOffset) {
  RS_REQUIRE_WORLD();
  const std::pair<std::string, size_t> cases[] = {
      {"ab\xff"
       "cd",
       2},
      {"\xe4\xb8", 0},
      {"ok \xed\xa0\x80", 3},
      {"x\xc0\xaf", 1},
      {"\xf4\x90\x80\x80", 0},
      {"abc\x80", 3},
  };
  for (const auto& [text, offset] : cases) {
    auto ids = World()->Encode(text);
    ASSERT_FALSE(ids.ok()) << Hex(text);
    EXPECT_EQ(ids.status().code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(ids.status().message(), "invalid UTF-8 at byte offset " + std::to_string(offset));
  }
}

TEST(WorldTokenizerTest, DecodeSkipsUnknownIds) {
  RS_REQUIRE_WORLD();
  const std::vector<int32_t> ids = {-5, 0, 66, 65530, 65535, 65536, 1 << 30, 67};
  EXPECT_EQ(World()->Decode(ids), "AB");
}

// Random text from many scripts: decode(encode(x)) == x and every id is in
// range; tokens of the real vocabulary never straddle what they should not.
TEST(WorldTokenizerTest, RandomTextRoundTrips) {
  RS_REQUIRE_WORLD();
  std::mt19937 rng(99);
  const uint32_t ranges[][2] = {{0x0, 0x7f},        {0x80, 0x7ff},      {0x4e00, 0x9fff},
                                {0xac00, 0xd7a3},   {0x3040, 0x30ff},   {0x600, 0x6ff},
                                {0x1f300, 0x1faff}, {0x10000, 0x10ffff}};
  for (int trial = 0; trial < 200; ++trial) {
    std::string text;
    const int n = static_cast<int>(rng() % 200);
    for (int i = 0; i < n; ++i) {
      const auto& r = ranges[rng() % std::size(ranges)];
      uint32_t cp = r[0] + rng() % (r[1] - r[0] + 1);
      if (cp >= 0xd800 && cp <= 0xdfff) cp = 'x';
      utf8::Append(cp, &text);
    }
    auto ids = World()->Encode(text);
    ASSERT_TRUE(ids.ok());
    for (int32_t id : *ids) ASSERT_TRUE(id >= 1 && id <= 65529) << id;
    EXPECT_EQ(World()->Decode(*ids), text);
  }
}

TEST(WorldTokenizerTest, ConcurrentEncodeIsDeterministic) {
  RS_REQUIRE_WORLD();
  const Goldens& g = LoadGoldens();
  std::vector<std::thread> threads;
  std::vector<int> mismatches(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int round = 0; round < 20; ++round) {
        for (const Golden& c : g.cases) {
          auto ids = World()->Encode(c.text);
          if (!ids.ok() || *ids != c.ids) ++mismatches[t];
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int t = 0; t < 4; ++t) EXPECT_EQ(mismatches[t], 0) << t;
}

TEST(WorldTokenizerTest, CrlfFileLoadsTheSame) {
  RS_REQUIRE_WORLD();
  const std::string lf = ReadFileOrDie(WorldVocabPath());
  std::string crlf;
  for (char c : lf) {
    if (c == '\n') crlf += '\r';
    crlf += c;
  }
  auto tok = LoadWorldTokenizerFromText(crlf, "crlf");
  ASSERT_TRUE(tok.ok()) << tok.status().ToString();
  for (int32_t id = 0; id < 65536; ++id) {
    ASSERT_EQ((*tok)->TokenBytes(id), World()->TokenBytes(id)) << id;
  }
  for (const Golden& c : LoadGoldens().cases) {
    EXPECT_EQ(IdsToString(*(*tok)->Encode(c.text)), IdsToString(c.ids)) << c.name;
  }
}

// ---- Synthetic vocabularies ----------------------------------------------

// Single-byte tokens for every byte, ids byte + 1, as the official file
// spells them ('\x00'..'\x7f' as str, b'\x80'..b'\xff' as bytes).
std::string ByteLines() {
  std::string s;
  char buf[32];
  for (int b = 0; b < 256; ++b) {
    std::snprintf(buf, sizeof(buf), b < 128 ? "%d '\\x%02x' 1\n" : "%d b'\\x%02x' 1\n", b + 1, b);
    s += buf;
  }
  return s;
}

std::string LoadStatus(const std::string& text) {
  auto tok = LoadWorldTokenizerFromText(text, "v.txt");
  return tok.ok() ? "OK" : tok.status().ToString();
}

std::unique_ptr<Tokenizer> MustLoad(const std::string& text) {
  auto tok = LoadWorldTokenizerFromText(text, "v.txt");
  EXPECT_TRUE(tok.ok()) << tok.status().ToString();
  return tok.ok() ? std::move(tok).value() : nullptr;
}

std::string EncodeToString(const Tokenizer& tok, std::string_view text) {
  auto ids = tok.Encode(text);
  return ids.ok() ? IdsToString(*ids) : ids.status().ToString();
}

TEST(WorldVocabTest, GreedyLongestMatchBacktracks) {
  auto tok =
      MustLoad(ByteLines() + "300 'ab' 2\n301 'abcd' 4\n302 'abcdef' 6\n303 'bc' 2\n304 'cde' 3\n");
  ASSERT_NE(tok, nullptr);
  EXPECT_EQ(EncodeToString(*tok, "abcdef"), "302");
  EXPECT_EQ(EncodeToString(*tok, "abcde"), "301 102");      // abcd + e (abcde is no token)
  EXPECT_EQ(EncodeToString(*tok, "abcdeX"), "301 102 89");  // walks to 'e', backs up to abcd
  EXPECT_EQ(EncodeToString(*tok, "abc"), "300 100");        // not b+c: greedy from the left
  EXPECT_EQ(EncodeToString(*tok, "bcde"), "303 101 102");   // bc, then d, e
  EXPECT_EQ(EncodeToString(*tok, "xcdex"), "121 304 121");
  EXPECT_EQ(tok->Decode(*tok->Encode("abcdeX")), "abcdeX");
}

TEST(WorldVocabTest, LiteralForms) {
  auto tok = MustLoad(ByteLines() +
                      "300 \"it's\" 4\n"
                      "301 'say \"hi\"' 8\n"
                      "302 '\\n\\t\\r\\\\\\'\\\"' 6\n"
                      "303 '\\a\\b\\f\\v\\0' 5\n"
                      "304 '\\101\\1012\\7' 4\n"
                      "305 '\\xe9' 2\n"
                      "306 b'\\xe9' 1\n"
                      "307 '\\u00e9\\U0001F600' 6\n"
                      "308 '\xe4\xb8\xad\xe6\x96\x87' 6\n"
                      "309 u'uni' 3\n"
                      "310 B'BYTES' 5\n"
                      "312 ' ' 1\n"
                      "313 '  two  ' 7\n"
                      "314 '\t' 1\n"
                      "315 '' 0\n"
                      "316 \"\" 0\n"
                      "65535 'last' 4\n");
  ASSERT_NE(tok, nullptr);
  EXPECT_EQ(tok->TokenBytes(300), "it's");
  EXPECT_EQ(tok->TokenBytes(301), "say \"hi\"");
  EXPECT_EQ(tok->TokenBytes(302), "\n\t\r\\'\"");
  EXPECT_EQ(tok->TokenBytes(303), std::string("\a\b\f\v\0", 5));
  EXPECT_EQ(tok->TokenBytes(304), "AA2\a");
  EXPECT_EQ(tok->TokenBytes(305), "\xc3\xa9");  // a code point in a str
  EXPECT_EQ(tok->TokenBytes(306), "\xe9");      // a byte in bytes
  EXPECT_EQ(tok->TokenBytes(307), "\xc3\xa9\xf0\x9f\x98\x80");
  EXPECT_EQ(tok->TokenBytes(308), "\xe4\xb8\xad\xe6\x96\x87");
  EXPECT_EQ(tok->TokenBytes(309), "uni");
  EXPECT_EQ(tok->TokenBytes(310), "BYTES");
  EXPECT_EQ(tok->TokenBytes(312), " ");
  EXPECT_EQ(tok->TokenBytes(313), "  two  ");
  EXPECT_EQ(tok->TokenBytes(314), "\t");
  EXPECT_EQ(tok->TokenBytes(315), "");
  EXPECT_EQ(tok->TokenBytes(65535), "last");
  EXPECT_EQ(EncodeToString(*tok, "say \"hi\"  two  \xc3\xa9"), "301 313 305");
  EXPECT_EQ(EncodeToString(*tok, "last"), "65535");
}

TEST(WorldVocabTest, DuplicateBytesLaterLineWins) {
  // TRIE_TOKENIZER's token2idx keeps the last id for equal bytes; both
  // decode.
  auto tok = MustLoad(ByteLines() + "400 'ab' 2\n300 b'ab' 2\n");
  ASSERT_NE(tok, nullptr);
  EXPECT_EQ(EncodeToString(*tok, "abab"), "300 300");
  EXPECT_EQ(tok->TokenBytes(400), "ab");
  EXPECT_EQ(tok->TokenBytes(300), "ab");
  // A later single-byte duplicate replaces the byte's id too.
  auto tok2 = MustLoad(ByteLines() + "500 'a' 1\n");
  ASSERT_NE(tok2, nullptr);
  EXPECT_EQ(EncodeToString(*tok2, "ba"), "99 500");
}

TEST(WorldVocabTest, LineEndings) {
  std::string lines = ByteLines() + "300 'ab' 2";  // no final newline
  auto lf = MustLoad(lines);
  std::string crlf, cr;
  for (char c : lines) {
    crlf += c == '\n' ? std::string("\r\n") : std::string(1, c);
    cr += c == '\n' ? '\r' : c;
  }
  auto t_crlf = MustLoad(crlf);
  auto t_cr = MustLoad(cr + "\r");
  ASSERT_TRUE(lf && t_crlf && t_cr);
  for (const Tokenizer* t : {lf.get(), t_crlf.get(), t_cr.get()}) {
    EXPECT_EQ(EncodeToString(*t, "abc\r\n"), "300 100 14 11");
  }
}

TEST(WorldVocabTest, MalformedFilesGiveClearErrors) {
  const std::string base = ByteLines();  // 256 lines: the bad line is line 257
  const std::pair<std::string, std::string> cases[] = {
      {"", "INVALID_ARGUMENT: v.txt: empty vocabulary file"},
      {"300 'ab' 2\n\n301 'cd' 2\n", "INVALID_ARGUMENT: v.txt:258: empty line"},
      {"300'ab'2\n", "INVALID_ARGUMENT: v.txt:257: expected \"<id> <literal> <byte length>\""},
      {"300 'ab'\n", "INVALID_ARGUMENT: v.txt:257: expected \"<id> <literal> <byte length>\""},
      {"0 'ab' 2\n", "INVALID_ARGUMENT: v.txt:257: id 0 is reserved for end-of-text"},
      {"65536 'ab' 2\n",
       "INVALID_ARGUMENT: v.txt:257: the id \"65536\" is not a number in 1..65535"},
      {"99999999999999999999 'ab' 2\n", "INVALID_ARGUMENT: v.txt:257: the id"},
      {"-3 'ab' 2\n", "INVALID_ARGUMENT: v.txt:257: the id \"-3\""},
      {"x1 'ab' 2\n", "INVALID_ARGUMENT: v.txt:257: the id \"x1\""},
      {"300 'ab' two\n", "INVALID_ARGUMENT: v.txt:257: the byte length \"two\" is not a number"},
      {"300 'ab' 2 \n", "INVALID_ARGUMENT: v.txt:257: the byte length \"\""},
      {"300 'ab' 3\n", "INVALID_ARGUMENT: v.txt:257: the token is 2 bytes but the line says 3"},
      {"300 '\\xe9' 1\n", "INVALID_ARGUMENT: v.txt:257: the token is 2 bytes but the line says 1"},
      {"300 'ab 2\n", "INVALID_ARGUMENT: v.txt:257: unterminated string literal"},
      {"300 'ab\\' 3\n", "INVALID_ARGUMENT: v.txt:257: unterminated string literal"},
      {"300 ab 2\n", "INVALID_ARGUMENT: v.txt:257: expected a quoted string literal"},
      {"300 'a' 'b' 2\n", "INVALID_ARGUMENT: v.txt:257: unexpected text after the literal"},
      {"300 'a'+'b' 2\n", "INVALID_ARGUMENT: v.txt:257: unexpected text after the literal"},
      {"300 r'ab' 2\n", "INVALID_ARGUMENT: v.txt:257: unsupported string prefix \"r\""},
      {"300 f'ab' 2\n", "INVALID_ARGUMENT: v.txt:257: unsupported string prefix \"f\""},
      {"300 '''ab''' 2\n", "INVALID_ARGUMENT: v.txt:257: triple-quoted literals"},
      {"300 '\\q' 2\n", "INVALID_ARGUMENT: v.txt:257: invalid escape sequence \\q"},
      {"300 '\\\xc3\xa9' 3\n", "INVALID_ARGUMENT: v.txt:257: invalid escape sequence \\\xc3\xa9"},
      {"300 '\\x4' 1\n", "INVALID_ARGUMENT: v.txt:257: truncated \\x escape"},
      {"300 '\\xg0' 1\n", "INVALID_ARGUMENT: v.txt:257: truncated \\x escape"},
      {"300 '\\u12' 1\n", "INVALID_ARGUMENT: v.txt:257: truncated \\u escape"},
      {"300 '\\U0011ffff' 4\n", "INVALID_ARGUMENT: v.txt:257: escape above U+10FFFF"},
      {"300 '\\ud800' 3\n", "INVALID_ARGUMENT: v.txt:257: surrogate code point"},
      {"300 '\\777' 2\n", "INVALID_ARGUMENT: v.txt:257: octal escape above \\377"},
      {"300 '\\N{BULLET}' 3\n", "INVALID_ARGUMENT: v.txt:257: \\N{...} escapes are not supported"},
      {"300 b'\\u1234' 6\n", "INVALID_ARGUMENT: v.txt:257: invalid escape sequence \\u"},
      {"300 b'\xc3\xa9' 2\n",
       "INVALID_ARGUMENT: v.txt:257: non-ASCII character in a bytes literal"},
      {std::string("300 'a\0' 2\n", 11), "INVALID_ARGUMENT: v.txt:257: NUL byte in the literal"},
      {"300 '\xff' 1\n", "INVALID_ARGUMENT: v.txt:257: invalid UTF-8 at byte 5 of the line"},
      {"300 'ab' 2\n300 'cd' 2\n",
       "INVALID_ARGUMENT: v.txt:258: duplicate id 300 (first on line 257)"},
      {"1 'x' 1\n", "INVALID_ARGUMENT: v.txt:257: duplicate id 1 (first on line 1)"},
  };
  for (const auto& [tail, want] : cases) {
    const std::string text = tail.empty() ? "" : base + tail;
    const std::string got = LoadStatus(text);
    EXPECT_EQ(got.substr(0, want.size()), want) << "tail: " << tail << "\n  got: " << got;
  }
}

TEST(WorldVocabTest, EveryUtf8ByteNeedsASingleByteToken) {
  // Without byte 0xE4 ('\xe4' is line 229), CJK text could not be encoded.
  std::string lines = ByteLines();
  const size_t start = lines.find("229 b'\\xe4' 1\n");
  ASSERT_NE(start, std::string::npos);
  lines.erase(start, std::string("229 b'\\xe4' 1\n").size());
  EXPECT_EQ(LoadStatus(lines),
            "INVALID_ARGUMENT: v.txt: no single-byte token for byte 0xE4 (every byte of UTF-8 "
            "text needs one)");
  // Bytes that never occur in UTF-8 (0xC0, 0xC1, 0xF5..0xFF) are optional.
  std::string utf8_only;
  for (int b = 0; b < 0xF5; ++b) {
    if (b == 0xC0 || b == 0xC1) continue;
    char buf[32];
    std::snprintf(buf, sizeof(buf), "%d b'\\x%02x' 1\n", b + 1, b);
    utf8_only += buf;
  }
  auto tok = MustLoad(utf8_only);
  ASSERT_NE(tok, nullptr);
  EXPECT_EQ(EncodeToString(*tok, "\xc3\xa9"), "196 170");
}

// Truncations and single-byte corruptions of the real file load or fail
// with INVALID_ARGUMENT; they never crash, and what loads still encodes.
TEST(WorldVocabTest, CorruptedRealFileNeverCrashes) {
  RS_REQUIRE_WORLD();
  const std::string text = ReadFileOrDie(WorldVocabPath());
  std::mt19937 rng(5);
  for (int trial = 0; trial < 60; ++trial) {
    std::string bad = text;
    if (trial % 3 == 0) {
      bad.resize(rng() % bad.size());
    } else {
      for (int k = 0; k < 1 + trial % 4; ++k) bad[rng() % bad.size()] = static_cast<char>(rng());
    }
    auto tok = LoadWorldTokenizerFromText(bad, "bad");
    if (!tok.ok()) {
      EXPECT_EQ(tok.status().code(), StatusCode::kInvalidArgument) << tok.status().ToString();
      EXPECT_EQ(tok.status().message().rfind("bad", 0), 0u) << tok.status().ToString();
      continue;
    }
    auto ids = (*tok)->Encode("Hello, \xe4\xb8\x96\xe7\x95\x8c! \xf0\x9f\x98\x80");
    ASSERT_TRUE(ids.ok());
    EXPECT_EQ((*tok)->Decode(*ids), "Hello, \xe4\xb8\x96\xe7\x95\x8c! \xf0\x9f\x98\x80");
  }
}

TEST(WorldVocabTest, FilesAndDispatch) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::path(::testing::TempDir()) / "rs_world_tokenizer_test";
  fs::remove_all(dir);
  fs::create_directories(dir / "model");
  fs::create_directories(dir / "versions");
  fs::create_directories(dir / "both");
  auto write = [](const fs::path& p, const std::string& text) {
    std::ofstream(p, std::ios::binary) << text;
  };
  const std::string vocab = ByteLines() + "300 'ab' 2\n";
  write(dir / "model" / kWorldVocabFileName, vocab);
  write(dir / "versions" / "rwkv_vocab_v20230101.txt", "not a vocabulary");
  write(dir / "versions" / "rwkv_vocab_v20991231.txt", vocab);
  write(dir / "versions" / "rwkv_vocab_notes.md", "x");
  write(dir / "both" / kWorldVocabFileName, vocab);
  write(dir / "both" / "tokenizer.json", "{}");
  write(dir / "bad.txt", "0 'a' 1\n");

  EXPECT_EQ(FindTokenizerFile((dir / "model").string()),
            (dir / "model" / kWorldVocabFileName).string());
  EXPECT_EQ(FindTokenizerFile((dir / "versions").string()),
            (dir / "versions" / "rwkv_vocab_v20991231.txt").string());
  EXPECT_EQ(FindTokenizerFile((dir / "both").string()), (dir / "both" / "tokenizer.json").string());
  EXPECT_EQ(FindTokenizerFile(dir.string()), "");
  EXPECT_EQ(FindTokenizerFile((dir / "bad.txt").string()), "");

  for (const fs::path& p : {dir / "model", dir / "model" / kWorldVocabFileName, dir / "versions"}) {
    auto tok = LoadTokenizer(p.string());
    ASSERT_TRUE(tok.ok()) << p << ": " << tok.status().ToString();
    EXPECT_EQ((*tok)->name(), "rwkv-world");
    EXPECT_EQ(EncodeToString(**tok, "abc"), "300 100");
  }
  auto bad = LoadTokenizer((dir / "bad.txt").string());
  EXPECT_EQ(bad.status().ToString(),
            "INVALID_ARGUMENT: " + (dir / "bad.txt").string() +
                ":1: id 0 is reserved for end-of-text and cannot be in the file");
  EXPECT_EQ(LoadWorldTokenizer((dir / "absent.txt").string()).status().code(),
            StatusCode::kNotFound);
  EXPECT_EQ(LoadTokenizer(dir.string()).status().code(), StatusCode::kNotFound);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace rs::engine
