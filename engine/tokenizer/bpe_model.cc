#include "engine/tokenizer/bpe_model.h"

#include <mutex>
#include <queue>

namespace rs::engine {
namespace {

inline uint64_t PairKey(int32_t left, int32_t right) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) | static_cast<uint32_t>(right);
}

inline uint64_t MixHash(uint64_t key) {
  key ^= key >> 33;
  key *= 0xff51afd7ed558ccdULL;
  key ^= key >> 33;
  return key;
}

}  // namespace

StatusOr<std::unique_ptr<BpeModel>> BpeModel::Create(
    const std::array<int32_t, 256>& byte_ids, const std::vector<Merge>& merges, bool ignore_merges,
    std::unordered_map<std::string, int32_t> whole_words) {
  std::unique_ptr<BpeModel> model(new BpeModel());
  for (int b = 0; b < 256; ++b) {
    if (byte_ids[b] < -1) return InvalidArgumentError("BPE: negative byte token id");
    if (byte_ids[b] == -1) model->all_bytes_ = false;
  }
  model->byte_ids_ = byte_ids;
  size_t capacity = 16;
  while (capacity < 2 * merges.size()) capacity *= 2;
  model->pairs_.assign(capacity, PairEntry{});
  model->pair_mask_ = capacity - 1;
  for (size_t rank = 0; rank < merges.size(); ++rank) {
    const Merge& m = merges[rank];
    if (m.left < 0 || m.right < 0 || m.merged < 0) {
      return InvalidArgumentError("BPE: negative id in merge " + std::to_string(rank));
    }
    const uint64_t key = PairKey(m.left, m.right);
    size_t slot = MixHash(key) & model->pair_mask_;
    while (model->pairs_[slot].key != kEmpty && model->pairs_[slot].key != key) {
      slot = (slot + 1) & model->pair_mask_;
    }
    // A pair listed twice keeps its last rank, as HF's map from pairs does.
    model->pairs_[slot] = PairEntry{key, static_cast<int32_t>(rank), m.merged};
  }
  model->ignore_merges_ = ignore_merges;
  model->whole_words_ = std::move(whole_words);
  return model;
}

const BpeModel::PairEntry* BpeModel::FindPair(int32_t left, int32_t right) const {
  const uint64_t key = PairKey(left, right);
  for (size_t slot = MixHash(key) & pair_mask_;; slot = (slot + 1) & pair_mask_) {
    const PairEntry& e = pairs_[slot];
    if (e.key == key) return &e;
    if (e.key == kEmpty) return nullptr;
  }
}

void BpeModel::EncodeWordUncached(std::string_view word, std::vector<int32_t>* out) const {
  std::string kept;
  if (!all_bytes_) {
    // Bytes without a token are dropped, as HF drops unknown characters
    // when there is no unk token.
    for (char c : word) {
      if (byte_ids_[static_cast<unsigned char>(c)] >= 0) kept.push_back(c);
    }
    if (kept.size() != word.size()) word = kept;
  }
  const size_t n = word.size();
  if (n == 0) return;
  if (ignore_merges_) {
    auto it = whole_words_.find(std::string(word));
    if (it != whole_words_.end()) {
      out->push_back(it->second);
      return;
    }
  }
  if (n == 1) {
    out->push_back(byte_ids_[static_cast<unsigned char>(word[0])]);
    return;
  }
  // Symbols are indexed by the position of their first byte: the symbol at
  // i covers bytes [i, i + len[i]); len[i] == 0 marks a merged-away one.
  std::vector<int32_t> id(n), len(n, 1), prev(n);
  for (size_t i = 0; i < n; ++i) {
    id[i] = byte_ids_[static_cast<unsigned char>(word[i])];
    prev[i] = static_cast<int32_t>(i) - 1;
  }
  // Candidate merges, lowest (rank, position) first. A candidate records
  // the lengths of its two symbols: it is stale once either has changed.
  struct Candidate {
    uint64_t order;  // (rank << 32) | position
    int32_t left_len;
    int32_t right_len;
    int32_t merged;
    bool operator>(const Candidate& o) const { return order > o.order; }
  };
  std::priority_queue<Candidate, std::vector<Candidate>, std::greater<Candidate>> queue;
  auto consider = [&](size_t pos) {
    const size_t next = pos + len[pos];
    if (next >= n) return;
    if (const PairEntry* e = FindPair(id[pos], id[next])) {
      queue.push({(static_cast<uint64_t>(e->rank) << 32) | pos, len[pos], len[next], e->merged});
    }
  };
  for (size_t i = 0; i + 1 < n; ++i) consider(i);
  while (!queue.empty()) {
    const Candidate c = queue.top();
    queue.pop();
    const size_t pos = static_cast<uint32_t>(c.order);
    if (len[pos] != c.left_len) continue;
    const size_t right = pos + c.left_len;
    if (right >= n || len[right] != c.right_len) continue;
    id[pos] = c.merged;
    len[pos] += len[right];
    len[right] = 0;
    const size_t next = pos + len[pos];
    if (next < n) prev[next] = static_cast<int32_t>(pos);
    if (prev[pos] >= 0) consider(static_cast<size_t>(prev[pos]));
    consider(pos);
  }
  for (size_t i = 0; i < n; i += len[i]) out->push_back(id[i]);
}

void BpeModel::EncodeWord(std::string_view word, std::vector<int32_t>* out) const {
  if (word.size() <= 1 || word.size() > kCacheMaxWordBytes) {
    EncodeWordUncached(word, out);
    return;
  }
  const size_t hash = StringHash{}(word);
  CacheShard& shard = cache_[(hash >> 7) % kCacheShards];
  {
    std::shared_lock lock(shard.mu);
    auto it = shard.words.find(word);
    if (it != shard.words.end()) {
      out->insert(out->end(), it->second.begin(), it->second.end());
      return;
    }
  }
  const size_t start = out->size();
  EncodeWordUncached(word, out);
  std::unique_lock lock(shard.mu);
  if (shard.words.size() < kCacheEntriesPerShard) {
    shard.words.try_emplace(std::string(word), out->begin() + start, out->end());
  }
}

}  // namespace rs::engine
