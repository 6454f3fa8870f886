// Added tokens (HF `tokenizers` AddedVocabulary): strings such as
// "<|endoftext|>" that are cut out of the text before the BPE model sees
// it. Matching is leftmost-longest and non-overlapping, like the
// Aho-Corasick automaton (MatchKind::LeftmostLongest) HF builds: scanning
// left to right, at the first position where any token matches, the longest
// one wins, and the scan resumes after it.
//
// Internal to the tokenizer library. Thread-safety: immutable after
// construction; Split may be called concurrently.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace rs::engine {

class AddedTokenMatcher {
 public:
  // A piece of text: either a token (id >= 0) or a gap to tokenize (-1).
  struct Piece {
    std::string_view text;
    int32_t id;
  };

  // Adds `content` (non-empty) as token `id`; a later duplicate content
  // replaces the earlier id.
  void Add(std::string_view content, int32_t id);
  bool empty() const { return nodes_.size() <= 1; }

  // Splits `text` into tokens and the gaps between them (gaps are never
  // empty), appending to *pieces in order.
  void Split(std::string_view text, std::vector<Piece>* pieces) const;

 private:
  // A byte trie; node 0 is the root.
  struct Node {
    std::array<int32_t, 256> child;  // 0 = none (the root is nobody's child)
    int32_t id = -1;                 // token ending here, or -1
  };
  int32_t NewNode();

  std::vector<Node> nodes_ = std::vector<Node>(1, Node{{}, -1});
  std::array<bool, 256> first_byte_{};  // bytes that start some token
};

}  // namespace rs::engine
