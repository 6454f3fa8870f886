// The reference of the scheduler and service tests: a request run alone on
// a model, with no scheduler or server: one prefill, then one token at a
// time through Sampler::Sample; stops at max_tokens or a stop id.
#pragma once

#include <gtest/gtest.h>

#include <span>
#include <vector>

#include "engine/model.h"
#include "engine/sampler/sampler.h"
#include "scheduler/request.h"

namespace rs::scheduler {

// With `logprobs` (and r.params.logprobs), also each token's log p.
inline std::vector<int32_t> RunAloneOn(engine::Model& model, const Request& r,
                                       std::vector<float>* logprobs = nullptr) {
  auto pool = model.NewStatePool(1);
  const int slot = pool->Acquire().value();
  engine::Logits logits;
  engine::Batch b;
  b.seqs.push_back({slot, r.prompt, false});
  EXPECT_TRUE(model.Forward(b, *pool, &logits).ok());
  engine::TokenHistory history;
  history.AddPrompt(r.prompt);
  const size_t V = static_cast<size_t>(model.spec().vocab_size);
  std::vector<int32_t> out;
  for (int n = 0; n < r.params.max_tokens; ++n) {
    auto s = engine::Sampler::Sample(std::span<const float>(logits.Row(0), V), r.params, history,
                                     static_cast<uint64_t>(n), nullptr);
    out.push_back(s.token);
    if (logprobs != nullptr) logprobs->push_back(s.logprob);
    history.Add(s.token, false);
    if (r.stop.IsStopToken(s.token)) break;
    engine::Batch step;
    step.seqs.push_back({slot, std::span<const int32_t>(&out.back(), 1), false});
    EXPECT_TRUE(model.Forward(step, *pool, &logits).ok());
  }
  return out;
}

}  // namespace rs::scheduler
