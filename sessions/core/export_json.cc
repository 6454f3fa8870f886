#include "sessions/core/export_json.h"

#include <cmath>
#include <cstdio>
#include <cstring>

#include "engine/util/json.h"

namespace rs::sessions {
namespace {

using json::Value;

constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

std::string FloatsToBase64(const std::vector<float>& v) {
  std::string bytes(v.size() * sizeof(float), '\0');
  if (!v.empty()) std::memcpy(bytes.data(), v.data(), bytes.size());
  return Base64Encode(bytes);
}

std::string Hex(uint64_t v) {
  static const char* d = "0123456789abcdef";
  std::string s(16, '0');
  for (int i = 15; i >= 0; --i, v >>= 4) s[static_cast<size_t>(i)] = d[v & 15];
  return s;
}

// Typed access to an object's members; the first error sticks and names the
// field's path.
class Reader {
 public:
  Reader(const Value* v, std::string path, Status* error) : v_(v), path_(std::move(path)), error_(error) {
    if (v_ == nullptr || !v_->is_object()) Fail("must be an object");
  }
  std::string Str(const char* key, bool required = false) {
    const Value* f = Field(key, required);
    if (f == nullptr) return "";
    if (!f->is_string()) return FailField(key, "must be a string"), "";
    return f->AsString();
  }
  int64_t Int(const char* key, bool required = false) {
    const Value* f = Field(key, required);
    if (f == nullptr) return 0;
    if (!f->is_int()) return FailField(key, "must be an integer"), 0;
    return f->AsInt();
  }
  double Num(const char* key, double dflt) {
    const Value* f = Field(key, false);
    if (f == nullptr) return dflt;
    if (!f->is_number() || !std::isfinite(f->AsDouble())) return FailField(key, "must be a number"), dflt;
    return f->AsDouble();
  }
  // A number stored as float, in [lo, hi] (lo excluded when open_lo).
  float Float(const char* key, double dflt, double lo, double hi, bool open_lo = false) {
    const double v = Num(key, dflt);
    if (v < lo || v > hi || (open_lo && v == lo)) {
      char why[64];
      std::snprintf(why, sizeof(why), "must be in %c%g, %g]", open_lo ? '(' : '[', lo, hi);
      return FailField(key, why), static_cast<float>(dflt);
    }
    return static_cast<float>(v);
  }
  bool Bool(const char* key) {
    const Value* f = Field(key, false);
    if (f == nullptr) return false;
    if (!f->is_bool()) return FailField(key, "must be true or false"), false;
    return f->AsBool();
  }
  const Value::Array* Arr(const char* key) {
    const Value* f = Field(key, false);
    if (f == nullptr) return nullptr;
    if (!f->is_array()) return FailField(key, "must be an array"), nullptr;
    return &f->AsArray();
  }
  const Value* Obj(const char* key) {
    const Value* f = Field(key, false);
    if (f == nullptr || f->is_null()) return nullptr;
    if (!f->is_object()) return FailField(key, "must be an object"), nullptr;
    return f;
  }
  std::string Path(const char* key) const { return path_ + "." + key; }
  void FailField(const char* key, const std::string& why) {
    if (error_->ok()) *error_ = InvalidArgumentError("session JSON: " + Path(key) + " " + why);
  }

 private:
  const Value* Field(const char* key, bool required) {
    if (!error_->ok() || v_ == nullptr || !v_->is_object()) return nullptr;
    const Value* f = v_->Find(key);
    if (f == nullptr && required) FailField(key, "is missing");
    return f;
  }
  void Fail(const std::string& why) {
    if (error_->ok()) *error_ = InvalidArgumentError("session JSON: " + path_ + " " + why);
  }
  const Value* v_;
  std::string path_;
  Status* error_;
};

Value SessionToJson(const SessionRecord& s) {
  Value memory = Value::MakeObject();
  memory.Set("short_term_budget_tokens", Value::Int(s.memory.short_term_budget_tokens));
  memory.Set("retrieval_k", Value::Int(s.memory.retrieval_k));
  memory.Set("chat_template", Value::String(s.memory.chat_template));
  Value v = Value::MakeObject();
  v.Set("id", Value::String(s.id));
  v.Set("model", Value::String(s.model));
  v.Set("mode", Value::String(s.mode == SessionMode::kStory ? "STORY" : "CHAT"));
  v.Set("system_prompt", Value::String(s.system_prompt));
  v.Set("memory", std::move(memory));
  v.Set("temperature", Value::Number(s.temperature));
  v.Set("top_p", Value::Number(s.top_p));
  v.Set("max_reply_tokens", Value::Int(s.max_reply_tokens));
  v.Set("short_term", Value::String(s.short_term));
  v.Set("turns", Value::Int(s.turns));
  v.Set("created_ms", Value::Int(s.created_ms));
  v.Set("updated_ms", Value::Int(s.updated_ms));
  v.Set("forked_from", Value::String(s.forked_from));
  v.Set("forked_at_turn", Value::Int(s.forked_at_turn));
  return v;
}

Value TurnToJson(const TurnRecord& t) {
  Value plans = Value::MakeArray();
  for (const std::string& p : t.plans) plans.Push(Value::String(p));
  Value retrieved = Value::MakeArray();
  for (const Retrieval& r : t.retrieved) {
    Value o = Value::MakeObject();
    o.Set("memory_id", Value::Int(r.memory_id));
    o.Set("score", Value::Number(r.score));
    retrieved.Push(std::move(o));
  }
  Value v = Value::MakeObject();
  v.Set("index", Value::Int(t.index));
  v.Set("request_id", Value::String(t.request_id));
  v.Set("input", Value::String(t.input));
  v.Set("reply", Value::String(t.reply));
  v.Set("short_term_after", Value::String(t.short_term_after));
  v.Set("plans", std::move(plans));
  v.Set("retrieved", std::move(retrieved));
  v.Set("rebuilt_from_text", Value::Bool(t.rebuilt_from_text));
  v.Set("created_ms", Value::Int(t.created_ms));
  v.Set("committed_ms", Value::Int(t.committed_ms));
  return v;
}

Value MemoryToJson(const MemoryItem& m) {
  Value v = Value::MakeObject();
  v.Set("id", Value::Int(m.id));
  v.Set("turn", Value::Int(m.turn));
  v.Set("text", Value::String(m.text));
  v.Set("embedding", Value::String(FloatsToBase64(m.embedding)));
  v.Set("created_ms", Value::Int(m.created_ms));
  v.Set("updated_ms", Value::Int(m.updated_ms));
  return v;
}

Value SnapshotToJson(const Snapshot& s) {
  Value v = Value::MakeObject();
  v.Set("turn", Value::Int(s.turn));
  v.Set("model_fingerprint", Value::String(s.model_fingerprint));
  v.Set("state", Value::String(Base64Encode(s.state)));
  v.Set("consumed_tokens", Value::Int(s.consumed_tokens));
  v.Set("pending_token", Value::Int(s.pending_token));
  v.Set("tail", Value::String(s.tail));
  v.Set("checksum", Value::String(Hex(s.checksum)));
  return v;
}

void ReadSession(const Value* v, SessionRecord* s, Status* error) {
  Reader r(v, "session", error);
  s->id = r.Str("id", true);
  s->model = r.Str("model");
  const std::string mode = r.Str("mode");
  if (mode == "STORY") {
    s->mode = SessionMode::kStory;
  } else if (mode == "CHAT" || mode.empty()) {
    s->mode = SessionMode::kChat;
  } else {
    r.FailField("mode", "must be CHAT or STORY");
  }
  s->system_prompt = r.Str("system_prompt");
  if (const Value* m = r.Obj("memory")) {
    Reader mr(m, "session.memory", error);
    s->memory.short_term_budget_tokens = static_cast<int32_t>(mr.Int("short_term_budget_tokens", true));
    s->memory.retrieval_k = static_cast<int32_t>(mr.Int("retrieval_k", true));
    s->memory.chat_template = mr.Str("chat_template");
  }
  // The ranges CreateSession accepts.
  s->temperature = r.Float("temperature", 1.0, 0.0, 100.0);
  s->top_p = r.Float("top_p", 1.0, 0.0, 1.0, /*open_lo=*/true);
  s->max_reply_tokens = static_cast<int32_t>(r.Int("max_reply_tokens", true));
  s->short_term = r.Str("short_term");
  s->turns = r.Int("turns", true);
  s->created_ms = r.Int("created_ms");
  s->updated_ms = r.Int("updated_ms");
  s->forked_from = r.Str("forked_from");
  s->forked_at_turn = r.Int("forked_at_turn");
}

void ReadTurn(const Value& v, size_t i, TurnRecord* t, Status* error) {
  const std::string path = "turns[" + std::to_string(i) + "]";
  Reader r(&v, path, error);
  t->index = r.Int("index", true);
  t->status = TurnRecord::Status::kCommitted;
  t->request_id = r.Str("request_id");
  t->input = r.Str("input");
  t->reply = r.Str("reply");
  t->short_term_after = r.Str("short_term_after");
  if (const Value::Array* plans = r.Arr("plans")) {
    for (const Value& p : *plans) {
      if (!p.is_string()) return r.FailField("plans", "must hold strings");
      t->plans.push_back(p.AsString());
    }
  }
  if (const Value::Array* got = r.Arr("retrieved")) {
    for (const Value& o : *got) {
      Reader rr(&o, path + ".retrieved[]", error);
      t->retrieved.push_back({rr.Int("memory_id", true), rr.Float("score", 0, -1.5, 1.5)});  // a cosine, with rounding slack
    }
  }
  t->rebuilt_from_text = r.Bool("rebuilt_from_text");
  t->created_ms = r.Int("created_ms");
  t->committed_ms = r.Int("committed_ms");
}

void ReadMemory(const Value& v, size_t i, MemoryItem* m, Status* error) {
  Reader r(&v, "memory[" + std::to_string(i) + "]", error);
  m->id = r.Int("id");
  m->turn = r.Int("turn");
  m->text = r.Str("text", true);
  const std::string emb = r.Str("embedding");
  StatusOr<std::string> bytes = Base64Decode(emb);
  if (!bytes.ok() || bytes->size() % sizeof(float) != 0) {
    return r.FailField("embedding", "must be base64 of float32 values");
  }
  m->embedding.resize(bytes->size() / sizeof(float));
  if (!bytes->empty()) std::memcpy(m->embedding.data(), bytes->data(), bytes->size());
  for (float x : m->embedding) {
    if (!std::isfinite(x)) return r.FailField("embedding", "holds a non-finite value");
  }
  m->created_ms = r.Int("created_ms");
  m->updated_ms = r.Int("updated_ms");
}

void ReadSnapshot(const Value* v, Snapshot* s, Status* error) {
  Reader r(v, "snapshot", error);
  s->turn = r.Int("turn", true);
  s->model_fingerprint = r.Str("model_fingerprint", true);
  StatusOr<std::string> state = Base64Decode(r.Str("state", true));
  if (!state.ok()) return r.FailField("state", "must be base64");
  s->state = std::move(*state);
  s->consumed_tokens = r.Int("consumed_tokens");
  s->pending_token = static_cast<int32_t>(r.Int("pending_token"));
  s->tail = r.Str("tail");
  const std::string hex = r.Str("checksum", true);
  if (!error->ok()) return;
  if (hex != Hex(SnapshotChecksum(s->state))) {
    *error = DataLossError("session JSON: snapshot.state does not match its checksum");
    return;
  }
  s->checksum = SnapshotChecksum(s->state);
}

}  // namespace

std::string Base64Encode(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    const uint32_t v = (static_cast<uint8_t>(bytes[i]) << 16) | (static_cast<uint8_t>(bytes[i + 1]) << 8) |
                       static_cast<uint8_t>(bytes[i + 2]);
    out += kAlphabet[v >> 18];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  const size_t rest = bytes.size() - i;
  if (rest > 0) {
    uint32_t v = static_cast<uint8_t>(bytes[i]) << 16;
    if (rest == 2) v |= static_cast<uint8_t>(bytes[i + 1]) << 8;
    out += kAlphabet[v >> 18];
    out += kAlphabet[(v >> 12) & 63];
    out += rest == 2 ? kAlphabet[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

StatusOr<std::string> Base64Decode(std::string_view text) {
  if (text.size() % 4 != 0) return InvalidArgumentError("base64: length is not a multiple of 4");
  auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  std::string out;
  out.reserve(text.size() / 4 * 3);
  for (size_t i = 0; i < text.size(); i += 4) {
    const bool last = i + 4 == text.size();
    const int pad = last ? (text[i + 3] == '=') + (text[i + 2] == '=' && text[i + 3] == '=') : 0;
    uint32_t v = 0;
    for (int j = 0; j < 4; ++j) {
      const char c = text[i + static_cast<size_t>(j)];
      const int d = j >= 4 - pad ? 0 : value(c);
      if (d < 0) return InvalidArgumentError("base64: invalid character");
      v = (v << 6) | static_cast<uint32_t>(d);
    }
    out += static_cast<char>(v >> 16);
    if (pad < 2) out += static_cast<char>((v >> 8) & 255);
    if (pad < 1) out += static_cast<char>(v & 255);
  }
  return out;
}

std::string ExportJson(const SessionDump& dump) {
  Value turns = Value::MakeArray();
  for (const TurnRecord& t : dump.turns) turns.Push(TurnToJson(t));
  Value memory = Value::MakeArray();
  for (const MemoryItem& m : dump.memory) memory.Push(MemoryToJson(m));
  Value v = Value::MakeObject();
  v.Set("format", Value::String("recurrent-session"));
  v.Set("version", Value::Int(1));
  v.Set("session", SessionToJson(dump.session));
  v.Set("turns", std::move(turns));
  v.Set("memory", std::move(memory));
  v.Set("snapshot", dump.snapshot.has_value() ? SnapshotToJson(*dump.snapshot) : Value());
  return v.Dump();
}

StatusOr<SessionDump> ImportJson(std::string_view text) {
  RS_ASSIGN_OR_RETURN(Value v, json::Parse(text));
  Status error;
  Reader top(&v, "$", &error);
  if (top.Str("format", true) != "recurrent-session" && error.ok()) {
    return InvalidArgumentError("session JSON: format is not \"recurrent-session\"");
  }
  if (const int64_t version = top.Int("version", true); error.ok() && version != 1) {
    return InvalidArgumentError("session JSON: version " + std::to_string(version) + " is not supported (1 is)");
  }
  SessionDump dump;
  ReadSession(v.Find("session"), &dump.session, &error);
  if (const Value::Array* turns = top.Arr("turns")) {
    for (size_t i = 0; i < turns->size() && error.ok(); ++i) {
      dump.turns.emplace_back();
      ReadTurn((*turns)[i], i, &dump.turns.back(), &error);
    }
  }
  if (const Value::Array* memory = top.Arr("memory")) {
    for (size_t i = 0; i < memory->size() && error.ok(); ++i) {
      dump.memory.emplace_back();
      ReadMemory((*memory)[i], i, &dump.memory.back(), &error);
    }
  }
  if (const Value* snap = top.Obj("snapshot")) {
    dump.snapshot.emplace();
    ReadSnapshot(snap, &*dump.snapshot, &error);
  }
  if (!error.ok()) return error;
  // Turns must be 1..n in order and agree with the session's count.
  for (size_t i = 0; i < dump.turns.size(); ++i) {
    if (dump.turns[i].index != static_cast<int64_t>(i + 1)) {
      return InvalidArgumentError("session JSON: turns must be numbered 1.." + std::to_string(dump.turns.size()));
    }
  }
  if (dump.session.turns != static_cast<int64_t>(dump.turns.size())) {
    return InvalidArgumentError("session JSON: session.turns is " + std::to_string(dump.session.turns) + " but " +
                                std::to_string(dump.turns.size()) + " turns are given");
  }
  return dump;
}

}  // namespace rs::sessions
