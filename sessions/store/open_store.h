// OpenSessionStore: a SessionStore from a --sessions value.
//   "sqlite:PATH"        the embedded SQLite store (a file; created if missing)
//   "postgres:CONNINFO"  PostgreSQL via libpq (a URI "postgresql://..." or
//                        "key=value ..." conninfo), for replicas sharing
//                        sessions
// Errors: INVALID_ARGUMENT for another form; the store's own Open errors
// (DATA_LOSS for a corrupt file, UNAVAILABLE for an unreachable server, ...).
//
// Thread-safety: thread-compatible (call it once at start-up).
#pragma once

#include <memory>
#include <string>

#include "sessions/store/session_store.h"

namespace rs::sessions {

StatusOr<std::unique_ptr<SessionStore>> OpenSessionStore(const std::string& spec);

// `spec` fit for logs: the value of every password= key (quoted or not) and
// the password of a URI's user:password@ replaced by ***.
std::string RedactStoreSpec(const std::string& spec);

}  // namespace rs::sessions
