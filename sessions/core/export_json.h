// Export / Import of a whole session as JSON (issue #6): complete enough to
// move a session between servers (its settings, committed turns, short- and
// long-term memory with embeddings, and the state snapshot).
//
// Format (version 1):
//   {"format":"recurrent-session","version":1,
//    "session":{"id","model","mode":"CHAT"|"STORY","system_prompt",
//               "memory":{"short_term_budget_tokens","retrieval_k","chat_template"},
//               "temperature","top_p","max_reply_tokens","short_term","turns",
//               "created_ms","updated_ms","forked_from","forked_at_turn"},
//    "turns":[{"index","request_id","input","reply","short_term_after",
//              "plans":[..],"retrieved":[{"memory_id","score"}],
//              "rebuilt_from_text","created_ms","committed_ms"}],
//    "memory":[{"id","turn","text","embedding":"<base64 of little-endian
//               float32>","created_ms","updated_ms"}],
//    "snapshot":null | {"turn","model_fingerprint","state":"<base64>",
//               "consumed_tokens","pending_token","tail","checksum":"<hex>"}}
// Parsing untrusted JSON: every field is type-checked; errors are
// INVALID_ARGUMENT naming the field; a snapshot whose bytes do not match
// its checksum is DATA_LOSS.
//
// Thread-safety: pure functions.
#pragma once

#include <string>
#include <string_view>

#include "engine/util/status.h"
#include "sessions/store/session_store.h"

namespace rs::sessions {

std::string ExportJson(const SessionDump& dump);
StatusOr<SessionDump> ImportJson(std::string_view json);

// RFC 4648 base64 (with padding).
std::string Base64Encode(std::string_view bytes);
StatusOr<std::string> Base64Decode(std::string_view text);

}  // namespace rs::sessions
