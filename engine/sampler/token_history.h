// TokenHistory: the per-sequence token counts the penalties need.
//
// Sparse: memory and Sampler cost grow with the number of DISTINCT tokens seen,
// never with the vocabulary. Add() is O(1) amortized (one hash lookup), so the
// scheduler can call it for every prompt token and every generated token.
// Prompt and generated occurrences are counted separately because the
// repetition penalty uses both while the presence/frequency penalties use only
// generated tokens (see SamplingParams).
//
// Thread-safety: not synchronized. One sequence's history is written by one
// thread; const methods may run concurrently with each other.
#pragma once

#include <cstdint>
#include <span>
#include <unordered_map>
#include <vector>

namespace rs::engine {

class TokenHistory {
 public:
  struct Entry {
    int32_t id;
    uint32_t prompt_count;     // occurrences in the prompt (saturates at 2^32-1)
    uint32_t generated_count;  // occurrences among generated tokens (saturates)
  };

  TokenHistory() = default;

  // Records one occurrence of `id`. Negative ids are ignored; ids beyond the
  // vocabulary are kept but never touch a logit (Sample bounds-checks them).
  void Add(int32_t id, bool is_prompt);
  // Add(id, /*is_prompt=*/true) for every id.
  void AddPrompt(std::span<const int32_t> ids);

  // Occurrences of `id` in the prompt, among generated tokens, and in both.
  uint32_t prompt_count(int32_t id) const;
  uint32_t generated_count(int32_t id) const;
  uint64_t count(int32_t id) const;

  // Distinct ids seen, in first-seen order (each has a non-zero count).
  std::span<const Entry> entries() const { return entries_; }
  size_t num_distinct() const { return entries_.size(); }
  // Totals over all Add() calls.
  uint64_t num_prompt_tokens() const { return num_prompt_; }
  uint64_t num_generated_tokens() const { return num_generated_; }

  // Forgets everything (keeps allocated memory).
  void Clear();

 private:
  const Entry* Find(int32_t id) const;

  std::vector<Entry> entries_;
  std::unordered_map<int32_t, uint32_t> index_;  // id -> position in entries_
  uint64_t num_prompt_ = 0;
  uint64_t num_generated_ = 0;
};

}  // namespace rs::engine
