#include "engine/tokenizer/added_vocabulary.h"

namespace rs::engine {

int32_t AddedTokenMatcher::NewNode() {
  nodes_.push_back(Node{{}, -1});
  return static_cast<int32_t>(nodes_.size() - 1);
}

void AddedTokenMatcher::Add(std::string_view content, int32_t id) {
  if (content.empty()) return;
  first_byte_[static_cast<unsigned char>(content[0])] = true;
  int32_t node = 0;
  for (char ch : content) {
    const unsigned char b = static_cast<unsigned char>(ch);
    int32_t child = nodes_[node].child[b];
    if (child == 0) {
      child = NewNode();
      nodes_[node].child[b] = child;
    }
    node = child;
  }
  nodes_[node].id = id;
}

void AddedTokenMatcher::Split(std::string_view text, std::vector<Piece>* pieces) const {
  size_t gap_start = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    if (!first_byte_[static_cast<unsigned char>(text[pos])]) {
      ++pos;
      continue;
    }
    // Longest token starting at pos.
    int32_t best_id = -1;
    size_t best_end = 0;
    int32_t node = 0;
    for (size_t i = pos; i < text.size(); ++i) {
      node = nodes_[node].child[static_cast<unsigned char>(text[i])];
      if (node == 0) break;
      if (nodes_[node].id >= 0) {
        best_id = nodes_[node].id;
        best_end = i + 1;
      }
    }
    if (best_id < 0) {
      ++pos;
      continue;
    }
    if (pos > gap_start) pieces->push_back({text.substr(gap_start, pos - gap_start), -1});
    pieces->push_back({text.substr(pos, best_end - pos), best_id});
    pos = gap_start = best_end;
  }
  if (text.size() > gap_start) pieces->push_back({text.substr(gap_start), -1});
}

}  // namespace rs::engine
