#include "scheduler/state_cache.h"

#include <algorithm>
#include <utility>

namespace rs::scheduler {

uint64_t TokenHashStep(uint64_t h, int32_t token) {
  const uint32_t v = static_cast<uint32_t>(token);
  for (int i = 0; i < 4; ++i) {
    h ^= (v >> (8 * i)) & 0xffu;
    h *= 1099511628211ull;
  }
  return h;
}

uint64_t TokenHash(std::span<const int32_t> tokens) {
  uint64_t h = 14695981039346656037ull;
  for (int32_t t : tokens) h = TokenHashStep(h, t);
  return h;
}

size_t StateCache::Entry::bytes() const {
  return state.data.size() * sizeof(float) + tokens.size() * sizeof(int32_t) + state.model_fingerprint.size();
}

template <typename K>
StateCache::Entry* StateCache::Lru<K>::Find(const K& key) {
  auto it = map.find(key);
  if (it == map.end()) return nullptr;
  order.splice(order.begin(), order, it->second);
  return &it->second->entry;
}

template <typename K>
void StateCache::Lru<K>::Put(K key, Entry entry) {
  Erase(key);
  const size_t b = entry.bytes();
  if (b > capacity) return;
  while (bytes + b > capacity && !order.empty()) {
    bytes -= order.back().entry.bytes();
    map.erase(order.back().key);
    order.pop_back();
  }
  order.push_front(Node{key, std::move(entry)});
  map.emplace(std::move(key), order.begin());
  bytes += b;
}

template <typename K>
bool StateCache::Lru<K>::Erase(const K& key) {
  auto it = map.find(key);
  if (it == map.end()) return false;
  bytes -= it->second->entry.bytes();
  order.erase(it->second);
  map.erase(it);
  return true;
}

StateCache::StateCache(std::string fingerprint, size_t prefix_capacity_bytes, size_t session_capacity_bytes)
    : fingerprint_(std::move(fingerprint)) {
  prefixes_.capacity = prefix_capacity_bytes;
  sessions_.capacity = session_capacity_bytes;
}

void StateCache::PutPrefix(Entry entry) {
  if (entry.tokens.empty() || entry.state.model_fingerprint != fingerprint_) return;
  const uint64_t key = TokenHash(entry.tokens);
  prefixes_.Put(key, std::move(entry));
}

const StateCache::Entry* StateCache::LookupPrefix(std::span<const int32_t> tokens, size_t max_len) {
  const size_t n = std::min(max_len, tokens.size());
  if (n == 0 || prefixes_.map.empty()) return nullptr;
  std::vector<uint64_t> hashes(n);
  uint64_t h = 14695981039346656037ull;
  for (size_t i = 0; i < n; ++i) hashes[i] = h = TokenHashStep(h, tokens[i]);
  for (size_t len = n; len >= 1; --len) {
    auto it = prefixes_.map.find(hashes[len - 1]);
    if (it == prefixes_.map.end()) continue;
    const Entry& e = it->second->entry;
    if (e.tokens.size() != len || !std::equal(e.tokens.begin(), e.tokens.end(), tokens.begin())) continue;
    if (e.state.model_fingerprint != fingerprint_) continue;
    return prefixes_.Find(hashes[len - 1]);
  }
  return nullptr;
}

void StateCache::PutSession(const std::string& session_id, Entry entry) {
  if (entry.state.model_fingerprint != fingerprint_) return;
  sessions_.Put(session_id, std::move(entry));
}

const StateCache::Entry* StateCache::GetSession(const std::string& session_id) {
  const Entry* e = sessions_.Find(session_id);
  if (e != nullptr && e->state.model_fingerprint != fingerprint_) return nullptr;
  return e;
}

bool StateCache::EraseSession(const std::string& session_id) { return sessions_.Erase(session_id); }

}  // namespace rs::scheduler
