// A slow, obviously-correct sampler for tests: it follows sampler.h's
// processing order literally (full sort of the vocabulary, sequential sums in
// canonical order). Sampler::Sample must pick the same token.
#pragma once

#include <algorithm>
#include <cmath>
#include <limits>
#include <span>
#include <vector>

#include "engine/sampler/random.h"
#include "engine/sampler/sampler.h"
#include "engine/sampler/vector_ops.h"

namespace rs::engine::testing {

// Everything up to the draw depends only on (logits, params, history); the
// draw adds the position. Construct once, then Draw(position) many times.
class ReferenceSampler {
 public:
  ReferenceSampler(std::span<const float> logits, const SamplingParams& p, const TokenHistory& h)
      : seed_(p.seed) {
    Prepare(logits, p, h);
  }

  int32_t Draw(uint64_t position) const {
    if (greedy_token_ != -2) return greedy_token_;
    const double target = SamplingUniform(seed_, position) * z_;
    double cum = 0;
    for (size_t j = 0; j < kept_; ++j) {
      cum += order_[j].weight;
      if (cum > target) return order_[j].id;
    }
    return order_[kept_ - 1].id;
  }

 private:
  void Prepare(std::span<const float> logits, const SamplingParams& p, const TokenHistory& h) {
    const float kInf = std::numeric_limits<float>::infinity();
    const size_t n = logits.size();
    std::vector<float> x(n);
    for (size_t i = 0; i < n; ++i) {
      float v = logits[i];
      if (std::isnan(v)) v = -kInf;
      if (v == kInf) v = std::numeric_limits<float>::max();
      x[i] = v;
    }
    for (const auto& [id, bias] : p.logit_bias) x[id] += bias;
    for (const TokenHistory::Entry& e : h.entries()) {
      float v = x[e.id];
      if (p.repetition_penalty != 1.0f)
        v = v > 0 ? v / p.repetition_penalty : v * p.repetition_penalty;
      if (e.generated_count > 0) {
        v -= p.frequency_penalty * static_cast<float>(e.generated_count);
        v -= p.presence_penalty;
      }
      x[e.id] = v;
    }
    float m = -kInf;
    for (float v : x) m = std::max(m, v);
    if (m == -kInf) {
      greedy_token_ = -1;
      return;
    }
    if (p.temperature == 0.0f) {
      greedy_token_ = static_cast<int32_t>(std::find(x.begin(), x.end(), m) - x.begin());
      return;
    }
    std::vector<float> w(n);
    const double total =
        sampler_internal::ExpShifted(x.data(), w.data(), n, m, 1.0f / p.temperature);
    std::vector<TokenWeight> order;
    for (size_t i = 0; i < n; ++i) {
      if (w[i] > 0.0f) order.push_back({w[i], static_cast<int32_t>(i)});
    }
    std::sort(order.begin(), order.end(), [](const TokenWeight& a, const TokenWeight& b) {
      return a.weight > b.weight || (a.weight == b.weight && a.id < b.id);
    });
    size_t kept = order.size();
    double z_k = total;
    if (p.top_k > 0 && static_cast<size_t>(p.top_k) < kept) {
      kept = p.top_k;
      z_k = 0;
      for (size_t j = 0; j < kept; ++j) z_k += order[j].weight;
    }
    if (p.top_p < 1.0f) {
      const double target = static_cast<double>(p.top_p) * z_k;
      double cum = 0;
      for (size_t j = 0; j < kept; ++j) {
        cum += order[j].weight;
        if (cum >= target) {
          kept = j + 1;
          break;
        }
      }
    }
    if (p.min_p > 0.0f) {
      size_t j = 0;
      while (j < kept && order[j].weight >= p.min_p * order[0].weight) ++j;
      kept = j;
    }
    double z = 0;
    for (size_t j = 0; j < kept; ++j) z += order[j].weight;
    order_ = std::move(order);
    kept_ = kept;
    z_ = z;
  }

  uint64_t seed_;
  int32_t greedy_token_ = -2;  // -2: not greedy
  std::vector<TokenWeight> order_;
  size_t kept_ = 0;
  double z_ = 0;
};

}  // namespace rs::engine::testing
