#include "engine/sampler/token_history.h"

#include <limits>

namespace rs::engine {
namespace {

void SaturatingIncrement(uint32_t* c) {
  if (*c != std::numeric_limits<uint32_t>::max()) ++*c;
}

}  // namespace

void TokenHistory::Add(int32_t id, bool is_prompt) {
  if (id < 0) return;
  auto [it, inserted] = index_.try_emplace(id, static_cast<uint32_t>(entries_.size()));
  if (inserted) entries_.push_back(Entry{id, 0, 0});
  Entry& e = entries_[it->second];
  if (is_prompt) {
    SaturatingIncrement(&e.prompt_count);
    ++num_prompt_;
  } else {
    SaturatingIncrement(&e.generated_count);
    ++num_generated_;
  }
}

void TokenHistory::AddPrompt(std::span<const int32_t> ids) {
  for (int32_t id : ids) Add(id, /*is_prompt=*/true);
}

const TokenHistory::Entry* TokenHistory::Find(int32_t id) const {
  auto it = index_.find(id);
  return it == index_.end() ? nullptr : &entries_[it->second];
}

uint32_t TokenHistory::prompt_count(int32_t id) const {
  const Entry* e = Find(id);
  return e == nullptr ? 0 : e->prompt_count;
}

uint32_t TokenHistory::generated_count(int32_t id) const {
  const Entry* e = Find(id);
  return e == nullptr ? 0 : e->generated_count;
}

uint64_t TokenHistory::count(int32_t id) const {
  const Entry* e = Find(id);
  return e == nullptr ? 0 : uint64_t{e->prompt_count} + e->generated_count;
}

void TokenHistory::Clear() {
  entries_.clear();
  index_.clear();
  num_prompt_ = 0;
  num_generated_ = 0;
}

}  // namespace rs::engine
