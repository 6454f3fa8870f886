#include "engine/sampler/sampler.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <limits>

#include "engine/sampler/random.h"
#include "engine/sampler/vector_ops.h"

namespace rs::engine {
namespace {

using sampler_internal::ExpShifted;
using sampler_internal::FirstIndexOf;
using sampler_internal::MaxValue;
using sampler_internal::SanitizeCopy;
using sampler_internal::SumExpShifted;

constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr float kMaxFinite = std::numeric_limits<float>::max();

// Top-k by a bounded heap below this k; above it, by histogram bins.
constexpr size_t kHeapMaxK = 1024;

// Probability bins: weights w in (0, 1] (w = 1 for the most likely token) go to
// bin (bits(1) - bits(w)) >> 20, i.e. 8 bins per octave, bin 0 holding the
// largest weights. Weights below 2^-63 share the last bin (their total is at
// most V * 2^-63 of the top token's, so the draw almost never lands there).
constexpr uint32_t kOneBits = 0x3F800000u;
constexpr int kBinShift = 20;
constexpr uint32_t kNumBins = 512;

// Canonical order: weight descending, then id ascending.
inline bool Before(const TokenWeight& a, const TokenWeight& b) {
  return a.weight > b.weight || (a.weight == b.weight && a.id < b.id);
}

inline float Finite(float v) { return v == kInf ? kMaxFinite : v; }

// Adds the logit bias and applies the penalties to x (steps 1-3 of
// sampler.h). Returns whether any logit changed.
bool ApplyBiasAndPenalties(const SamplingParams& p, const TokenHistory& history,
                           std::span<float> x) {
  const int64_t vocab = static_cast<int64_t>(x.size());
  bool edited = false;
  for (const auto& [id, bias] : p.logit_bias) {
    if (id < 0 || id >= vocab || bias == 0.0f || bias != bias) continue;
    x[id] = Finite(x[id] + bias);
    edited = true;
  }
  const float rep = p.repetition_penalty;
  const bool use_rep = rep != 1.0f && rep > 0.0f;
  const bool use_pf = p.presence_penalty != 0.0f || p.frequency_penalty != 0.0f;
  if (!use_rep && !use_pf) return edited;
  for (const TokenHistory::Entry& e : history.entries()) {
    if (e.id >= vocab) continue;
    float v = x[e.id];
    if (use_rep) v = v > 0.0f ? v / rep : v * rep;  // every entry was seen
    if (use_pf && e.generated_count > 0) {
      v -= p.frequency_penalty * static_cast<float>(e.generated_count);
      v -= p.presence_penalty;
    }
    v = Finite(v);
    if (v != v) v = -kInf;  // unreachable for validated params; stay NaN-free
    x[e.id] = v;
    edited = true;
  }
  return edited;
}

// The (up to) k best entries v[i] > floor, in canonical order, into *out. A
// bounded heap whose top is its worst element; blocks of 16 are skipped with
// one vectorized comparison when none can enter.
void SelectTopK(const float* v, size_t n, size_t k, float floor, std::vector<TokenWeight>* out) {
  out->clear();
  if (k == 0) return;
  out->reserve(std::min(k, n));
  float threshold = floor;
  auto consider = [&](size_t i) {
    const float w = v[i];
    if (!(w > threshold)) return;  // ties lose: earlier ids are already in
    const TokenWeight tw{w, static_cast<int32_t>(i)};
    if (out->size() < k) {
      out->push_back(tw);
      std::push_heap(out->begin(), out->end(), Before);
    } else {
      std::pop_heap(out->begin(), out->end(), Before);
      out->back() = tw;
      std::push_heap(out->begin(), out->end(), Before);
    }
    if (out->size() == k) threshold = out->front().weight;
  };
  size_t i = 0;
  constexpr size_t kBlock = 16;
  for (; i + kBlock <= n; i += kBlock) {
    int any = 0;
    for (size_t j = 0; j < kBlock; ++j) any |= v[i + j] > threshold ? 1 : 0;
    if (!any) continue;
    for (size_t j = 0; j < kBlock; ++j) consider(i + j);
  }
  for (; i < n; ++i) consider(i);
  std::sort_heap(out->begin(), out->end(), Before);
}

// Steps 5-8 over an explicit candidate list in canonical order (the top-k
// heap's output). Returns the index of the drawn candidate and the kept mass.
size_t DrawFromList(std::span<const TokenWeight> c, const SamplingParams& p, double u,
                    double* kept_mass) {
  size_t kept = c.size();
  if (p.top_p < 1.0f) {
    double total = 0.0;
    for (const TokenWeight& t : c) total += t.weight;
    const double target = static_cast<double>(p.top_p) * total;
    double cum = 0.0;
    for (size_t j = 0; j < kept; ++j) {
      cum += c[j].weight;
      if (cum >= target) {
        kept = j + 1;
        break;
      }
    }
  }
  if (p.min_p > 0.0f) {
    const float threshold = p.min_p * c[0].weight;
    size_t j = 0;
    while (j < kept && c[j].weight >= threshold) ++j;
    kept = std::max<size_t>(j, 1);
  }
  double mass = 0.0;
  for (size_t j = 0; j < kept; ++j) mass += c[j].weight;
  *kept_mass = mass;
  const double target = u * mass;
  double cum = 0.0;
  for (size_t j = 0; j < kept; ++j) {
    cum += c[j].weight;
    if (cum > target) return j;
  }
  return kept - 1;  // only reachable through rounding
}

// Steps 5-8 when there is no small top-k. Every weight gets a logarithmic bin
// (one vectorized pass), and a histogram gives each bin's token count and mass
// (four interleaved copies, so runs of one bin do not serialize on a single
// counter). Cut-offs and the draw locate their bin from its prefix sums; only
// the bins they land in are gathered, and a large one is split again into 256
// sub-bins by the next bits of the weight, so only the sub-bin a cut or the
// draw lands in is ever sorted. The histogram first covers only the "head"
// (weights above 2^-kHeadOctaves, typically a small part of the vocabulary but
// almost all of the mass); only if a cut-off or the draw reaches past it is it
// extended over every token.
//
// Exactness: the weights of one bin (< 1/8 octave, so at most two binades)
// are multiples of one power of two, and at most 2^29 of them add up exactly
// in a double; bin and sub-bin masses are therefore independent of the order
// of summation, and every running sum here equals the one a sequential walk
// of the canonical order computes. The last bin (everything below 2^-63) is
// the exception: it is never split, and walked sequentially.
class BinnedDraw {
 public:
  BinnedDraw(std::span<const float> w, double total_mass, SamplerScratch* s)
      : w_(w), total_mass_(total_mass), s_(s) {}

  // Returns the drawn token (weight, id) and sets *kept_mass.
  TokenWeight Draw(const SamplingParams& p, double u, double* kept_mass) {
    TokenWeight out{0.0f, -1};
    // With min-p, nothing below its threshold can be kept.
    uint32_t head = kHeadBins;
    if (p.min_p > 0.0f && p.min_p <= 1.0f) head = std::min(head, BinOf(p.min_p) + 1);
    Build(head);
    if (TryDraw(p, u, &out, kept_mass)) return out;
    Build(kNumBins);
    TryDraw(p, u, &out, kept_mass);  // cannot fail over the full histogram
    return out;
  }

 private:
  static constexpr uint32_t kHeadOctaves = 20;
  static constexpr uint32_t kHeadBins = kHeadOctaves << (23 - kBinShift);
  static constexpr size_t kLanes = 4;  // interleaved histogram copies
  static constexpr int kSubBits = 8;
  static constexpr uint32_t kNumSubBins = 1u << kSubBits;
  static constexpr uint32_t kSubStride = kNumSubBins + 1;
  static constexpr uint32_t kSplitAbove = 48;  // smaller bins are one sub-bin

  // A prefix of the canonical order: every bin before `bin`, plus the first
  // `n` tokens of bin `bin` ({kNumBins, 0}: everything).
  struct Cut {
    uint32_t bin;
    uint32_t n;
    bool operator<(const Cut& o) const { return bin < o.bin || (bin == o.bin && n < o.n); }
  };
  static constexpr Cut kAll{kNumBins, 0};

  static uint32_t BinOf(float w) {
    const uint32_t d = (kOneBits - std::bit_cast<uint32_t>(w)) >> kBinShift;
    return d < kNumBins - 1 ? d : kNumBins - 1;
  }
  // The sub-bin of w inside its (split) bin: the next kSubBits of the key.
  static uint32_t SubOf(float w) {
    return ((kOneBits - std::bit_cast<uint32_t>(w)) >> (kBinShift - kSubBits)) & (kNumSubBins - 1);
  }
  // Bin b holds exactly the weights in (Low(b), High(b)].
  static float High(uint32_t b) { return std::bit_cast<float>(kOneBits - (b << kBinShift)); }
  static float Low(uint32_t b) { return b >= kNumBins - 1 ? 0.0f : High(b + 1); }

  // Extends the histogram to the bins below `limit` (from those below the
  // previous limit, or none) and updates its prefix sums.
  void Build(uint32_t limit) {
    const size_t n = w_.size();
    std::vector<double>& lane_mass = s_->bin_mass;
    std::vector<uint32_t>& lane_count = s_->bin_count;
    if (limit_ == 0) {
      s_->bin_index.resize(n);
      sampler_internal::LogBinIndices(w_.data(), n, kBinShift, kNumBins - 1, s_->bin_index.data());
      lane_mass.assign(kLanes * kNumBins, 0.0);
      lane_count.assign(kLanes * kNumBins, 0);
      s_->bin_slot.assign(kNumBins, -1);
      slots_ = 0;
    }
    const uint32_t lo = limit_;
    const uint32_t span = limit - lo;  // new bins: [lo, limit)
    limit_ = limit;
    const float* w = w_.data();
    const uint16_t* idx = s_->bin_index.data();
    double* mass = lane_mass.data();
    uint32_t* count = lane_count.data();
    auto add = [&](size_t i) {
      const uint32_t b = idx[i];
      if (b - lo >= span) return;  // unsigned: also b < lo
      const size_t at = b * kLanes + (i & (kLanes - 1));
      mass[at] += w[i];
      ++count[at];
    };
    size_t i = 0;
    constexpr size_t kBlock = 32;
    for (; i + kBlock <= n; i += kBlock) {
      int any = 0;
      for (size_t j = 0; j < kBlock; ++j) any |= static_cast<uint32_t>(idx[i + j]) - lo < span;
      if (!any) continue;
      for (size_t j = 0; j < kBlock; ++j) add(i + j);
    }
    for (; i < n; ++i) add(i);
    std::vector<double>& before = s_->mass_before;
    std::vector<uint32_t>& offset = s_->count_before;
    before.resize(kNumBins + 1);
    offset.resize(kNumBins + 1);
    before[0] = 0.0;
    offset[0] = 0;
    for (uint32_t b = 0; b < kNumBins; ++b) {
      const double* m = mass + b * kLanes;
      const uint32_t* c = count + b * kLanes;
      before[b + 1] = before[b] + ((m[0] + m[1]) + (m[2] + m[3]));
      offset[b + 1] = offset[b] + ((c[0] + c[1]) + (c[2] + c[3]));
    }
    // Counts below the old limit are unchanged, so gathered bins stay put.
    s_->bucketed.resize(offset[kNumBins]);
  }

  // Whether `cut` reaches into bins the current histogram does not cover.
  bool Beyond(const Cut& cut) const { return cut.bin > limit_ || (cut.bin == limit_ && cut.n > 0); }

  // Steps 5-8 over the current histogram; false if they need bins >= limit_.
  bool TryDraw(const SamplingParams& p, double u, TokenWeight* out, double* kept_mass) {
    const bool partial = limit_ < kNumBins;
    Cut cut = kAll;        // no truncation (yet)
    bool unknown = false;  // the cut lies somewhere past the histogram
    // Step 5: large top-k, located by the bin counts.
    if (p.top_k > 0) {
      const uint64_t k = static_cast<uint64_t>(p.top_k);
      const std::vector<uint32_t>& count = s_->count_before;
      if (k <= count[limit_]) {
        uint32_t b = 0;
        while (count[b + 1] < k) ++b;
        cut = Cut{b, static_cast<uint32_t>(k - count[b])};
      } else if (partial) {
        unknown = true;  // the k-th token may lie in the tail
      }
    }
    // Step 6: top-p, the first position where the running mass reaches target.
    if (p.top_p < 1.0f) {
      if (unknown) return false;  // the mass top-p is relative to is unknown
      const double target = static_cast<double>(p.top_p) * PrefixMass(cut);
      Cut found;
      if (Walk(cut, target, /*inclusive=*/true, &found)) {
        cut = std::min(cut, found);
      } else if (partial) {
        unknown = true;  // reached past the histogram
      }                  // else: missed only through rounding; keep the top-k cut
    }
    // Step 7: min-p; the top token's weight is exactly 1.
    if (p.min_p > 0.0f && p.min_p <= 1.0f) {
      const float threshold = p.min_p;
      const uint32_t b = BinOf(threshold);
      if (b < limit_ && (unknown || Cut{b, 0} < cut)) {
        cut = Cut{b, CountAtLeast(b, threshold)};  // before any unknown cut, past bin b
        unknown = false;
      }
    }
    if (unknown) return false;
    if (cut.bin == 0 && cut.n == 0) cut.n = 1;  // the top token always stays
    if (partial && Beyond(cut)) {
      // Only kAll can be past the histogram here: no truncation at all.
      if (u * total_mass_ >= s_->mass_before[limit_]) return false;  // draw in the tail
    }
    // Step 8: the draw.
    const double mass = PrefixMass(cut);
    *kept_mass = mass;
    Cut drawn;
    if (Walk(cut, u * mass, /*inclusive=*/false, &drawn)) {
      *out = TokenAt(drawn.bin, drawn.n - 1);
      return true;
    }
    if (partial && Beyond(cut)) return false;
    *out = LastOf(cut);  // only reachable through rounding
    return true;
  }

  uint32_t BinSize(uint32_t b) const { return s_->count_before[b + 1] - s_->count_before[b]; }

  // The gathered, sub-binned bin b (gathered on first use): its tokens in
  // s_->bucketed from count_before[b], grouped by sub-bin (ids ascending in
  // each group until that group is sorted), with prefix counts and masses per
  // sub-bin. REQUIRES: b < limit_.
  struct Gathered {
    TokenWeight* tokens;
    uint32_t* count_before;  // [subs + 1]
    double* mass_before;     // [subs + 1]
    uint8_t* sorted;         // [subs]
    uint32_t subs;           // 1 (not split) or kNumSubBins
  };
  Gathered Gather(uint32_t b) {
    int16_t& slot = s_->bin_slot[b];
    const bool fresh = slot < 0;
    if (fresh) {
      slot = static_cast<int16_t>(slots_++);
      const size_t need = static_cast<size_t>(slots_) * kSubStride;
      if (s_->sub_count_before.size() < need) {
        s_->sub_count_before.resize(need);
        s_->sub_mass_before.resize(need);
        s_->sub_sorted.resize(need);
      }
    }
    const size_t base = static_cast<size_t>(slot) * kSubStride;
    const uint32_t size = BinSize(b);
    Gathered g{s_->bucketed.data() + s_->count_before[b], s_->sub_count_before.data() + base,
               s_->sub_mass_before.data() + base, s_->sub_sorted.data() + base,
               size > kSplitAbove && b < kNumBins - 1 ? kNumSubBins : 1};
    if (fresh) Fill(b, size, g);
    return g;
  }

  // Collects bin b's tokens (ids ascending) and groups them by sub-bin.
  void Fill(uint32_t b, uint32_t size, const Gathered& g) {
    std::vector<int32_t>& ids = s_->bin_ids;
    ids.resize(w_.size());
    const size_t hits = sampler_internal::IndicesEqual(s_->bin_index.data(), w_.size(),
                                                       static_cast<uint16_t>(b), ids.data());
    std::vector<TokenWeight>& found = s_->candidates;
    found.resize(hits);
    for (size_t i = 0; i < hits; ++i) found[i] = TokenWeight{w_[ids[i]], ids[i]};
    // found.size() == size: the histogram counted exactly these tokens.
    std::fill(g.count_before, g.count_before + g.subs + 1, 0u);
    std::fill(g.mass_before, g.mass_before + g.subs + 1, 0.0);
    std::fill(g.sorted, g.sorted + g.subs, uint8_t{0});
    if (g.subs == 1) {
      std::copy(found.begin(), found.end(), g.tokens);
      g.count_before[1] = size;
      for (const TokenWeight& t : found) g.mass_before[1] += t.weight;
      return;
    }
    for (const TokenWeight& t : found) {
      const uint32_t s = SubOf(t.weight);
      ++g.count_before[s + 1];
      g.mass_before[s + 1] += t.weight;
    }
    for (uint32_t s = 0; s < g.subs; ++s) {
      g.count_before[s + 1] += g.count_before[s];
      g.mass_before[s + 1] += g.mass_before[s];
    }
    s_->sub_cursor.resize(kNumSubBins);
    uint32_t* next = s_->sub_cursor.data();
    std::copy(g.count_before, g.count_before + g.subs, next);
    for (const TokenWeight& t : found) g.tokens[next[SubOf(t.weight)]++] = t;
  }

  // Sub-bin s of a gathered bin, in canonical order (sorted on first use).
  static std::span<const TokenWeight> SortedSub(const Gathered& g, uint32_t s) {
    TokenWeight* first = g.tokens + g.count_before[s];
    TokenWeight* last = g.tokens + g.count_before[s + 1];
    if (!g.sorted[s]) {
      std::sort(first, last, Before);
      g.sorted[s] = 1;
    }
    return {first, last};
  }

  // The sub-bin holding position n (< the bin's size) of a gathered bin.
  static uint32_t SubAt(const Gathered& g, uint32_t n) {
    return static_cast<uint32_t>(
        std::upper_bound(g.count_before + 1, g.count_before + g.subs + 1, n) - (g.count_before + 1));
  }

  // Token n (0-based, canonical order) of bin b.
  TokenWeight TokenAt(uint32_t b, uint32_t n) {
    const Gathered g = Gather(b);
    const uint32_t s = SubAt(g, n);
    return SortedSub(g, s)[n - g.count_before[s]];
  }

  // Mass of the first n tokens of bin b (n <= its size).
  double BinPrefixMass(uint32_t b, uint32_t n) {
    if (n == 0) return 0.0;
    const Gathered g = Gather(b);
    const uint32_t s = SubAt(g, n - 1);
    double mass = g.mass_before[s];
    const std::span<const TokenWeight> sorted = SortedSub(g, s);
    for (uint32_t i = 0; i < n - g.count_before[s]; ++i) mass += sorted[i].weight;
    return mass;
  }

  // How many tokens of bin b have weight >= threshold, which lies in bin b.
  uint32_t CountAtLeast(uint32_t b, float threshold) {
    const Gathered g = Gather(b);
    const uint32_t s = g.subs == 1 ? 0 : SubOf(threshold);
    const std::span<const TokenWeight> sorted = SortedSub(g, s);
    uint32_t n = 0;
    while (n < sorted.size() && sorted[n].weight >= threshold) ++n;
    return g.count_before[s] + n;
  }

  // Mass of the prefix `cut` (kAll: the exact total from the exp pass).
  // REQUIRES: !Beyond(cut) unless cut is kAll.
  double PrefixMass(const Cut& cut) {
    if (cut.bin >= kNumBins) return total_mass_;
    return s_->mass_before[cut.bin] + BinPrefixMass(cut.bin, cut.n);
  }

  static bool Reaches(double cum, double target, bool inclusive) {
    return inclusive ? cum >= target : cum > target;
  }

  // Walks the canonical order inside `limit` and the histogram, from the first
  // bin whose end mass passes `target`, to the first token where the running
  // mass is >= target (inclusive) or > target. On success sets *at to the
  // prefix ending with that token and returns true.
  bool Walk(const Cut& limit, double target, bool inclusive, Cut* at) {
    const std::vector<double>& before = s_->mass_before;
    const uint32_t end_bin = std::min(limit.bin, limit_ - 1);
    uint32_t b = 0;
    while (b < end_bin && !Reaches(before[b + 1], target, inclusive)) ++b;
    for (; b <= end_bin; ++b) {
      const uint32_t size = BinSize(b);
      const uint32_t take = b == limit.bin ? std::min(limit.n, size) : size;
      if (take == 0) continue;
      const Gathered g = Gather(b);
      for (uint32_t s = 0; s < g.subs && g.count_before[s] < take; ++s) {
        const uint32_t end = std::min(g.count_before[s + 1], take);
        if (end == g.count_before[s]) continue;  // empty sub-bin
        // A whole sub-bin the target lies beyond (exact sums: see above).
        if (end == g.count_before[s + 1] && s + 1 < g.subs &&
            !Reaches(before[b] + g.mass_before[s + 1], target, inclusive)) {
          continue;
        }
        double cum = before[b] + g.mass_before[s];
        const std::span<const TokenWeight> sorted = SortedSub(g, s);
        for (uint32_t i = 0; i < end - g.count_before[s]; ++i) {
          cum += sorted[i].weight;
          if (Reaches(cum, target, inclusive)) {
            *at = Cut{b, g.count_before[s] + i + 1};
            return true;
          }
        }
      }
    }
    return false;
  }

  // The last token inside `cut` (which is non-empty and not Beyond).
  TokenWeight LastOf(const Cut& cut) {
    if (cut.bin < kNumBins && cut.n > 0) return TokenAt(cut.bin, cut.n - 1);
    uint32_t b = std::min(cut.bin, limit_);
    while (b > 0 && BinSize(b - 1) == 0) --b;
    if (b == 0) return TokenWeight{0.0f, -1};
    return TokenAt(b - 1, BinSize(b - 1) - 1);
  }

  std::span<const float> w_;
  double total_mass_;
  SamplerScratch* s_;
  uint32_t limit_ = 0;  // bins below it are histogrammed
  uint32_t slots_ = 0;  // bins gathered so far
};

}  // namespace

SampleResult Sampler::Sample(std::span<const float> logits, const SamplingParams& params,
                             const TokenHistory& history, uint64_t position,
                             SamplerScratch* scratch) {
  constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
  const bool want_logprobs = params.logprobs;
  SampleResult result{-1, want_logprobs ? -kInf : kNaN, want_logprobs ? -kInf : kNaN};
  const size_t vocab = logits.size();
  if (vocab == 0 || vocab > static_cast<size_t>(std::numeric_limits<int32_t>::max())) {
    return result;
  }
  SamplerScratch local;
  if (scratch == nullptr) scratch = &local;
  std::vector<float>& x = scratch->values;
  x.resize(vocab);
  SanitizeCopy(logits.data(), x.data(), vocab);
  const bool edited = ApplyBiasAndPenalties(params, history, x);
  const float max_logit = MaxValue(x.data(), vocab);
  if (max_logit == -kInf) return result;

  // Greedy: argmax, ties to the lowest id (also for a NaN temperature).
  if (!(params.temperature > 0.0f)) {
    result.token = static_cast<int32_t>(FirstIndexOf(x.data(), vocab, max_logit));
    if (want_logprobs) {
      const double z = SumExpShifted(x.data(), vocab, max_logit);
      result.logprob = static_cast<float>(-std::log(z));
      result.raw_logprob = edited ? LogSoftmaxAt(logits, result.token) : result.logprob;
    }
    return result;
  }

  // Step 4, in place: x becomes the weights w = exp((x - max) / T), w_max = 1.
  const float temperature = std::min(params.temperature, SamplingParams::kMaxTemperature);
  const float inv_temperature = 1.0f / temperature;
  const double total_mass = ExpShifted(x.data(), x.data(), vocab, max_logit, inv_temperature);
  const std::span<const float> w(x.data(), vocab);
  const double u = SamplingUniform(params.seed, position);

  TokenWeight chosen{0.0f, -1};
  double kept_mass = 0.0;
  const size_t k = params.top_k > 0 ? static_cast<size_t>(params.top_k) : 0;
  if (k > 0 && k < vocab && k <= kHeapMaxK) {
    SelectTopK(w.data(), vocab, k, 0.0f, &scratch->candidates);
    chosen = scratch->candidates[DrawFromList(scratch->candidates, params, u, &kept_mass)];
  } else {
    BinnedDraw binned(w, total_mass, scratch);
    chosen = binned.Draw(params, u, &kept_mass);
  }
  if (chosen.id < 0 || !(chosen.weight > 0.0f)) return result;  // defensive
  result.token = chosen.id;
  if (want_logprobs) {
    const double log_w = std::log(static_cast<double>(chosen.weight));
    result.logprob = static_cast<float>(log_w - std::log(kept_mass));
    result.raw_logprob = !edited && temperature == 1.0f
                             ? static_cast<float>(log_w - std::log(total_mass))
                             : LogSoftmaxAt(logits, result.token);
  }
  return result;
}

float LogSoftmaxAt(std::span<const float> logits, int32_t token) {
  if (token < 0 || static_cast<size_t>(token) >= logits.size()) return -kInf;
  const float m = MaxValue(logits.data(), logits.size());
  const float v = logits[token];
  if (m == kInf) {  // the +inf entries share all the mass
    if (v != kInf) return -kInf;
    size_t n_inf = 0;
    for (float l : logits) n_inf += l == kInf ? 1 : 0;
    return static_cast<float>(-std::log(static_cast<double>(n_inf)));
  }
  if (m == -kInf || v != v || v == -kInf) return -kInf;
  const double z = SumExpShifted(logits.data(), logits.size(), m);
  return static_cast<float>(static_cast<double>(v - m) - std::log(z));
}

std::vector<std::pair<int32_t, float>> TopLogprobs(std::span<const float> logits, int n) {
  std::vector<std::pair<int32_t, float>> out;
  const size_t vocab = logits.size();
  if (n <= 0 || vocab == 0 || vocab > static_cast<size_t>(std::numeric_limits<int32_t>::max())) {
    return out;
  }
  std::vector<float> x(vocab);
  SanitizeCopy(logits.data(), x.data(), vocab);
  const float m = MaxValue(x.data(), vocab);
  if (m == -kInf) return out;
  const double log_z = std::log(SumExpShifted(x.data(), vocab, m));
  std::vector<TokenWeight> top;
  SelectTopK(x.data(), vocab, static_cast<size_t>(n), -kInf, &top);
  out.reserve(top.size());
  for (const TokenWeight& t : top) {
    out.emplace_back(t.id, static_cast<float>(static_cast<double>(t.weight - m) - log_z));
  }
  return out;
}

}  // namespace rs::engine
