// StateCache: recurrent states kept in host memory after their requests end,
// so later requests skip re-processing tokens the state already covers.
//
// Two kinds of entries, each in its own LRU with its own byte budget (so a
// burst of one-off prompts never evicts a conversation):
//   * prefix entries, keyed by the exact token sequence the state consumed:
//     LookupPrefix finds the longest entry whose tokens start the new input
//     (a hash per prefix length, verified token by token on a hit);
//   * session entries, keyed by a session id: the state after a conversation's
//     history, the history itself, and the last sampled token that the state
//     has not consumed yet (it is fed first on the next turn).
// Every entry carries its model fingerprint (HostState::model_fingerprint);
// an entry of another model is a miss. An entry larger than its budget is not
// kept. Bytes count the state and the token ids.
//
// Thread-safety: not thread-safe; the scheduler's engine thread owns it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <list>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "engine/state.h"

namespace rs::scheduler {

class StateCache {
 public:
  struct Entry {
    std::vector<int32_t> tokens;  // consumed by `state`, in order
    int32_t pending_token = -1;   // sessions: sampled last, not yet consumed
    engine::HostState state;
    size_t bytes() const;
  };

  // `fingerprint`: the model's; entries of others are misses.
  StateCache(std::string fingerprint, size_t prefix_capacity_bytes, size_t session_capacity_bytes);

  // Keeps `entry` (its tokens must be non-empty) as a prefix entry, replacing
  // an equal key; evicts least recently used ones to fit.
  void PutPrefix(Entry entry);
  // The longest prefix entry whose tokens equal tokens[0, n) for some
  // 1 <= n <= max_len, marked most recently used; null if none.
  const Entry* LookupPrefix(std::span<const int32_t> tokens, size_t max_len);

  // Keeps `entry` under `session_id`, replacing the previous one.
  void PutSession(const std::string& session_id, Entry entry);
  // The session's entry, marked most recently used; null if unknown.
  const Entry* GetSession(const std::string& session_id);
  bool EraseSession(const std::string& session_id);

  int64_t entries() const { return static_cast<int64_t>(prefixes_.map.size() + sessions_.map.size()); }
  size_t bytes() const { return prefixes_.bytes + sessions_.bytes; }
  size_t capacity_bytes() const { return prefixes_.capacity + sessions_.capacity; }
  int64_t prefix_entries() const { return static_cast<int64_t>(prefixes_.map.size()); }
  int64_t session_entries() const { return static_cast<int64_t>(sessions_.map.size()); }

 private:
  // A byte-bounded LRU of entries keyed by K.
  template <typename K>
  struct Lru {
    struct Node {
      K key;
      Entry entry;
    };
    std::list<Node> order;  // most recently used first
    std::unordered_map<K, typename std::list<Node>::iterator> map;
    size_t bytes = 0, capacity = 0;

    Entry* Find(const K& key);  // marks used
    void Put(K key, Entry entry);
    bool Erase(const K& key);
  };

  std::string fingerprint_;
  Lru<uint64_t> prefixes_;  // key: TokenHash of the entry's tokens
  Lru<std::string> sessions_;
};

// FNV-1a 64 of the tokens' little-endian bytes, extendable one token at a
// time: TokenHashStep(TokenHash(t[0..n)), t[n]) == TokenHash(t[0..n]).
uint64_t TokenHashStep(uint64_t h, int32_t token);
uint64_t TokenHash(std::span<const int32_t> tokens);

}  // namespace rs::scheduler
