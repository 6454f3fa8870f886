#include "sessions/store/store_codec.h"

#include <chrono>
#include <cmath>
#include <cstring>

namespace rs::sessions::internal {
namespace {

constexpr size_t kMaxKeyBytes = 256;

void PutVarint(uint64_t v, std::string* out) {
  while (v >= 0x80) {
    out->push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out->push_back(static_cast<char>(v));
}

// Reads a varint at *pos; false when truncated or over 64 bits.
bool GetVarint(const std::string& in, size_t* pos, uint64_t* v) {
  *v = 0;
  for (int shift = 0; shift < 64 && *pos < in.size(); shift += 7) {
    const auto byte = static_cast<unsigned char>(in[(*pos)++]);
    *v |= static_cast<uint64_t>(byte & 0x7f) << shift;
    if ((byte & 0x80) == 0) return true;
  }
  return false;
}

template <typename T>
void PutLe(T value, std::string* out) {
  char buf[sizeof(T)];
  std::memcpy(buf, &value, sizeof(T));  // little-endian hosts only (x86-64, arm64)
  out->append(buf, sizeof(T));
}

template <typename T>
bool GetLe(const std::string& in, size_t* pos, T* value) {
  if (in.size() - *pos < sizeof(T)) return false;
  std::memcpy(value, in.data() + *pos, sizeof(T));
  *pos += sizeof(T);
  return true;
}

Status Corrupt(const char* what) {
  return DataLossError(std::string("corrupt ") + what + " column");
}

}  // namespace

int64_t NowMs() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

std::string EncodeStrings(const std::vector<std::string>& v) {
  std::string out;
  PutVarint(v.size(), &out);
  for (const auto& s : v) {
    PutVarint(s.size(), &out);
    out += s;
  }
  return out;
}

StatusOr<std::vector<std::string>> DecodeStrings(const std::string& bytes) {
  std::vector<std::string> v;
  if (bytes.empty()) return v;
  size_t pos = 0;
  uint64_t n = 0;
  if (!GetVarint(bytes, &pos, &n) || n > bytes.size()) return Corrupt("plans");
  for (uint64_t i = 0; i < n; ++i) {
    uint64_t len = 0;
    if (!GetVarint(bytes, &pos, &len) || len > bytes.size() - pos) return Corrupt("plans");
    v.emplace_back(bytes.substr(pos, len));
    pos += len;
  }
  if (pos != bytes.size()) return Corrupt("plans");
  return v;
}

std::string EncodeRetrievals(const std::vector<Retrieval>& v) {
  std::string out;
  PutVarint(v.size(), &out);
  for (const auto& r : v) {
    PutLe<int64_t>(r.memory_id, &out);
    PutLe<float>(r.score, &out);
  }
  return out;
}

StatusOr<std::vector<Retrieval>> DecodeRetrievals(const std::string& bytes) {
  std::vector<Retrieval> v;
  if (bytes.empty()) return v;
  size_t pos = 0;
  uint64_t n = 0;
  if (!GetVarint(bytes, &pos, &n) || n > bytes.size()) return Corrupt("retrieved");
  for (uint64_t i = 0; i < n; ++i) {
    Retrieval r;
    if (!GetLe(bytes, &pos, &r.memory_id) || !GetLe(bytes, &pos, &r.score))
      return Corrupt("retrieved");
    v.push_back(r);
  }
  if (pos != bytes.size()) return Corrupt("retrieved");
  return v;
}

std::string EncodeEmbedding(const std::vector<float>& v) {
  std::string out(v.size() * sizeof(float), '\0');
  if (!v.empty()) std::memcpy(out.data(), v.data(), out.size());
  return out;
}

StatusOr<std::vector<float>> DecodeEmbedding(const std::string& bytes) {
  if (bytes.size() % sizeof(float) != 0) return Corrupt("embedding");
  std::vector<float> v(bytes.size() / sizeof(float));
  if (!v.empty()) std::memcpy(v.data(), bytes.data(), bytes.size());
  return v;
}

std::string EncodePageToken(const PageCursor& c) {
  static const char kHex[] = "0123456789abcdef";
  std::string out = "p1." + std::to_string(c.created_ms) + ".";
  for (unsigned char ch : c.id) {
    out.push_back(kHex[ch >> 4]);
    out.push_back(kHex[ch & 15]);
  }
  return out;
}

StatusOr<PageCursor> DecodePageToken(const std::string& token) {
  const Status bad = InvalidArgumentError("malformed page_token");
  if (token.rfind("p1.", 0) != 0) return bad;
  const size_t dot = token.find('.', 3);
  if (dot == std::string::npos || dot == 3 || dot - 3 > 18) return bad;
  PageCursor c;
  for (size_t i = 3; i < dot; ++i) {
    if (token[i] < '0' || token[i] > '9') return bad;
    c.created_ms = c.created_ms * 10 + (token[i] - '0');
  }
  const std::string hex = token.substr(dot + 1);
  if (hex.empty() || hex.size() % 2 != 0 || hex.size() > 2 * kMaxKeyBytes) return bad;
  auto nibble = [](char ch) -> int {
    if (ch >= '0' && ch <= '9') return ch - '0';
    if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
    return -1;
  };
  for (size_t i = 0; i < hex.size(); i += 2) {
    const int hi = nibble(hex[i]), lo = nibble(hex[i + 1]);
    if (hi < 0 || lo < 0) return bad;
    c.id.push_back(static_cast<char>(hi * 16 + lo));
  }
  return c;
}

Status ValidateKey(const std::string& tenant, const std::string& id) {
  if (tenant.empty() || tenant.size() > kMaxKeyBytes) {
    return InvalidArgumentError("tenant must be 1.." + std::to_string(kMaxKeyBytes) + " bytes");
  }
  if (id.empty() || id.size() > kMaxKeyBytes) {
    return InvalidArgumentError("session id must be 1.." + std::to_string(kMaxKeyBytes) + " bytes");
  }
  return OkStatus();
}

Status ValidateNewSession(const SessionRecord& s) {
  RS_RETURN_IF_ERROR(ValidateKey(s.tenant, s.id));
  if (s.mode != SessionMode::kChat && s.mode != SessionMode::kStory) {
    return InvalidArgumentError("unknown session mode");
  }
  if (s.memory.short_term_budget_tokens < 0 || s.memory.retrieval_k < 0 || s.max_reply_tokens < 0) {
    return InvalidArgumentError("memory budgets, retrieval_k and max_reply_tokens must be >= 0");
  }
  if (!std::isfinite(s.temperature) || !std::isfinite(s.top_p)) {
    return InvalidArgumentError("temperature and top_p must be finite");
  }
  return OkStatus();
}

Status ValidatePageSize(int32_t page_size) {
  if (page_size < 1 || page_size > 1000)
    return InvalidArgumentError("page_size must be in [1, 1000]");
  return OkStatus();
}

Status ValidateMemoryItem(const MemoryItem& item) {
  if (item.text.empty()) return InvalidArgumentError("memory item text is empty");
  if (item.turn < 0) return InvalidArgumentError("memory item turn must be >= 0");
  for (float x : item.embedding) {
    if (!std::isfinite(x)) return InvalidArgumentError("memory item embedding is not finite");
  }
  return OkStatus();
}

Status PrepareSnapshot(int64_t index, Snapshot* s) {
  if (s->turn == 0) s->turn = index;
  if (s->turn != index) {
    return InvalidArgumentError("snapshot of turn " + std::to_string(s->turn) +
                                " committed with turn " + std::to_string(index));
  }
  const uint64_t sum = SnapshotChecksum(s->state);
  if (s->checksum == 0) s->checksum = sum;
  if (s->checksum != sum) return InvalidArgumentError("snapshot checksum does not match its bytes");
  return OkStatus();
}

Status VerifySnapshot(const Snapshot& s) {
  if (SnapshotChecksum(s.state) != s.checksum) {
    return DataLossError("snapshot of turn " + std::to_string(s.turn) +
                         " does not match its checksum (rebuild from text)");
  }
  return OkStatus();
}

Status ValidateDump(const SessionDump& dump) {
  const int64_t n = static_cast<int64_t>(dump.turns.size());
  for (int64_t i = 0; i < n; ++i) {
    const TurnRecord& t = dump.turns[i];
    if (t.status != TurnRecord::Status::kCommitted || t.index != i + 1) {
      return InvalidArgumentError("dump turns must be committed and numbered 1..n");
    }
  }
  for (const MemoryItem& m : dump.memory) {
    RS_RETURN_IF_ERROR(ValidateMemoryItem(m));
    if (m.turn > n) return InvalidArgumentError("dump memory item of a turn the dump lacks");
  }
  if (dump.snapshot) {
    if (dump.snapshot->turn < 1 || dump.snapshot->turn > n) {
      return InvalidArgumentError("dump snapshot of a turn the dump lacks");
    }
    if (SnapshotChecksum(dump.snapshot->state) != dump.snapshot->checksum) {
      return InvalidArgumentError("dump snapshot does not match its checksum");
    }
  }
  return OkStatus();
}

void RemapRetrievals(const std::map<int64_t, int64_t>& old_to_new, std::vector<TurnRecord>* turns) {
  for (TurnRecord& t : *turns) {
    for (Retrieval& r : t.retrieved) {
      auto it = old_to_new.find(r.memory_id);
      if (it != old_to_new.end()) r.memory_id = it->second;
    }
  }
}

SessionRecord ForkedSession(const SessionRecord& src, int64_t at_turn, const std::string& new_id,
                            const std::string& short_term, int64_t now_ms) {
  SessionRecord s = src;
  s.id = new_id;
  s.turns = at_turn;
  s.short_term = short_term;
  s.created_ms = now_ms;
  s.updated_ms = now_ms;
  s.forked_from = src.id;
  s.forked_at_turn = at_turn;
  return s;
}

}  // namespace rs::sessions::internal
