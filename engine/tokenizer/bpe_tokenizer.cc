#include "engine/tokenizer/bpe_tokenizer.h"

#include <algorithm>
#include <array>
#include <cstdio>
#include <unordered_map>
#include <vector>

#include "engine/tokenizer/added_vocabulary.h"
#include "engine/tokenizer/bpe_model.h"
#include "engine/tokenizer/byte_level.h"
#include "engine/tokenizer/unicode.h"
#include "engine/util/file.h"
#include "engine/util/json.h"
#include "engine/util/utf8.h"

namespace rs::engine {
namespace {

// Ids above this are refused: a hostile file must not make us allocate
// gigabytes for the id -> bytes table.
constexpr int64_t kMaxTokenId = (int64_t{1} << 24) - 1;
constexpr size_t kMaxFileBytes = size_t{1} << 30;

class BpeTokenizer final : public Tokenizer {
 public:
  // Builds a tokenizer from tokenizer.json text (errors without the file
  // name).
  static StatusOr<std::unique_ptr<Tokenizer>> Build(std::string_view json_text);

  StatusOr<std::vector<int32_t>> Encode(std::string_view text) const override;
  std::string Decode(std::span<const int32_t> ids) const override;
  std::string_view TokenBytes(int32_t id) const override {
    if (id < 0 || static_cast<size_t>(id) >= token_bytes_.size()) return {};
    return token_bytes_[id];
  }
  int64_t vocab_size() const override { return static_cast<int64_t>(token_bytes_.size()); }
  std::optional<int32_t> eos_id() const override { return eos_id_; }
  std::string name() const override { return "gpt-neox-bpe"; }

 private:
  // Appends the ids of a gap between non-normalized added tokens.
  void EncodeGap(std::string_view raw, std::vector<int32_t>* ids) const;

  bool nfc_ = false;
  AddedTokenMatcher raw_tokens_;         // added tokens with normalized=false
  AddedTokenMatcher normalized_tokens_;  // added tokens with normalized=true
  std::unique_ptr<BpeModel> model_;
  std::vector<std::string> token_bytes_;  // id -> bytes ("" for holes)
  std::optional<int32_t> eos_id_;
};

StatusOr<std::vector<int32_t>> BpeTokenizer::Encode(std::string_view text) const {
  const size_t bad = utf8::FindInvalid(text);
  if (bad != std::string_view::npos) {
    return InvalidArgumentError("invalid UTF-8 at byte offset " + std::to_string(bad));
  }
  std::vector<int32_t> ids;
  ids.reserve(text.size() / 3 + 1);
  std::vector<AddedTokenMatcher::Piece> pieces;
  raw_tokens_.Split(text, &pieces);
  for (const auto& piece : pieces) {
    if (piece.id >= 0) {
      ids.push_back(piece.id);
    } else {
      EncodeGap(piece.text, &ids);
    }
  }
  return ids;
}

void BpeTokenizer::EncodeGap(std::string_view raw, std::vector<int32_t>* ids) const {
  std::string normalized_storage;
  std::string_view normalized = raw;
  if (nfc_ && !unicode::IsNfcQuick(raw)) {
    unicode::AppendNfc(raw, &normalized_storage);
    normalized = normalized_storage;
  }
  std::vector<AddedTokenMatcher::Piece> pieces;
  normalized_tokens_.Split(normalized, &pieces);
  std::vector<std::string_view> words;
  for (const auto& piece : pieces) {
    if (piece.id >= 0) {
      ids->push_back(piece.id);
      continue;
    }
    words.clear();
    byte_level::SplitGpt2(piece.text, &words);
    for (std::string_view word : words) model_->EncodeWord(word, ids);
  }
}

std::string BpeTokenizer::Decode(std::span<const int32_t> ids) const {
  std::string out;
  for (int32_t id : ids) out.append(TokenBytes(id));
  return out;
}

// ---- Loading ---------------------------------------------------------------

std::string Quoted(std::string_view s) { return json::Quote(s.substr(0, 64)); }

// The "type" of an optional component object, "" when it is null/absent.
StatusOr<std::string> ComponentType(const json::Value& root, std::string_view key) {
  const json::Value* v = root.Find(key);
  if (v == nullptr || v->is_null()) return std::string();
  if (!v->is_object()) return InvalidArgumentError(std::string(key) + " is not an object");
  const json::Value* type = v->Find("type");
  if (type == nullptr || !type->is_string()) {
    return InvalidArgumentError(std::string(key) + ".type is missing or not a string");
  }
  return type->AsString();
}

// Optional boolean member: `fallback` when absent or null.
StatusOr<bool> OptionalBool(const json::Value& obj, std::string_view key, bool fallback,
                            std::string_view where) {
  const json::Value* v = obj.Find(key);
  if (v == nullptr || v->is_null()) return fallback;
  if (!v->is_bool())
    return InvalidArgumentError(std::string(where) + "." + std::string(key) + " is not a boolean");
  return v->AsBool();
}

// True when optional member `key` is absent, null or "" (unused feature).
bool Unset(const json::Value& obj, std::string_view key) {
  const json::Value* v = obj.Find(key);
  return v == nullptr || v->is_null() || (v->is_string() && v->AsString().empty());
}

Status CheckPipeline(const json::Value& root, bool* nfc) {
  for (const char* key : {"truncation", "padding"}) {
    const json::Value* v = root.Find(key);
    if (v != nullptr && !v->is_null()) {
      return UnimplementedError(std::string(key) + " is not supported (must be null)");
    }
  }
  RS_ASSIGN_OR_RETURN(std::string normalizer, ComponentType(root, "normalizer"));
  if (normalizer != "" && normalizer != "NFC") {
    return UnimplementedError("normalizer " + Quoted(normalizer) + " is not supported");
  }
  *nfc = normalizer == "NFC";

  RS_ASSIGN_OR_RETURN(std::string pre, ComponentType(root, "pre_tokenizer"));
  if (pre != "ByteLevel") {
    return UnimplementedError("pre_tokenizer " + Quoted(pre.empty() ? "null" : pre) +
                              " is not supported (only ByteLevel)");
  }
  const json::Value& pre_obj = *root.Find("pre_tokenizer");
  RS_ASSIGN_OR_RETURN(bool prefix_space,
                      OptionalBool(pre_obj, "add_prefix_space", true, "pre_tokenizer"));
  if (prefix_space) return UnimplementedError("ByteLevel add_prefix_space=true is not supported");
  RS_ASSIGN_OR_RETURN(bool use_regex, OptionalBool(pre_obj, "use_regex", true, "pre_tokenizer"));
  if (!use_regex) return UnimplementedError("ByteLevel use_regex=false is not supported");

  RS_ASSIGN_OR_RETURN(std::string post, ComponentType(root, "post_processor"));
  if (post != "" && post != "ByteLevel") {
    return UnimplementedError("post_processor " + Quoted(post) + " is not supported");
  }
  RS_ASSIGN_OR_RETURN(std::string decoder, ComponentType(root, "decoder"));
  if (decoder != "" && decoder != "ByteLevel") {
    return UnimplementedError("decoder " + Quoted(decoder) + " is not supported");
  }
  return OkStatus();
}

struct Vocab {
  std::unordered_map<std::string, int32_t> ids;  // byte-level spelling -> id
  std::vector<std::string> spellings;            // id -> spelling ("" = hole)
  std::vector<bool> present;
};

Status ReadVocab(const json::Value& model, Vocab* vocab) {
  const json::Value* v = model.Find("vocab");
  if (v == nullptr || !v->is_object()) return InvalidArgumentError("model.vocab is not an object");
  int64_t max_id = -1;
  for (const auto& [token, id] : v->AsObject()) {
    if (!id.is_int() || id.AsInt() < 0 || id.AsInt() > kMaxTokenId) {
      return InvalidArgumentError("model.vocab[" + Quoted(token) +
                                  "] is not an integer id in [0, 2^24)");
    }
    max_id = std::max(max_id, id.AsInt());
  }
  vocab->spellings.assign(max_id + 1, std::string());
  vocab->present.assign(max_id + 1, false);
  vocab->ids.reserve(v->AsObject().size());
  for (const auto& [token, id_value] : v->AsObject()) {
    const int32_t id = static_cast<int32_t>(id_value.AsInt());
    if (vocab->present[id]) {
      return InvalidArgumentError("model.vocab: id " + std::to_string(id) + " is given to both " +
                                  Quoted(vocab->spellings[id]) + " and " + Quoted(token));
    }
    if (!vocab->ids.emplace(token, id).second) {
      return InvalidArgumentError("model.vocab: token " + Quoted(token) + " is listed twice");
    }
    vocab->spellings[id] = token;
    vocab->present[id] = true;
  }
  return OkStatus();
}

Status ReadMerges(const json::Value& model, const Vocab& vocab,
                  std::vector<BpeModel::Merge>* merges) {
  const json::Value* v = model.Find("merges");
  if (v == nullptr || !v->is_array()) return InvalidArgumentError("model.merges is not an array");
  merges->reserve(v->AsArray().size());
  std::string left, right;
  for (size_t rank = 0; rank < v->AsArray().size(); ++rank) {
    const json::Value& m = v->AsArray()[rank];
    const std::string where = "model.merges[" + std::to_string(rank) + "]";
    if (m.is_string()) {
      // Legacy "left right": exactly one space.
      const std::string& s = m.AsString();
      const size_t space = s.find(' ');
      if (space == std::string::npos || s.find(' ', space + 1) != std::string::npos) {
        return InvalidArgumentError(where + " " + Quoted(s) + " is not two tokens");
      }
      left = s.substr(0, space);
      right = s.substr(space + 1);
    } else if (m.is_array() && m.AsArray().size() == 2 && m.AsArray()[0].is_string() &&
               m.AsArray()[1].is_string()) {
      left = m.AsArray()[0].AsString();
      right = m.AsArray()[1].AsString();
    } else {
      return InvalidArgumentError(where + " is neither \"a b\" nor [\"a\", \"b\"]");
    }
    auto l = vocab.ids.find(left);
    auto r = vocab.ids.find(right);
    auto merged = vocab.ids.find(left + right);
    for (const auto& [it, text] : {std::pair{l, &left}, std::pair{r, &right}}) {
      if (it == vocab.ids.end()) {
        return InvalidArgumentError(where + " names " + Quoted(*text) +
                                    ", which is not in the vocabulary");
      }
    }
    if (merged == vocab.ids.end()) {
      return InvalidArgumentError(where + ": the merged token " + Quoted(left + right) +
                                  " is not in the vocabulary");
    }
    merges->push_back({l->second, r->second, merged->second});
  }
  return OkStatus();
}

Status CheckModel(const json::Value& model) {
  if (!model.is_object()) return InvalidArgumentError("model is missing or not an object");
  const json::Value* type = model.Find("type");
  if (type == nullptr || !type->is_string()) {
    return InvalidArgumentError("model.type is missing or not a string");
  }
  if (type->AsString() != "BPE") {
    return UnimplementedError("model type " + Quoted(type->AsString()) +
                              " is not supported (only BPE)");
  }
  const json::Value* dropout = model.Find("dropout");
  if (dropout != nullptr && !dropout->is_null() &&
      !(dropout->is_number() && dropout->AsDouble() == 0.0)) {
    return UnimplementedError("BPE dropout is not supported");
  }
  for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"}) {
    if (!Unset(model, key))
      return UnimplementedError(std::string("BPE ") + key + " is not supported");
  }
  return OkStatus();
}

}  // namespace

StatusOr<std::unique_ptr<Tokenizer>> BpeTokenizer::Build(std::string_view json_text) {
  RS_ASSIGN_OR_RETURN(json::Value root, json::Parse(json_text));
  if (!root.is_object()) return InvalidArgumentError("not a JSON object");
  std::unique_ptr<BpeTokenizer> tok(new BpeTokenizer());
  RS_RETURN_IF_ERROR(CheckPipeline(root, &tok->nfc_));
  const json::Value* model = root.Find("model");
  if (model == nullptr) return InvalidArgumentError("model is missing");
  RS_RETURN_IF_ERROR(CheckModel(*model));
  RS_ASSIGN_OR_RETURN(bool ignore_merges, OptionalBool(*model, "ignore_merges", false, "model"));

  Vocab vocab;
  RS_RETURN_IF_ERROR(ReadVocab(*model, &vocab));
  std::vector<BpeModel::Merge> merges;
  RS_RETURN_IF_ERROR(ReadMerges(*model, vocab, &merges));

  // Every byte that can occur in UTF-8 text needs its token: without it HF
  // would silently drop bytes. (0xC0, 0xC1 and 0xF5..0xFF never occur, and
  // GPT-NeoX has no tokens for them.)
  std::array<int32_t, 256> byte_ids;
  std::string spelling;
  for (int b = 0; b < 256; ++b) {
    spelling.clear();
    utf8::Append(byte_level::ByteToChar(static_cast<uint8_t>(b)), &spelling);
    auto it = vocab.ids.find(spelling);
    const bool in_utf8 = b < 0xC0 || (b >= 0xC2 && b <= 0xF4);
    if (it == vocab.ids.end() && in_utf8) {
      return InvalidArgumentError("model.vocab has no token for byte " + std::to_string(b));
    }
    byte_ids[b] = it == vocab.ids.end() ? -1 : it->second;
  }

  // id -> bytes. A spelling that is not all byte characters decodes to its
  // own UTF-8, as HF's ByteLevel decoder does.
  tok->token_bytes_.resize(vocab.spellings.size());
  std::unordered_map<std::string, int32_t> whole_words;
  for (size_t id = 0; id < vocab.spellings.size(); ++id) {
    if (!vocab.present[id]) continue;
    std::string& bytes = tok->token_bytes_[id];
    if (!byte_level::TokenToBytes(vocab.spellings[id], &bytes)) bytes = vocab.spellings[id];
    if (ignore_merges) whole_words.emplace(bytes, static_cast<int32_t>(id));
  }
  RS_ASSIGN_OR_RETURN(tok->model_,
                      BpeModel::Create(byte_ids, merges, ignore_merges, std::move(whole_words)));

  const json::Value* added = root.Find("added_tokens");
  if (added != nullptr && !added->is_null()) {
    if (!added->is_array()) return InvalidArgumentError("added_tokens is not an array");
    for (size_t i = 0; i < added->AsArray().size(); ++i) {
      const json::Value& t = added->AsArray()[i];
      const std::string where = "added_tokens[" + std::to_string(i) + "]";
      if (!t.is_object()) return InvalidArgumentError(where + " is not an object");
      auto id_or = json::GetInt(t, "id");
      if (!id_or.ok()) return id_or.status().WithPrefix(where);
      auto content_or = json::GetString(t, "content");
      if (!content_or.ok()) return content_or.status().WithPrefix(where);
      const int64_t id = *id_or;
      const std::string& content = *content_or;
      if (id < 0 || id > kMaxTokenId) return InvalidArgumentError(where + ".id out of range");
      if (content.empty()) return InvalidArgumentError(where + ".content is empty");
      for (const char* flag : {"single_word", "lstrip", "rstrip"}) {
        RS_ASSIGN_OR_RETURN(bool set, OptionalBool(t, flag, false, where));
        if (set) return UnimplementedError(where + ": " + flag + "=true is not supported");
      }
      RS_ASSIGN_OR_RETURN(bool special, OptionalBool(t, "special", false, where));
      RS_ASSIGN_OR_RETURN(bool normalized, OptionalBool(t, "normalized", !special, where));
      // HF gives a token that is in the vocabulary its vocabulary id.
      auto in_vocab = vocab.ids.find(content);
      if (in_vocab != vocab.ids.end() && in_vocab->second != id) {
        return InvalidArgumentError(where + " " + Quoted(content) + " has id " +
                                    std::to_string(id) + " but the vocabulary gives it " +
                                    std::to_string(in_vocab->second));
      }
      if (in_vocab == vocab.ids.end() && static_cast<size_t>(id) < vocab.present.size() &&
          vocab.present[id]) {
        return InvalidArgumentError(where + " " + Quoted(content) + " reuses the id of " +
                                    Quoted(vocab.spellings[id]));
      }
      if (static_cast<size_t>(id) >= tok->token_bytes_.size()) tok->token_bytes_.resize(id + 1);
      tok->token_bytes_[id] = content;
      if (normalized) {
        tok->normalized_tokens_.Add(tok->nfc_ ? unicode::Nfc(content) : content,
                                    static_cast<int32_t>(id));
      } else {
        tok->raw_tokens_.Add(content, static_cast<int32_t>(id));
      }
      if (content == "<|endoftext|>") tok->eos_id_ = static_cast<int32_t>(id);
    }
  }
  if (!tok->eos_id_) {
    auto it = vocab.ids.find("<|endoftext|>");
    if (it != vocab.ids.end()) tok->eos_id_ = it->second;
  }
  return std::unique_ptr<Tokenizer>(std::move(tok));
}

StatusOr<std::unique_ptr<Tokenizer>> LoadBpeTokenizerFromJson(std::string_view json_text,
                                                              const std::string& source) {
  auto result = BpeTokenizer::Build(json_text);
  if (!result.ok()) return result.status().WithPrefix(source);
  return result;
}

StatusOr<std::unique_ptr<Tokenizer>> LoadBpeTokenizer(const std::string& tokenizer_json_path) {
  RS_ASSIGN_OR_RETURN(std::string text, ReadFileBounded(tokenizer_json_path, kMaxFileBytes, "tokenizer file"));
  return LoadBpeTokenizerFromJson(text, tokenizer_json_path);
}

}  // namespace rs::engine
