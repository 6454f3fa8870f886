#include "scheduler/session_state.h"

#include <cstring>

#include "engine/util/hash.h"

namespace rs::scheduler {
namespace {

constexpr char kMagic[4] = {'R', 'S', 'S', 'N'};
constexpr uint32_t kFormatVersion = 1;

void PutLE(std::string* out, uint64_t v, int n) {
  for (int i = 0; i < n; ++i) out->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

uint64_t GetLE(std::string_view s, size_t pos, int n) {
  uint64_t v = 0;
  for (int i = 0; i < n; ++i)
    v |= static_cast<uint64_t>(static_cast<unsigned char>(s[pos + static_cast<size_t>(i)]))
         << (8 * i);
  return v;
}

}  // namespace

std::string SessionState::Serialize() const {
  const std::string st = state.Serialize();
  std::string out;
  out.reserve(4 + 4 + 4 + 8 + tokens.size() * 4 + 8 + st.size() + 8);
  out.append(kMagic, 4);
  PutLE(&out, kFormatVersion, 4);
  PutLE(&out, static_cast<uint32_t>(pending_token), 4);
  PutLE(&out, tokens.size(), 8);
  for (int32_t t : tokens) PutLE(&out, static_cast<uint32_t>(t), 4);
  PutLE(&out, st.size(), 8);
  out += st;
  PutLE(&out, Hash64(out.data(), out.size()), 8);
  return out;
}

StatusOr<SessionState> SessionState::Parse(std::string_view bytes) {
  // Magic, version, pending token, token count, state length, checksum.
  constexpr size_t kFixed = 4 + 4 + 4 + 8 + 8 + 8;
  if (bytes.size() < kFixed) return DataLossError("serialized session state is truncated");
  if (std::memcmp(bytes.data(), kMagic, 4) != 0) {
    return DataLossError("not a serialized session state (bad magic)");
  }
  if (Hash64(bytes.data(), bytes.size() - 8) != GetLE(bytes, bytes.size() - 8, 8)) {
    return DataLossError("serialized session state checksum mismatch");
  }
  const auto version = static_cast<uint32_t>(GetLE(bytes, 4, 4));
  if (version != kFormatVersion) {
    return FailedPreconditionError("session state format version " + std::to_string(version) +
                                   " is not supported (this build reads " +
                                   std::to_string(kFormatVersion) + ")");
  }
  SessionState s;
  s.pending_token = static_cast<int32_t>(static_cast<uint32_t>(GetLE(bytes, 8, 4)));
  const uint64_t n_tokens = GetLE(bytes, 12, 8);
  if (n_tokens > (bytes.size() - kFixed) / 4)
    return DataLossError("serialized session state has a bad token count");
  const size_t tokens_at = 20, state_len_at = tokens_at + static_cast<size_t>(n_tokens) * 4;
  const uint64_t n_state = GetLE(bytes, state_len_at, 8);
  if (n_state != bytes.size() - kFixed - n_tokens * 4) {
    return DataLossError("serialized session state has a bad state length");
  }
  s.tokens.resize(static_cast<size_t>(n_tokens));
  for (size_t i = 0; i < s.tokens.size(); ++i) {
    s.tokens[i] = static_cast<int32_t>(static_cast<uint32_t>(GetLE(bytes, tokens_at + 4 * i, 4)));
  }
  RS_ASSIGN_OR_RETURN(s.state, engine::HostState::Parse(
                                   bytes.substr(state_len_at + 8, static_cast<size_t>(n_state))));
  return s;
}

}  // namespace rs::scheduler
