#include "scheduler/state_cache.h"

#include <gtest/gtest.h>

namespace rs::scheduler {
namespace {

StateCache::Entry MakeEntry(std::vector<int32_t> tokens, float fill, const std::string& fp = "fp") {
  StateCache::Entry e;
  e.tokens = std::move(tokens);
  e.state.model_fingerprint = fp;
  e.state.data.assign(100, fill);
  return e;
}

TEST(StateCacheTest, LongestVerifiedPrefixWinsWithinMaxLen) {
  StateCache c("fp", 1 << 20, 1 << 20);
  c.PutPrefix(MakeEntry({1, 2}, 1));
  c.PutPrefix(MakeEntry({1, 2, 3, 4}, 2));
  c.PutPrefix(MakeEntry({1, 9, 3}, 3));
  std::vector<int32_t> q = {1, 2, 3, 4, 5};
  const StateCache::Entry* e = c.LookupPrefix(q, q.size());
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->state.data[0], 2);
  e = c.LookupPrefix(q, 3);  // {1,2,3,4} is too long
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->tokens.size(), 2u);
  std::vector<int32_t> other = {2, 2, 3};
  EXPECT_EQ(c.LookupPrefix(other, 3), nullptr);
  EXPECT_EQ(c.LookupPrefix(q, 0), nullptr);
}

TEST(StateCacheTest, OtherModelsEntriesAreMissesAndNotKept) {
  StateCache c("fp", 1 << 20, 1 << 20);
  c.PutPrefix(MakeEntry({1, 2}, 1, "other"));
  std::vector<int32_t> q = {1, 2, 3};
  EXPECT_EQ(c.LookupPrefix(q, 3), nullptr);
  c.PutSession("s", MakeEntry({1}, 1, "other"));
  EXPECT_EQ(c.GetSession("s"), nullptr);
  EXPECT_EQ(c.entries(), 0);
  EXPECT_EQ(c.bytes(), 0u);
}

TEST(StateCacheTest, LruEvictionKeepsBytesWithinBudgetPerKind) {
  const size_t one = MakeEntry({1, 2}, 0).bytes();
  StateCache c("fp", 2 * one, 3 * one);
  c.PutPrefix(MakeEntry({1, 2}, 1));
  c.PutPrefix(MakeEntry({3, 4}, 2));
  std::vector<int32_t> q12 = {1, 2, 7};
  ASSERT_NE(c.LookupPrefix(q12, 3), nullptr);  // {1,2} is now the most recent
  c.PutPrefix(MakeEntry({5, 6}, 3));           // evicts {3,4}
  std::vector<int32_t> q34 = {3, 4, 7}, q56 = {5, 6, 7};
  EXPECT_EQ(c.LookupPrefix(q34, 3), nullptr);
  EXPECT_NE(c.LookupPrefix(q12, 3), nullptr);
  EXPECT_NE(c.LookupPrefix(q56, 3), nullptr);
  EXPECT_EQ(c.prefix_entries(), 2);
  // Sessions have their own budget: prefixes never evict them.
  c.PutSession("a", MakeEntry({1, 1}, 4));
  for (int i = 0; i < 10; ++i) c.PutPrefix(MakeEntry({i, i + 100}, 5));
  ASSERT_NE(c.GetSession("a"), nullptr);
  EXPECT_EQ(c.GetSession("a")->state.data[0], 4);
  // Replacing keeps one entry; erase frees its bytes.
  c.PutSession("a", MakeEntry({1, 1}, 6));
  EXPECT_EQ(c.session_entries(), 1);
  EXPECT_EQ(c.GetSession("a")->state.data[0], 6);
  EXPECT_TRUE(c.EraseSession("a"));
  EXPECT_FALSE(c.EraseSession("a"));
  EXPECT_EQ(c.bytes(), 2 * one);
  // An entry larger than the budget is not kept.
  StateCache tiny("fp", one - 1, one - 1);
  tiny.PutPrefix(MakeEntry({1, 2}, 1));
  EXPECT_EQ(tiny.entries(), 0);
}

TEST(StateCacheTest, TokenHashExtendsOneTokenAtATime) {
  std::vector<int32_t> t = {5, -1, 70000, 0};
  uint64_t h = TokenHash({});
  for (int32_t x : t) h = TokenHashStep(h, x);
  EXPECT_EQ(h, TokenHash(t));
  std::vector<int32_t> u = {5, -1, 70000, 1};
  EXPECT_NE(TokenHash(t), TokenHash(u));
}

}  // namespace
}  // namespace rs::scheduler
