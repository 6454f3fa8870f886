// Exact cosine top-k over a session's long-term memory (issue #6).
//
// Embeddings are L2-normalized when they are made (Embedder), so cosine
// similarity is a dot product; items with an empty embedding or one of
// another length are skipped. Ties in score go to the lower id; the result
// is score-descending.
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "sessions/store/session_store.h"

namespace rs::sessions {

struct Scored {
  const MemoryItem* item = nullptr;
  float score = 0;
};

// The k items most similar to `query` (fewer if there are fewer usable).
std::vector<Scored> TopK(std::span<const float> query, const std::vector<MemoryItem>& items, int k);

// v / |v| (a zero vector stays zero).
void L2Normalize(std::vector<float>* v);

}  // namespace rs::sessions
