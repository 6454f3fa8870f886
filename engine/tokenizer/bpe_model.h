// The BPE model of a byte-level tokenizer: turns one pre-tokenized word
// (raw bytes) into token ids by applying merges in rank order, exactly as
// HF `tokenizers` does (lowest rank first, leftmost first among equal ranks).
//
// Internal to the tokenizer library (engine/tokenizer/tokenizer.h is the
// public API). Built once by the loader, then read-only apart from its word
// cache, which is synchronized.
//
// Thread-safety: EncodeWord may be called concurrently from any thread.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "engine/util/status.h"

namespace rs::engine {

class BpeModel {
 public:
  struct Merge {
    int32_t left;
    int32_t right;
    int32_t merged;  // the id of left's bytes + right's bytes
  };

  // `byte_ids[b]` is the id of the single-byte token for byte b, or -1 if
  // there is none (such bytes are dropped from words); `merges`
  // in rank order (rank = index). With `ignore_merges`, a word that is
  // itself in `whole_words` (bytes -> id) is emitted as that one id.
  // Errors: INVALID_ARGUMENT if a merge is given twice or an id is negative.
  static StatusOr<std::unique_ptr<BpeModel>> Create(
      const std::array<int32_t, 256>& byte_ids, const std::vector<Merge>& merges,
      bool ignore_merges, std::unordered_map<std::string, int32_t> whole_words);

  // Appends the ids of `word` (raw bytes, any content) to *out.
  void EncodeWord(std::string_view word, std::vector<int32_t>* out) const;

  // The same without the cache (the reference the cache is tested against).
  void EncodeWordUncached(std::string_view word, std::vector<int32_t>* out) const;

 private:
  BpeModel() = default;

  struct PairEntry {
    uint64_t key = kEmpty;  // (left << 32) | right
    int32_t rank = 0;
    int32_t merged = 0;
  };
  static constexpr uint64_t kEmpty = ~uint64_t{0};

  // The merge of (left, right), or nullptr.
  const PairEntry* FindPair(int32_t left, int32_t right) const;

  std::array<int32_t, 256> byte_ids_{};
  bool all_bytes_ = true;         // no byte_ids_ entry is -1
  std::vector<PairEntry> pairs_;  // open addressing, linear probing
  uint64_t pair_mask_ = 0;
  bool ignore_merges_ = false;
  std::unordered_map<std::string, int32_t> whole_words_;

  // Word cache: bytes -> ids, sharded to keep lock contention low. Entries
  // are only added (up to a bound), never evicted.
  struct StringHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  struct CacheShard {
    mutable std::shared_mutex mu;
    std::unordered_map<std::string, std::vector<int32_t>, StringHash, std::equal_to<>> words;
  };
  static constexpr int kCacheShards = 16;
  static constexpr size_t kCacheEntriesPerShard = 8192;
  static constexpr size_t kCacheMaxWordBytes = 64;
  mutable std::array<CacheShard, kCacheShards> cache_;
};

}  // namespace rs::engine
