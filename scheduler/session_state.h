// SessionState: a conversation's kept state as the scheduler keeps it between
// turns (a StateCache session entry), in a form that can leave the process:
// exported after a turn (Request::return_session_state ->
// Result::session_state), stored (Serialize: a self-checking byte string),
// and imported by another scheduler (Request::restore_session) after a
// restart or on another replica. Everything a kept session needs to continue
// bitwise as if it had never left the cache.
//
// Thread-safety: a value type; the scheduler hands it out as
// shared_ptr<const SessionState>, safe to read from any thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "engine/state.h"
#include "engine/util/status.h"

namespace rs::scheduler {

struct SessionState {
  // The recurrent state after consuming `tokens` (carries the model
  // fingerprint and the state layout version).
  engine::HostState state;
  // Every token the state has consumed, in order: the conversation so far
  // (prompts and replies, but the last sampled token). Usage (prompt_tokens,
  // cached_tokens) and the sampling penalties count the whole history, so a
  // continued turn needs it to equal an uninterrupted one. 4 bytes a token.
  std::vector<int32_t> tokens;
  // The last sampled token, not consumed yet: fed first on the next turn.
  // -1: none.
  int32_t pending_token = -1;

  // A self-checking byte string:
  //   magic "RSSN" | u32 format version | i32 pending_token |
  //   u64 n_tokens | n_tokens x i32 | u64 n_state_bytes |
  //   HostState::Serialize() (itself checksummed) |
  //   u64 Hash64 of everything before.
  // All integers little-endian.
  std::string Serialize() const;
  // Errors: DATA_LOSS for a bad magic, truncation, bad lengths or a checksum
  // mismatch (here or in the state); FAILED_PRECONDITION for another format
  // version or state layout version. Does NOT check the model fingerprint
  // or token ids against a model (the scheduler does, when it restores).
  static StatusOr<SessionState> Parse(std::string_view bytes);
};

}  // namespace rs::scheduler
