// Loading tokenizer.json files: a small synthetic one, bad files (clear
// errors, never a crash), and LoadTokenizer's dispatch.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <string>

#include "engine/tokenizer/bpe_tokenizer.h"
#include "engine/tokenizer/byte_level.h"
#include "engine/tokenizer/tokenizer.h"
#include "engine/util/json.h"
#include "engine/util/utf8.h"
#include "tests/tokenizer/tokenizer_test_util.h"

namespace rs::engine {
namespace {

using testing::IdsToString;

std::string ByteSpelling(std::string_view bytes) {
  std::string s;
  for (char c : bytes) utf8::Append(byte_level::ByteToChar(static_cast<uint8_t>(c)), &s);
  return s;
}

void Set(json::Value* obj, const std::string& key, json::Value v) {
  for (auto& [k, old] : obj->MutableObject()) {
    if (k == key) {
      old = std::move(v);
      return;
    }
  }
  obj->Set(key, std::move(v));
}

json::Value* Member(json::Value* obj, std::string_view key) {
  for (auto& [k, v] : obj->MutableObject()) {
    if (k == key) return &v;
  }
  return nullptr;
}

json::Value Obj(std::initializer_list<std::pair<std::string, json::Value>> members) {
  json::Value v = json::Value::MakeObject();
  for (const auto& [k, m] : members) v.Set(k, m);
  return v;
}

// A tiny valid byte-level BPE: ids 0..255 are the bytes (in byte order),
// 256 = "ab", 257 = " ab", 258 = "<eos>" (added, special).
json::Value TinyTokenizer() {
  json::Value vocab = json::Value::MakeObject();
  for (int b = 0; b < 256; ++b) {
    vocab.Set(ByteSpelling(std::string(1, static_cast<char>(b))), json::Value::Int(b));
  }
  vocab.Set("ab", json::Value::Int(256));
  vocab.Set(ByteSpelling(" ab"), json::Value::Int(257));
  json::Value merges = json::Value::MakeArray();
  merges.Push(json::Value::String("a b"));
  json::Value pair = json::Value::MakeArray();
  pair.Push(json::Value::String(ByteSpelling(" ")));
  pair.Push(json::Value::String("ab"));
  merges.Push(std::move(pair));  // the newer [left, right] form
  json::Value added = json::Value::MakeArray();
  added.Push(Obj({{"id", json::Value::Int(258)},
                  {"content", json::Value::String("<eos>")},
                  {"single_word", json::Value::Bool(false)},
                  {"lstrip", json::Value::Bool(false)},
                  {"rstrip", json::Value::Bool(false)},
                  {"normalized", json::Value::Bool(false)},
                  {"special", json::Value::Bool(true)}}));
  json::Value byte_level = Obj({{"type", json::Value::String("ByteLevel")},
                                {"add_prefix_space", json::Value::Bool(false)},
                                {"trim_offsets", json::Value::Bool(true)}});
  return Obj({{"version", json::Value::String("1.0")},
              {"truncation", json::Value()},
              {"padding", json::Value()},
              {"added_tokens", added},
              {"normalizer", Obj({{"type", json::Value::String("NFC")}})},
              {"pre_tokenizer", byte_level},
              {"post_processor", byte_level},
              {"decoder", byte_level},
              {"model", Obj({{"type", json::Value::String("BPE")},
                             {"dropout", json::Value()},
                             {"unk_token", json::Value()},
                             {"vocab", vocab},
                             {"merges", merges}})}});
}

// Loads `json` and returns the status ("OK" or "CODE: message").
std::string LoadStatus(const json::Value& json) {
  auto tok = LoadBpeTokenizerFromJson(json.Dump(), "test.json");
  return tok.ok() ? "OK" : tok.status().ToString();
}

TEST(TokenizerLoaderTest, TinyTokenizerWorks) {
  auto tok = LoadBpeTokenizerFromJson(TinyTokenizer().Dump(), "tiny");
  ASSERT_TRUE(tok.ok()) << tok.status().ToString();
  EXPECT_EQ((*tok)->vocab_size(), 259);
  EXPECT_EQ((*tok)->eos_id(), std::nullopt);
  auto ids = (*tok)->Encode("ab ab<eos>b\u00e9");
  ASSERT_TRUE(ids.ok());
  EXPECT_EQ(IdsToString(*ids), "256 257 258 98 195 169");
  EXPECT_EQ((*tok)->Decode(*ids), "ab ab<eos>b\u00e9");
  EXPECT_EQ((*tok)->TokenBytes(257), " ab");
}

struct BadCase {
  const char* name;
  std::function<void(json::Value*)> mutate;
  const char* want;  // a prefix of Status::ToString() after the code
  const char* code;
};

TEST(TokenizerLoaderTest, BadFilesGiveClearErrors) {
  const BadCase cases[] = {
      {"wordpiece",
       [](json::Value* j) { Set(Member(j, "model"), "type", json::Value::String("WordPiece")); },
       "model type \"WordPiece\" is not supported", "UNIMPLEMENTED"},
      {"unigram",
       [](json::Value* j) { Set(Member(j, "model"), "type", json::Value::String("Unigram")); },
       "model type \"Unigram\"", "UNIMPLEMENTED"},
      {"no model", [](json::Value* j) { j->MutableObject().pop_back(); }, "model is missing",
       "INVALID_ARGUMENT"},
      {"model type missing",
       [](json::Value* j) {
         Member(j, "model")->MutableObject().erase(Member(j, "model")->MutableObject().begin());
       },
       "model.type is missing", "INVALID_ARGUMENT"},
      {"merge unknown left",
       [](json::Value* j) {
         Member(Member(j, "model"), "merges")->Push(json::Value::String("zz q"));
       },
       "model.merges[2] names \"zz\", which is not in the vocabulary", "INVALID_ARGUMENT"},
      {"merge unknown right",
       [](json::Value* j) {
         Member(Member(j, "model"), "merges")->Push(json::Value::String("q zz"));
       },
       "model.merges[2] names \"zz\"", "INVALID_ARGUMENT"},
      {"merge result unknown",
       [](json::Value* j) {
         Member(Member(j, "model"), "merges")->Push(json::Value::String("q r"));
       },
       "model.merges[2]: the merged token \"qr\" is not in the vocabulary", "INVALID_ARGUMENT"},
      {"merge three parts",
       [](json::Value* j) {
         Member(Member(j, "model"), "merges")->Push(json::Value::String("a b c"));
       },
       "model.merges[2] \"a b c\" is not two tokens", "INVALID_ARGUMENT"},
      {"merge wrong type",
       [](json::Value* j) { Member(Member(j, "model"), "merges")->Push(json::Value::Int(3)); },
       "model.merges[2] is neither", "INVALID_ARGUMENT"},
      {"merges not array",
       [](json::Value* j) { Set(Member(j, "model"), "merges", json::Value::String("x")); },
       "model.merges is not an array", "INVALID_ARGUMENT"},
      {"vocab id negative",
       [](json::Value* j) { Member(Member(j, "model"), "vocab")->Set("zz", json::Value::Int(-3)); },
       "model.vocab[\"zz\"] is not an integer id", "INVALID_ARGUMENT"},
      {"vocab id huge",
       [](json::Value* j) {
         Member(Member(j, "model"), "vocab")->Set("zz", json::Value::Int(int64_t{1} << 40));
       },
       "model.vocab[\"zz\"] is not an integer id", "INVALID_ARGUMENT"},
      {"vocab id float",
       [](json::Value* j) {
         Member(Member(j, "model"), "vocab")->Set("zz", json::Value::Number(3.5));
       },
       "model.vocab[\"zz\"] is not an integer id", "INVALID_ARGUMENT"},
      {"vocab duplicate id",
       [](json::Value* j) {
         Member(Member(j, "model"), "vocab")->Set("zz", json::Value::Int(256));
       },
       "model.vocab: id 256 is given to both", "INVALID_ARGUMENT"},
      {"vocab missing byte",
       [](json::Value* j) {
         auto& v = Member(Member(j, "model"), "vocab")->MutableObject();
         v.erase(v.begin() + 'c');
       },
       "model.vocab has no token for byte 99", "INVALID_ARGUMENT"},
      {"dropout",
       [](json::Value* j) { Set(Member(j, "model"), "dropout", json::Value::Number(0.1)); },
       "BPE dropout is not supported", "UNIMPLEMENTED"},
      {"subword prefix",
       [](json::Value* j) {
         Set(Member(j, "model"), "continuing_subword_prefix", json::Value::String("##"));
       },
       "BPE continuing_subword_prefix", "UNIMPLEMENTED"},
      {"nfkc",
       [](json::Value* j) {
         Set(j, "normalizer", Obj({{"type", json::Value::String("NFKC")}}));
       },
       "normalizer \"NFKC\" is not supported", "UNIMPLEMENTED"},
      {"metaspace",
       [](json::Value* j) {
         Set(j, "pre_tokenizer", Obj({{"type", json::Value::String("Metaspace")}}));
       },
       "pre_tokenizer \"Metaspace\" is not supported", "UNIMPLEMENTED"},
      {"no pre_tokenizer", [](json::Value* j) { Set(j, "pre_tokenizer", json::Value()); },
       "pre_tokenizer \"null\" is not supported", "UNIMPLEMENTED"},
      {"prefix space",
       [](json::Value* j) {
         Set(Member(j, "pre_tokenizer"), "add_prefix_space", json::Value::Bool(true));
       },
       "ByteLevel add_prefix_space=true", "UNIMPLEMENTED"},
      {"template post",
       [](json::Value* j) {
         Set(j, "post_processor", Obj({{"type", json::Value::String("TemplateProcessing")}}));
       },
       "post_processor \"TemplateProcessing\"", "UNIMPLEMENTED"},
      {"wordpiece decoder",
       [](json::Value* j) {
         Set(j, "decoder", Obj({{"type", json::Value::String("WordPiece")}}));
       },
       "decoder \"WordPiece\"", "UNIMPLEMENTED"},
      {"truncation",
       [](json::Value* j) {
         Set(j, "truncation", Obj({{"max_length", json::Value::Int(5)}}));
       },
       "truncation is not supported", "UNIMPLEMENTED"},
      {"added lstrip",
       [](json::Value* j) {
         Set(&Member(j, "added_tokens")->MutableArray()[0], "lstrip", json::Value::Bool(true));
       },
       "added_tokens[0]: lstrip=true is not supported", "UNIMPLEMENTED"},
      {"added single_word",
       [](json::Value* j) {
         Set(&Member(j, "added_tokens")->MutableArray()[0], "single_word", json::Value::Bool(true));
       },
       "added_tokens[0]: single_word=true", "UNIMPLEMENTED"},
      {"added id clash",
       [](json::Value* j) {
         Set(&Member(j, "added_tokens")->MutableArray()[0], "id", json::Value::Int(97));
       },
       "added_tokens[0] \"<eos>\" reuses the id of \"a\"", "INVALID_ARGUMENT"},
      {"added vocab mismatch",
       [](json::Value* j) {
         Set(&Member(j, "added_tokens")->MutableArray()[0], "content", json::Value::String("ab"));
       },
       "added_tokens[0] \"ab\" has id 258 but the vocabulary gives it 256", "INVALID_ARGUMENT"},
      {"added no content",
       [](json::Value* j) {
         Member(j, "added_tokens")
             ->MutableArray()[0]
             .MutableObject()
             .erase(Member(j, "added_tokens")->MutableArray()[0].MutableObject().begin() + 1);
       },
       "added_tokens[0]: missing key \"content\"", "INVALID_ARGUMENT"},
      {"added empty content",
       [](json::Value* j) {
         Set(&Member(j, "added_tokens")->MutableArray()[0], "content", json::Value::String(""));
       },
       "added_tokens[0].content is empty", "INVALID_ARGUMENT"},
      {"added flag not bool",
       [](json::Value* j) {
         Set(&Member(j, "added_tokens")->MutableArray()[0], "special", json::Value::Int(1));
       },
       "added_tokens[0].special is not a boolean", "INVALID_ARGUMENT"},
  };
  for (const BadCase& c : cases) {
    json::Value j = TinyTokenizer();
    c.mutate(&j);
    const std::string want = std::string(c.code) + ": test.json: " + c.want;
    const std::string got = LoadStatus(j);
    EXPECT_EQ(got.substr(0, want.size()), want) << c.name << "\n  got: " << got;
  }
}

TEST(TokenizerLoaderTest, NotJson) {
  for (const char* text : {"", "not json", "{\"model\": ", "[1, 2]", "{} trailing", "null"}) {
    auto tok = LoadBpeTokenizerFromJson(text, "x.json");
    ASSERT_FALSE(tok.ok()) << text;
    EXPECT_EQ(tok.status().code(), StatusCode::kInvalidArgument) << text;
    EXPECT_EQ(tok.status().message().rfind("x.json: ", 0), 0u) << tok.status().ToString();
  }
}

TEST(TokenizerLoaderTest, FilesAndDispatch) {
  const std::filesystem::path dir =
      std::filesystem::path(::testing::TempDir()) / "rs_tokenizer_loader_test";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir / "model");
  auto write = [](const std::filesystem::path& p, const std::string& text) {
    std::ofstream(p, std::ios::binary) << text;
  };
  write(dir / "model" / "tokenizer.json", TinyTokenizer().Dump());
  write(dir / "vocab.txt", "0 'a' 1\n");
  write(dir / "weird.bin", "x");
  write(dir / "garbage.json", "\x01\x02 not json");

  auto missing = LoadBpeTokenizer((dir / "absent.json").string());
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(LoadTokenizer((dir / "absent.json").string()).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(LoadTokenizer((dir / "garbage.json").string()).status().code(),
            StatusCode::kInvalidArgument);
  // .txt is an RWKV world vocabulary; id 0 may not be in one.
  EXPECT_EQ(LoadTokenizer((dir / "vocab.txt").string()).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(LoadTokenizer((dir / "weird.bin").string()).status().code(),
            StatusCode::kUnimplemented);
  EXPECT_EQ(LoadTokenizer(dir.string()).status().code(), StatusCode::kNotFound);
  for (const std::filesystem::path& p : {dir / "model", dir / "model" / "tokenizer.json"}) {
    auto tok = LoadTokenizer(p.string());
    ASSERT_TRUE(tok.ok()) << p << ": " << tok.status().ToString();
    EXPECT_EQ((*tok)->name(), "gpt-neox-bpe");
  }
  std::filesystem::remove_all(dir);
}

// Truncations and single-byte corruptions of the real file fail cleanly or
// load; they never crash.
TEST(TokenizerLoaderTest, CorruptedRealFileNeverCrashes) {
  RS_REQUIRE_NEOX();
  const std::string text = testing::ReadFileOrDie(testing::NeoxJsonPath());
  for (size_t cut : {size_t{0}, size_t{1}, size_t{100}, text.size() / 2, text.size() - 2}) {
    auto tok = LoadBpeTokenizerFromJson(std::string_view(text).substr(0, cut), "cut");
    EXPECT_EQ(tok.status().code(), StatusCode::kInvalidArgument) << cut;
  }
  std::string wrong_type = text;
  const size_t pos = wrong_type.find("\"type\": \"BPE\"");
  ASSERT_NE(pos, std::string::npos);
  wrong_type.replace(pos, 13, "\"type\": \"WordLevel\"");
  auto tok = LoadBpeTokenizerFromJson(wrong_type, "wrong");
  EXPECT_EQ(tok.status().code(), StatusCode::kUnimplemented) << tok.status().ToString();
}

}  // namespace
}  // namespace rs::engine
