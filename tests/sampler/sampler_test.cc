#include "engine/sampler/sampler.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <map>
#include <random>
#include <set>
#include <vector>

#include "tests/sampler/reference_sampler.h"

namespace rs::engine {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();

int32_t Draw(const std::vector<float>& logits, const SamplingParams& p, uint64_t position,
             const TokenHistory& h = TokenHistory()) {
  SamplerScratch scratch;
  return Sampler::Sample(logits, p, h, position, &scratch).token;
}

// Token frequencies over positions [0, n).
std::map<int32_t, int> Histogram(const std::vector<float>& logits, const SamplingParams& p, int n) {
  std::map<int32_t, int> counts;
  SamplerScratch scratch;
  TokenHistory h;
  for (int i = 0; i < n; ++i) ++counts[Sampler::Sample(logits, p, h, i, &scratch).token];
  return counts;
}

std::vector<float> GaussianLogits(size_t n, float sigma, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal(0.0f, sigma);
  std::vector<float> v(n);
  for (float& x : v) x = normal(rng);
  return v;
}

double LogSumExp(const std::vector<double>& x) {
  double m = -INFINITY;
  for (double v : x) m = std::max(m, v);
  double s = 0;
  for (double v : x) s += std::exp(v - m);
  return m + std::log(s);
}

TEST(SamplerTest, SameSeedAndPositionGiveSameTokenWhateverElseIsSampled) {
  const std::vector<float> logits = GaussianLogits(1000, 1.0f, 1);
  SamplingParams p;
  p.seed = 1234;
  std::vector<int32_t> first;
  for (uint64_t pos = 0; pos < 50; ++pos) first.push_back(Draw(logits, p, pos));
  // Again, in reverse order, interleaved with another sequence's calls that
  // share the scratch buffer.
  SamplerScratch scratch;
  SamplingParams other = p;
  other.seed = 99;
  other.top_k = 5;
  const std::vector<float> other_logits = GaussianLogits(1000, 3.0f, 2);
  TokenHistory h;
  for (int pos = 49; pos >= 0; --pos) {
    Sampler::Sample(other_logits, other, h, pos * 7, &scratch);
    EXPECT_EQ(Sampler::Sample(logits, p, h, pos, &scratch).token, first[pos]) << pos;
  }
  // Null scratch works and agrees.
  EXPECT_EQ(Sampler::Sample(logits, p, h, 3, nullptr).token, first[3]);
}

TEST(SamplerTest, DifferentPositionsAndSeedsGiveDifferentTokens) {
  const std::vector<float> logits(1000, 0.0f);  // uniform
  SamplingParams p;
  std::set<int32_t> by_position, by_seed;
  for (uint64_t pos = 0; pos < 100; ++pos) by_position.insert(Draw(logits, p, pos));
  for (uint64_t seed = 0; seed < 100; ++seed) {
    p.seed = seed;
    by_seed.insert(Draw(logits, p, 0));
  }
  // 100 draws from 1000 equally likely tokens: ~95 distinct expected.
  EXPECT_GT(by_position.size(), 85u);
  EXPECT_GT(by_seed.size(), 85u);
}

TEST(SamplerTest, GreedyIsArgmaxWithTiesToLowestId) {
  SamplingParams p;
  p.temperature = 0.0f;
  EXPECT_EQ(Draw({0.1f, 3.0f, -1.0f, 2.9f}, p, 0), 1);
  EXPECT_EQ(Draw({1.0f, 5.0f, 2.0f, 5.0f, 5.0f}, p, 0), 1);
  EXPECT_EQ(Draw({-kInf, -2.0f, -2.0f}, p, 0), 1);
  // NaN is never chosen; +inf is the largest.
  const float nan = std::numeric_limits<float>::quiet_NaN();
  EXPECT_EQ(Draw({nan, 1.0f, nan}, p, 0), 1);
  EXPECT_EQ(Draw({1.0f, kInf, 2.0f}, p, 0), 1);
  // Seed and position do not matter.
  std::vector<float> logits = GaussianLogits(50280, 2.0f, 5);
  const int32_t expected =
      static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
  for (uint64_t pos = 0; pos < 5; ++pos) {
    p.seed = pos * 31;
    EXPECT_EQ(Draw(logits, p, pos), expected);
  }
}

TEST(SamplerTest, NoSampleableTokenGivesMinusOne) {
  SamplingParams p;
  EXPECT_EQ(Draw({}, p, 0), -1);
  EXPECT_EQ(Draw({-kInf, -kInf}, p, 0), -1);
  p.logit_bias = {{0, -kInf}, {1, -kInf}};
  EXPECT_EQ(Draw({1.0f, 2.0f}, p, 0), -1);
  p.temperature = 0.0f;
  EXPECT_EQ(Draw({1.0f, 2.0f}, p, 0), -1);
}

TEST(SamplerTest, TopK1IsGreedy) {
  const std::vector<float> logits = GaussianLogits(50280, 2.0f, 6);
  SamplingParams greedy;
  greedy.temperature = 0.0f;
  const int32_t best = Draw(logits, greedy, 0);
  SamplingParams p;
  p.top_k = 1;
  p.temperature = 1.5f;
  for (uint64_t pos = 0; pos < 200; ++pos) ASSERT_EQ(Draw(logits, p, pos), best);
}

TEST(SamplerTest, TopK2OnlyYieldsTheTwoBest) {
  const std::vector<float> logits = {0.5f, 1.0f, 0.9f, 0.8f, 0.95f, -1.0f};
  SamplingParams p;
  p.top_k = 2;
  auto counts = Histogram(logits, p, 2000);
  EXPECT_EQ(counts.size(), 2u);
  EXPECT_GT(counts[1], 0);
  EXPECT_GT(counts[4], 0);
  EXPECT_EQ(counts[1] + counts[4], 2000);
  // Ties at the boundary go to the lower id.
  p.top_k = 2;
  counts = Histogram({1.0f, 2.0f, 1.0f, 1.0f}, p, 2000);
  EXPECT_EQ(counts.size(), 2u);
  EXPECT_GT(counts[0], 0);
  EXPECT_GT(counts[1], 0);
}

// top_p keeps the MINIMAL prefix whose mass reaches top_p (of what top-k
// kept). Four equal logits give weights of exactly 1 (exact arithmetic), so
// the boundary is exact.
TEST(SamplerTest, TopPKeepsTheMinimalNucleusExactlyAtTheBoundary) {
  for (int top_k : {0, 4}) {  // binned path; heap path (a fifth token is cut by top-k)
    std::vector<float> logits = {0.0f, 0.0f, 0.0f, 0.0f};
    if (top_k == 4) logits.push_back(-3.0f);
    SamplingParams p;
    p.top_k = top_k;
    p.top_p = 0.5f;  // ids 0 and 1 have mass exactly 0.5
    auto counts = Histogram(logits, p, 2000);
    EXPECT_EQ(counts.size(), 2u) << top_k;
    EXPECT_GT(counts[0], 800);
    EXPECT_GT(counts[1], 800);
    p.top_p = std::nextafter(0.5f, 1.0f);  // just above: a third token is needed
    counts = Histogram(logits, p, 2000);
    EXPECT_EQ(counts.size(), 3u) << top_k;
    EXPECT_GT(counts[2], 500);
    p.top_p = 0.25f;  // exactly one token
    counts = Histogram(logits, p, 100);
    EXPECT_EQ(counts.size(), 1u);
    EXPECT_EQ(counts[0], 100);
  }
}

TEST(SamplerTest, TopPOnAPeakedDistribution) {
  // p = softmax: the first token alone has mass ~0.87 >= 0.8.
  const std::vector<float> logits = {5.0f, 3.0f, 2.0f, 1.0f};
  SamplingParams p;
  p.top_p = 0.8f;
  EXPECT_EQ(Histogram(logits, p, 500).size(), 1u);
  p.top_p = 0.9f;
  auto counts = Histogram(logits, p, 2000);
  EXPECT_EQ(counts.size(), 2u);
  EXPECT_GT(counts[1], 0);
}

TEST(SamplerTest, MinPCutsBelowTheThreshold) {
  // Probability ratios to the top token: 1, 0.5, 0.2, 0.09, 0.01.
  const std::vector<float> logits = {0.0f, std::log(0.5f), std::log(0.2f), std::log(0.09f),
                                     std::log(0.01f)};
  for (int top_k : {0, 5, 4}) {
    SamplingParams p;
    p.top_k = top_k;
    p.min_p = 0.1f;
    auto counts = Histogram(logits, p, 4000);
    EXPECT_EQ(counts.size(), 3u) << top_k;
    EXPECT_GT(counts[2], 0);
    EXPECT_EQ(counts.count(3), 0u);
  }
}

// Chi-square test of empirical frequencies against softmax(logits / T).
void ExpectFrequenciesMatchSoftmax(const std::vector<float>& logits, float temperature, int n) {
  SamplingParams p;
  p.temperature = temperature;
  p.seed = 77;
  auto counts = Histogram(logits, p, n);
  std::vector<double> scaled;
  for (float l : logits) scaled.push_back(static_cast<double>(l) / temperature);
  const double lse = LogSumExp(scaled);
  double chi2 = 0;
  for (size_t i = 0; i < logits.size(); ++i) {
    const double expected = n * std::exp(scaled[i] - lse);
    const double diff = counts[static_cast<int32_t>(i)] - expected;
    chi2 += diff * diff / expected;
  }
  // 5 degrees of freedom: P(chi2 > 25.7) = 1e-4.
  EXPECT_LT(chi2, 25.7) << "temperature " << temperature;
}

TEST(SamplerTest, FrequenciesFollowSoftmaxOfLogitsOverTemperature) {
  const std::vector<float> logits = {1.0f, 0.5f, 0.0f, -0.5f, -1.0f, -2.0f};
  ExpectFrequenciesMatchSoftmax(logits, 1.0f, 20000);
  ExpectFrequenciesMatchSoftmax(logits, 0.7f, 20000);
  ExpectFrequenciesMatchSoftmax(logits, 2.0f, 20000);
}

TEST(SamplerTest, RepetitionPenaltyDividesPositiveAndMultipliesNegativeLogits) {
  SamplingParams p;
  p.temperature = 0.0f;
  p.logprobs = true;
  p.repetition_penalty = 2.0f;
  TokenHistory h;
  h.Add(0, /*is_prompt=*/true);  // the prompt counts for the repetition penalty
  // Positive: 3.0 -> 1.5 < 2.5.
  EXPECT_EQ(Draw({3.0f, 2.5f, -1.0f}, p, 0, h), 1);
  // Negative: -1.0 -> -2.0 < -1.2.
  EXPECT_EQ(Draw({-1.0f, -1.2f}, p, 0, h), 1);
  // The processed logits, seen through the greedy logprob: {1.5, 2.5, -1}.
  SamplerScratch scratch;
  SampleResult r = Sampler::Sample(std::vector<float>{3.0f, 2.5f, -1.0f}, p, h, 0, &scratch);
  EXPECT_NEAR(r.logprob, 2.5 - LogSumExp({1.5, 2.5, -1.0}), 1e-5);
  EXPECT_NEAR(r.raw_logprob, 2.5 - LogSumExp({3.0, 2.5, -1.0}), 1e-5);
}

TEST(SamplerTest, PresenceAndFrequencyPenaltiesCountGeneratedTokensOnly) {
  const std::vector<float> logits = {1.0f, 0.8f, 0.0f};
  SamplingParams p;
  p.temperature = 0.0f;
  TokenHistory h;
  h.Add(0, /*is_prompt=*/false);
  h.Add(0, /*is_prompt=*/false);
  for (int i = 0; i < 5; ++i) h.Add(1, /*is_prompt=*/true);  // ignored by both
  p.frequency_penalty = 0.15f;                               // 1.0 - 2 * 0.15 = 0.7 < 0.8
  EXPECT_EQ(Draw(logits, p, 0, h), 1);
  p.frequency_penalty = 0.05f;  // 0.9 > 0.8
  EXPECT_EQ(Draw(logits, p, 0, h), 0);
  p.frequency_penalty = 0.0f;
  p.presence_penalty = 0.15f;  // once, whatever the count: 0.85 > 0.8
  EXPECT_EQ(Draw(logits, p, 0, h), 0);
  p.presence_penalty = 0.25f;  // 0.75 < 0.8
  EXPECT_EQ(Draw(logits, p, 0, h), 1);
  // Negative penalties encourage repetition.
  p.presence_penalty = -0.5f;
  EXPECT_EQ(Draw({0.0f, 0.4f}, p, 0, h), 0);
}

TEST(SamplerTest, LogitBiasBansAndForces) {
  std::vector<float> logits = GaussianLogits(2000, 1.0f, 8);
  SamplingParams greedy;
  greedy.temperature = 0.0f;
  const int32_t best = Draw(logits, greedy, 0);
  greedy.logit_bias = {{best, -kInf}};
  EXPECT_NE(Draw(logits, greedy, 0), best);

  SamplingParams p;
  p.logit_bias = {{best, -kInf}};
  logits[best] = 30.0f;  // would otherwise take almost all the mass
  for (uint64_t pos = 0; pos < 2000; ++pos) ASSERT_NE(Draw(logits, p, pos), best);
  p.logit_bias = {{1234, 100.0f}};
  for (uint64_t pos = 0; pos < 500; ++pos) ASSERT_EQ(Draw(logits, p, pos), 1234);
}

TEST(SamplerTest, LogprobIsUnderTheFinalDistribution) {
  const std::vector<float> logits = {2.0f, 1.0f, 0.5f, -1.0f, -3.0f};
  SamplerScratch scratch;
  TokenHistory h;
  SamplingParams p;
  p.logprobs = true;
  p.temperature = 0.5f;
  std::vector<double> scaled, raw;
  for (float l : logits) {
    scaled.push_back(l / 0.5);
    raw.push_back(l);
  }
  for (uint64_t pos = 0; pos < 20; ++pos) {
    SampleResult r = Sampler::Sample(logits, p, h, pos, &scratch);
    ASSERT_GE(r.token, 0);
    EXPECT_NEAR(r.logprob, scaled[r.token] - LogSumExp(scaled), 1e-5);
    EXPECT_NEAR(r.raw_logprob, raw[r.token] - LogSumExp(raw), 1e-5);
  }
  // top_k = 2 renormalizes over the two kept tokens.
  p.top_k = 2;
  for (uint64_t pos = 0; pos < 20; ++pos) {
    SampleResult r = Sampler::Sample(logits, p, h, pos, &scratch);
    ASSERT_LT(r.token, 2);
    EXPECT_NEAR(r.logprob, scaled[r.token] - LogSumExp({scaled[0], scaled[1]}), 1e-5);
    EXPECT_NEAR(r.raw_logprob, raw[r.token] - LogSumExp(raw), 1e-5);
  }
  // Temperature 1 without edits: the raw and final logprobs coincide.
  p.top_k = 0;
  p.temperature = 1.0f;
  SampleResult r = Sampler::Sample(logits, p, h, 0, &scratch);
  EXPECT_NEAR(r.logprob, r.raw_logprob, 1e-6);
  // Not requested: NaN.
  p.logprobs = false;
  r = Sampler::Sample(logits, p, h, 0, &scratch);
  EXPECT_TRUE(std::isnan(r.logprob));
  EXPECT_TRUE(std::isnan(r.raw_logprob));
}

// The fast paths (heap, binned head, split bins, binned with a tail rebuild) pick exactly
// the token the full-sort reference picks.
TEST(SamplerTest, MatchesTheFullSortReference) {
  struct Case {
    const char* name;
    std::vector<float> logits;
    int positions = 500;
  };
  std::vector<Case> cases;
  cases.push_back({"gaussian sigma 3", GaussianLogits(50280, 3.0f, 10), 100});
  cases.push_back({"gaussian sigma 1", GaussianLogits(5000, 1.0f, 11)});
  // Flat (random weights): bins of thousands of tokens, split into sub-bins.
  cases.push_back({"gaussian sigma 0.5", GaussianLogits(50280, 0.5f, 13), 150});
  {
    // One dominant token and a long tail far below it: weights of the tail lie
    // below the head threshold (2^-20) but carry ~5% of the mass.
    std::vector<float> v = GaussianLogits(60000, 0.1f, 12);
    for (float& x : v) x -= 14.0f;
    v[17] = 0.0f;
    cases.push_back({"tail", std::move(v), 300});
  }
  {
    std::vector<float> v(3000, 0.0f);  // many exact ties
    for (size_t i = 0; i < v.size(); i += 3) v[i] = -1.0f;
    cases.push_back({"ties", std::move(v)});
  }
  std::vector<SamplingParams> params(9);
  params[1].temperature = 0.7f;
  params[2].top_k = 40;
  params[3].top_p = 0.9f;
  params[4].top_p = 0.99f;
  params[5].min_p = 0.05f;
  params[6].top_k = 2000;
  params[6].top_p = 0.95f;
  params[7].top_k = 1500;
  params[7].min_p = 0.001f;
  params[8].temperature = 1.3f;
  params[8].top_k = 100;
  params[8].top_p = 0.8f;
  params[8].min_p = 0.01f;
  params[8].repetition_penalty = 1.3f;
  params[8].presence_penalty = 0.4f;
  params[8].frequency_penalty = 0.2f;
  params[8].logit_bias = {{3, 2.0f}, {4, -kInf}};
  TokenHistory h;
  for (int i = 0; i < 300; ++i) h.Add((i * 7919) % 3000, i < 100);
  SamplerScratch scratch;
  for (const Case& c : cases) {
    for (size_t pi = 0; pi < params.size(); ++pi) {
      SamplingParams p = params[pi];
      p.seed = 1000 + pi;
      ASSERT_TRUE(p.Validate(c.logits.size()).ok());
      const testing::ReferenceSampler reference(c.logits, p, h);
      for (int pos = 0; pos < c.positions; ++pos) {
        const int32_t want = reference.Draw(pos);
        const int32_t got = Sampler::Sample(c.logits, p, h, pos, &scratch).token;
        ASSERT_EQ(got, want) << c.name << " params " << pi << " position " << pos;
      }
    }
  }
}

TEST(SamplerTest, TailDrawsHappen) {
  // The "tail" distribution above: ~5% of draws land below the head.
  std::vector<float> v = GaussianLogits(60000, 0.1f, 12);
  for (float& x : v) x -= 14.0f;
  v[17] = 0.0f;
  SamplingParams p;
  auto counts = Histogram(v, p, 2000);
  const int tail = 2000 - counts[17];
  EXPECT_GT(tail, 40);
  EXPECT_LT(tail, 200);
}

// Sample REQUIRES validated params, but garbage must never crash or read out
// of bounds (run under ASan/UBSan too).
TEST(SamplerTest, UnvalidatedParamsStayMemorySafe) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const std::vector<float> logits = GaussianLogits(3000, 2.0f, 30);
  TokenHistory h;
  h.Add(5, false);
  h.Add(1 << 30, false);  // beyond the vocabulary
  std::vector<SamplingParams> bad(10);
  bad[0].top_p = 0.0f;
  bad[1].top_p = nan;
  bad[2].top_k = -5;
  bad[3].min_p = 2.0f;
  bad[3].top_k = 10;
  bad[4].min_p = 2.0f;
  bad[5].temperature = nan;
  bad[6].temperature = kInf;
  bad[7].repetition_penalty = -1.0f;
  bad[7].presence_penalty = nan;
  bad[8].logit_bias = {{-4, 1.0f}, {1 << 30, 1.0f}, {7, nan}};
  bad[9].top_p = -1.0f;
  bad[9].top_k = 100000;
  SamplerScratch scratch;
  for (const SamplingParams& p : bad) {
    for (uint64_t pos = 0; pos < 20; ++pos) {
      const int32_t t = Sampler::Sample(logits, p, h, pos, &scratch).token;
      EXPECT_GE(t, 0);
      EXPECT_LT(t, 3000);
    }
  }
}

TEST(LogSoftmaxAtTest, MatchesDoublePrecision) {
  const std::vector<float> logits = {0.3f, -1.0f, 2.0f, -kInf, 0.0f};
  std::vector<double> d = {0.3, -1.0, 2.0, 0.0};
  const double lse = LogSumExp({0.3, -1.0, 2.0, -INFINITY, 0.0});
  EXPECT_NEAR(LogSoftmaxAt(logits, 2), 2.0 - lse, 1e-6);
  EXPECT_NEAR(LogSoftmaxAt(logits, 1), -1.0 - lse, 1e-6);
  EXPECT_EQ(LogSoftmaxAt(logits, 3), -kInf);
  EXPECT_EQ(LogSoftmaxAt(logits, 5), -kInf);
  EXPECT_EQ(LogSoftmaxAt(logits, -1), -kInf);
  EXPECT_NEAR(LogSoftmaxAt(std::vector<float>{kInf, 1.0f, kInf}, 0), -std::log(2.0), 1e-6);
}

TEST(TopLogprobsTest, SortedTiesByIdAndNormalized) {
  const std::vector<float> logits = {1.0f, 3.0f, 1.0f, -kInf, 2.0f, 3.0f};
  auto top = TopLogprobs(logits, 4);
  ASSERT_EQ(top.size(), 4u);
  EXPECT_EQ(top[0].first, 1);
  EXPECT_EQ(top[1].first, 5);
  EXPECT_EQ(top[2].first, 4);
  EXPECT_EQ(top[3].first, 0);
  const double lse = LogSumExp({1.0, 3.0, 1.0, -INFINITY, 2.0, 3.0});
  EXPECT_NEAR(top[0].second, 3.0 - lse, 1e-6);
  EXPECT_EQ(top[0].second, top[1].second);
  EXPECT_NEAR(top[3].second, 1.0 - lse, 1e-6);
  // All tokens: probabilities sum to 1; -inf is left out.
  auto all = TopLogprobs(logits, 100);
  ASSERT_EQ(all.size(), 5u);
  double sum = 0;
  for (size_t i = 0; i < all.size(); ++i) {
    sum += std::exp(all[i].second);
    if (i > 0) {
      EXPECT_TRUE(all[i - 1].second > all[i].second ||
                  (all[i - 1].second == all[i].second && all[i - 1].first < all[i].first));
    }
  }
  EXPECT_NEAR(sum, 1.0, 1e-6);
  EXPECT_TRUE(TopLogprobs(logits, 0).empty());
  EXPECT_TRUE(TopLogprobs({}, 3).empty());
}

TEST(TopLogprobsTest, LargeVocabularyAgreesWithAFullSort) {
  const std::vector<float> logits = GaussianLogits(50280, 2.0f, 20);
  auto top = TopLogprobs(logits, 20);
  std::vector<int32_t> ids(logits.size());
  for (size_t i = 0; i < ids.size(); ++i) ids[i] = static_cast<int32_t>(i);
  std::stable_sort(ids.begin(), ids.end(),
                   [&](int32_t a, int32_t b) { return logits[a] > logits[b]; });
  ASSERT_EQ(top.size(), 20u);
  for (int i = 0; i < 20; ++i) {
    EXPECT_EQ(top[i].first, ids[i]);
    EXPECT_NEAR(top[i].second, LogSoftmaxAt(logits, ids[i]), 1e-6);
  }
}

}  // namespace
}  // namespace rs::engine
