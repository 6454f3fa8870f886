#include "sessions/core/retrieval.h"

#include <algorithm>
#include <cmath>

namespace rs::sessions {

std::vector<Scored> TopK(std::span<const float> query, const std::vector<MemoryItem>& items, int k) {
  std::vector<Scored> scored;
  if (k <= 0 || query.empty()) return scored;
  scored.reserve(items.size());
  for (const MemoryItem& item : items) {
    if (item.embedding.size() != query.size()) continue;
    double dot = 0;
    for (size_t i = 0; i < query.size(); ++i) {
      dot += static_cast<double>(query[i]) * static_cast<double>(item.embedding[i]);
    }
    scored.push_back({&item, static_cast<float>(dot)});
  }
  auto better = [](const Scored& a, const Scored& b) {
    return a.score > b.score || (a.score == b.score && a.item->id < b.item->id);
  };
  const size_t n = std::min(scored.size(), static_cast<size_t>(k));
  std::partial_sort(scored.begin(), scored.begin() + static_cast<std::ptrdiff_t>(n), scored.end(), better);
  scored.resize(n);
  return scored;
}

void L2Normalize(std::vector<float>* v) {
  double sq = 0;
  for (float x : *v) sq += static_cast<double>(x) * x;
  if (sq <= 0) return;
  const double inv = 1.0 / std::sqrt(sq);
  for (float& x : *v) x = static_cast<float>(x * inv);
}

}  // namespace rs::sessions
