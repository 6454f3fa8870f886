#include "engine/sampler/sampling_params.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

namespace rs::engine {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

// The Validate() message for params changed by `edit`, or "OK".
template <typename Edit>
std::string Check(Edit edit, int64_t vocab = 100) {
  SamplingParams p;
  edit(p);
  return p.Validate(vocab).ToString();
}

TEST(SamplingParamsTest, DefaultsAndSensibleValuesAreValid) {
  EXPECT_EQ(Check([](SamplingParams&) {}), "OK");
  EXPECT_EQ(Check([](SamplingParams& p) {
              p.temperature = 0.0f;
              p.top_k = 1000;  // > vocab: off
              p.top_p = 1.0f;
              p.min_p = 1.0f;
              p.repetition_penalty = 0.5f;
              p.presence_penalty = -2.0f;
              p.frequency_penalty = 2.0f;
              p.logit_bias = {{0, -kInf}, {99, 100.0f}};
              p.top_logprobs = 20;
              p.max_tokens = 1;
            }),
            "OK");
}

TEST(SamplingParamsTest, RejectsEachBadField) {
  auto bad = [](auto edit) {
    const std::string s = Check(edit);
    EXPECT_EQ(s.rfind("INVALID_ARGUMENT: ", 0), 0u) << s;
    return s;
  };
  EXPECT_NE(bad([](SamplingParams& p) { p.temperature = -0.1f; }).find("temperature"),
            std::string::npos);
  bad([](SamplingParams& p) { p.temperature = kNaN; });
  bad([](SamplingParams& p) { p.temperature = kInf; });
  EXPECT_NE(bad([](SamplingParams& p) { p.top_k = -1; }).find("top_k"), std::string::npos);
  EXPECT_NE(bad([](SamplingParams& p) { p.top_p = 0.0f; }).find("top_p"), std::string::npos);
  bad([](SamplingParams& p) { p.top_p = 1.01f; });
  bad([](SamplingParams& p) { p.top_p = kNaN; });
  bad([](SamplingParams& p) { p.min_p = -0.01f; });
  bad([](SamplingParams& p) { p.min_p = 1.5f; });
  bad([](SamplingParams& p) { p.min_p = kNaN; });
  bad([](SamplingParams& p) { p.repetition_penalty = 0.0f; });
  bad([](SamplingParams& p) { p.repetition_penalty = 11.0f; });
  bad([](SamplingParams& p) { p.repetition_penalty = kNaN; });
  bad([](SamplingParams& p) { p.presence_penalty = 2.5f; });
  bad([](SamplingParams& p) { p.frequency_penalty = -2.5f; });
  bad([](SamplingParams& p) { p.frequency_penalty = kNaN; });
  bad([](SamplingParams& p) { p.max_tokens = 0; });
  bad([](SamplingParams& p) { p.top_logprobs = 21; });
  bad([](SamplingParams& p) { p.top_logprobs = -1; });
  EXPECT_EQ(bad([](SamplingParams& p) {
              p.logit_bias = {{100, 1.0f}};
            }),
            "INVALID_ARGUMENT: logit_bias token id 100 is outside the vocabulary [0, 100)");
  bad([](SamplingParams& p) { p.logit_bias = {{-1, 1.0f}}; });
  bad([](SamplingParams& p) { p.logit_bias = {{3, kNaN}}; });
  bad([](SamplingParams& p) { p.logit_bias = {{3, kInf}}; });
  bad([](SamplingParams& p) { p.logit_bias = {{3, 2e6f}}; });
  EXPECT_EQ(bad([](SamplingParams& p) {
              p.logit_bias = {{3, 1.0f}, {4, 1.0f}, {3, 2.0f}};
            }),
            "INVALID_ARGUMENT: logit_bias lists token id 3 more than once");
  EXPECT_NE(Check([](SamplingParams&) {}, 0), "OK");
}

}  // namespace
}  // namespace rs::engine
