#include "engine/sampler/token_history.h"

#include <gtest/gtest.h>

#include <vector>

namespace rs::engine {
namespace {

TEST(TokenHistoryTest, CountsPromptAndGeneratedSeparately) {
  TokenHistory h;
  const std::vector<int32_t> prompt = {5, 7, 5, 9};
  h.AddPrompt(prompt);
  h.Add(5, /*is_prompt=*/false);
  h.Add(11, /*is_prompt=*/false);
  h.Add(11, /*is_prompt=*/false);
  h.Add(-3, /*is_prompt=*/false);  // ignored
  EXPECT_EQ(h.prompt_count(5), 2u);
  EXPECT_EQ(h.generated_count(5), 1u);
  EXPECT_EQ(h.count(5), 3u);
  EXPECT_EQ(h.prompt_count(11), 0u);
  EXPECT_EQ(h.generated_count(11), 2u);
  EXPECT_EQ(h.count(42), 0u);
  EXPECT_EQ(h.num_distinct(), 4u);
  EXPECT_EQ(h.num_prompt_tokens(), 4u);
  EXPECT_EQ(h.num_generated_tokens(), 3u);
  ASSERT_EQ(h.entries().size(), 4u);
  EXPECT_EQ(h.entries()[0].id, 5);  // first-seen order
  EXPECT_EQ(h.entries()[3].id, 11);
  h.Clear();
  EXPECT_EQ(h.num_distinct(), 0u);
  EXPECT_EQ(h.count(5), 0u);
  EXPECT_EQ(h.num_generated_tokens(), 0u);
}

}  // namespace
}  // namespace rs::engine
