// Sampler: turns one row of logits into one token, for one sequence.
//
// Processing order (that of Hugging Face's LogitsProcessor list and vLLM):
//   1. logit_bias          x[id] += bias            (-inf bans, +large forces)
//   2. repetition penalty  over prompt + generated: x > 0 ? x / r : x * r
//   3. presence/frequency  over generated tokens:   x -= presence * (count > 0)
//                                                        + frequency * count
//   4. temperature         w = exp((x - max x) * (1 / T)) (T == 0: greedy)
//   5. top-k               keep the k most probable
//   6. top-p               keep the minimal most-probable prefix whose mass is
//                          >= top_p of what step 5 kept
//   7. min-p               keep tokens with w >= min_p * w_max
//   8. draw                one uniform u = SamplingUniform(seed, position)
//                          (random.h); walk the kept tokens in the canonical
//                          order (probability descending, ties by id
//                          ascending) and return the first whose cumulative
//                          mass exceeds u * (kept mass): inverse-CDF sampling.
// Steps 5-7 each keep a prefix of the canonical order, so the result is that
// prefix with the smallest length. NaN logits count as -inf, +inf logits as the
// largest finite float.
//
// Greedy (temperature == 0): the token with the largest logit after steps 1-3,
// ties to the lowest id; seed, top-k/p and min-p play no part. Its `logprob` is
// log-softmax of the processed logits at temperature 1 (as vLLM reports).
//
// Cost for a vocabulary V: a few vectorized O(V) passes (copy, max, exp) plus
// either top-k by a bounded heap (0 < k <= 1024), or a histogram of the
// weights in logarithmic bins (8 per octave, large ones split again 256 ways)
// that lets top-p, min-p, a large top-k and the draw sort only the (sub-)bins
// they land in, never the whole vocabulary. The histogram first covers only weights above 2^-20 of the top
// token's (or above min_p), and is extended to the rest only when a cut-off or
// the draw reaches past them.
// benchmarks/sampler/sampler_bench.cc measures it.
//
// Thread-safety: Sampler is stateless; Sample and the free functions may run
// concurrently from any number of threads, each with its own SamplerScratch.
#pragma once

#include <cstdint>
#include <span>
#include <utility>
#include <vector>

#include "engine/sampler/sampling_params.h"
#include "engine/sampler/token_history.h"

namespace rs::engine {

struct SampleResult {
  // The chosen id, or -1 when no token has a non-zero probability after
  // processing (every logit NaN/-inf or banned, or an empty row): the scheduler
  // then ends the sequence with FinishReason::kError.
  int32_t token = -1;
  // Only when params.logprobs (else NaN):
  // log p(token) under the final distribution (after steps 1-7, renormalized;
  // greedy: see above); -inf when token == -1.
  float logprob = 0.0f;
  // log-softmax of the RAW logits (no bias, penalty, temperature or
  // truncation) at `token`, as the OpenAI API reports it; -inf when token == -1.
  float raw_logprob = 0.0f;
};

// A (token id, probability weight) pair as the sampler sorts them.
struct TokenWeight {
  float weight;
  int32_t id;
};

// Reusable buffers for Sample, so the hot path does not allocate once warm.
// One per thread (e.g. per engine loop); not thread-safe. The members are the
// sampler's working storage: callers never read or write them.
struct SamplerScratch {
  std::vector<float> values;            // V processed logits, then weights
  std::vector<TokenWeight> candidates;  // top-k heap, or one bin's tokens
  std::vector<uint16_t> bin_index;      // V: each weight's probability bin
  std::vector<TokenWeight> bucketed;    // the gathered bins' tokens
  std::vector<double> bin_mass;         // histogram: mass per bin (x4 lanes)
  std::vector<uint32_t> bin_count;      // histogram: tokens per bin (x4 lanes)
  std::vector<double> mass_before;      // its prefix sums
  std::vector<uint32_t> count_before;   // its prefix counts
  std::vector<int16_t> bin_slot;        // gathered bin -> its sub-bin slot
  std::vector<uint32_t> sub_count_before;  // per slot: sub-bin prefix counts
  std::vector<double> sub_mass_before;     // per slot: sub-bin prefix masses
  std::vector<uint8_t> sub_sorted;         // per slot: whether a sub-bin is sorted
  std::vector<uint32_t> sub_cursor;        // scatter positions while gathering
  std::vector<int32_t> bin_ids;            // the ids of the bin being gathered
};

class Sampler {
 public:
  // Samples the token at `position` (the index of the token being generated
  // within its sequence, e.g. the number generated so far) from `logits`
  // (one row, V = logits.size() entries). `history` holds the sequence's
  // prompt and generated tokens for the penalties. `scratch` may be null (then
  // buffers are allocated per call).
  // The randomness is a pure function of (params.seed, position): the same
  // inputs give the same token whatever else is sampled, in whatever order.
  // REQUIRES: params.Validate(logits.size()).ok().
  static SampleResult Sample(std::span<const float> logits, const SamplingParams& params,
                             const TokenHistory& history, uint64_t position,
                             SamplerScratch* scratch);
};

// log-softmax(logits)[token] (NaN counts as -inf). -inf if token is out of
// range or has zero probability; NaN-free.
float LogSoftmaxAt(std::span<const float> logits, int32_t token);

// The min(n, #tokens with finite logit) most likely tokens of `logits` as
// (id, log-probability) pairs, log-probability descending, ties by id
// ascending. Log-probabilities are log-softmax over the whole row. n <= 0 gives
// an empty vector.
std::vector<std::pair<int32_t, float>> TopLogprobs(std::span<const float> logits, int n);

}  // namespace rs::engine
