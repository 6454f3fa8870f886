// Internal helpers shared by the SessionStore implementations (not part of the
// contract in session_store.h): the byte encodings of the columns that hold
// lists, the opaque page token, argument validation, and the checks and
// rewrites Fork / Import / CommitTurn share.
//
// Encodings are little-endian and stable (they are written into databases):
//   strings     varint count, then per string: varint length, bytes
//   retrievals  varint count, then per item: int64 memory_id, float32 score
//   embedding   float32 per element (the bytea/BLOB of the schema)
//
// Thread-safety: free functions over values; safe from any thread.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "engine/util/status.h"
#include "sessions/store/session_store.h"

namespace rs::sessions::internal {

// Unix time in milliseconds.
int64_t NowMs();

std::string EncodeStrings(const std::vector<std::string>& v);
StatusOr<std::vector<std::string>> DecodeStrings(const std::string& bytes);
std::string EncodeRetrievals(const std::vector<Retrieval>& v);
StatusOr<std::vector<Retrieval>> DecodeRetrievals(const std::string& bytes);
std::string EncodeEmbedding(const std::vector<float>& v);
// DATA_LOSS unless the size is a multiple of 4.
StatusOr<std::vector<float>> DecodeEmbedding(const std::string& bytes);

// The position after the last session of a page: (created_ms, id).
struct PageCursor {
  int64_t created_ms = 0;
  std::string id;
};
std::string EncodePageToken(const PageCursor& c);
// INVALID_ARGUMENT when malformed.
StatusOr<PageCursor> DecodePageToken(const std::string& token);

// INVALID_ARGUMENT unless tenant and id are non-empty and of sane size.
Status ValidateKey(const std::string& tenant, const std::string& id);
// CreateSession's checks (ids, mode, settings).
Status ValidateNewSession(const SessionRecord& s);
Status ValidatePageSize(int32_t page_size);
Status ValidateMemoryItem(const MemoryItem& item);

// Checks a snapshot CommitTurn is about to store as that of turn `index` and
// fills in what the caller left zero: turn (-> index) and checksum (->
// SnapshotChecksum(state)). INVALID_ARGUMENT on a mismatch.
Status PrepareSnapshot(int64_t index, Snapshot* s);
// DATA_LOSS when s.checksum does not match s.state.
Status VerifySnapshot(const Snapshot& s);

// INVALID_ARGUMENT unless `dump` is importable: turns committed, dense from 1;
// memory items of existing turns; a snapshot of an existing turn whose
// checksum matches.
Status ValidateDump(const SessionDump& dump);

// Rewrites the memory ids turns name in `retrieved` through `old_to_new`
// (ids it does not know are kept: the retrieval is history).
void RemapRetrievals(const std::map<int64_t, int64_t>& old_to_new, std::vector<TurnRecord>* turns);

// The session a Fork of `src` at `at_turn` becomes (before its rows are copied).
SessionRecord ForkedSession(const SessionRecord& src, int64_t at_turn, const std::string& new_id,
                            const std::string& short_term, int64_t now_ms);

}  // namespace rs::sessions::internal
