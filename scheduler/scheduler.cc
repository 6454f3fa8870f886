#include "scheduler/scheduler.h"

#include <algorithm>
#include <cmath>
#include <optional>
#include <utility>

#include "engine/sampler/sampler.h"
#include "engine/sampler/token_history.h"

namespace rs::scheduler {

using engine::FinishReason;

namespace {

double Seconds(Clock::time_point a, Clock::time_point b) { return std::chrono::duration<double>(b - a).count(); }

// Tokens a prefill chunk gets when the decodes alone use up the step's
// budget, so admitted prompts always progress.
constexpr int64_t kMinPrefillChunk = 16;
// Most parallel sampling tasks per step (each with its own scratch buffers).
constexpr size_t kSampleTasks = 16;

}  // namespace

struct Scheduler::Seq {
  Handle handle = 0;  // also the arrival order
  Request req;
  std::shared_ptr<Sink> sink;
  Clock::time_point submitted;

  int slot = -1;
  bool admitted = false;  // has held a slot at least once
  bool started = false;   // input, history and initial state set up
  std::vector<int32_t> consumed;  // every token the state has consumed
  std::vector<int32_t> input;     // tokens to feed before the first sample
  size_t cursor = 0;              // next token of `input` to feed
  bool decoding = false;          // prefill done; next_token is fed next
  int32_t next_token = -1;
  engine::TokenHistory history;
  std::optional<engine::StreamDecoder> decoder;
  std::optional<engine::StopMatcher> matcher;
  std::optional<engine::HostState> swapped;  // state while swapped out
  std::vector<double> embed_sum;  // Request::embed: Σ of the normed hidden states so far
  Clock::time_point last_token;
  Result result;

  bool finished = false;
};

StatusOr<std::unique_ptr<Scheduler>> Scheduler::Create(engine::Model* model, const engine::Tokenizer* tokenizer,
                                                       const Options& options, std::shared_ptr<Metrics> metrics) {
  if (model == nullptr) return InvalidArgumentError("scheduler: no model");
  if (options.max_seqs < 1 || options.max_seqs > 65536) return InvalidArgumentError("--max-seqs must be in [1, 65536]");
  if (options.max_queue < 0) return InvalidArgumentError("--max-queue must be >= 0");
  if (options.max_step_tokens < 1) return InvalidArgumentError("--max-step-tokens must be >= 1");
  if (options.max_prompt_tokens < 1) return InvalidArgumentError("--max-prompt-tokens must be >= 1");
  if (options.max_slots_per_tenant < 0) return InvalidArgumentError("--max-slots-per-tenant must be >= 0");
  if (!metrics) metrics = std::make_shared<NullMetrics>();
  std::unique_ptr<Scheduler> s(new Scheduler(model, tokenizer, options, std::move(metrics)));
  s->thread_ = std::thread([p = s.get()] { p->Loop(); });
  return s;
}

Scheduler::Scheduler(engine::Model* model, const engine::Tokenizer* tokenizer, const Options& options,
                     std::shared_ptr<Metrics> metrics)
    : model_(model),
      tokenizer_(tokenizer),
      options_(options),
      metrics_(std::move(metrics)),
      pool_(model->NewStatePool(options.max_seqs)),
      cache_(model->spec().fingerprint, options.prefix_cache_bytes, options.session_cache_bytes) {}

Scheduler::~Scheduler() { Stop(); }

size_t Scheduler::pool_bytes() const { return pool_->total_bytes(); }

Status Scheduler::Validate(Request& r) const {
  const int64_t V = model_->spec().vocab_size;
  if (r.prompt.empty() && (r.session_id.empty() || r.embed))
    return InvalidArgumentError("empty prompt");
  if (static_cast<int64_t>(r.prompt.size()) > options_.max_prompt_tokens) {
    return InvalidArgumentError("prompt of " + std::to_string(r.prompt.size()) + " tokens exceeds the limit of " +
                                std::to_string(options_.max_prompt_tokens));
  }
  for (size_t i = 0; i < r.prompt.size(); ++i) {
    if (r.prompt[i] < 0 || r.prompt[i] >= V) {
      return InvalidArgumentError("prompt token " + std::to_string(i) + " = " + std::to_string(r.prompt[i]) +
                                  " is outside the vocabulary [0, " + std::to_string(V) + ")");
    }
  }
  if (r.embed) {
    if (!r.session_id.empty() || !r.keep_session_as.empty() || r.return_session_state ||
        r.restore_session) {
      return InvalidArgumentError("an embedding request cannot use a session");
    }
    if (!model_->SupportsEmbed()) {
      return UnimplementedError("this model (" + model_->spec().device +
                                " backend) does not compute embeddings");
    }
    return OkStatus();  // nothing is sampled: params and stop are not used
  }
  if (r.session_id.empty() &&
      (r.return_session_state || r.restore_session || !r.keep_session_as.empty())) {
    return InvalidArgumentError(
        "keep_session_as, return_session_state and restore_session need a session_id");
  }
  if (r.restore_session) {
    if (r.session_mode == Request::SessionMode::kStart) {
      return InvalidArgumentError("restore_session contradicts session mode kStart (start over)");
    }
    const SessionState& st = *r.restore_session;
    if (st.pending_token < -1 || st.pending_token >= V) {
      return InvalidArgumentError("restore_session: pending token " +
                                  std::to_string(st.pending_token) +
                                  " is outside the vocabulary [0, " + std::to_string(V) + ")");
    }
    for (int32_t t : st.tokens) {
      if (t < 0 || t >= V) {
        return InvalidArgumentError("restore_session: history token " + std::to_string(t) +
                                    " is outside the vocabulary [0, " + std::to_string(V) + ")");
      }
    }
  }
  RS_RETURN_IF_ERROR(r.params.Validate(V));
  r.stop.max_tokens = r.params.max_tokens;
  RS_RETURN_IF_ERROR(r.stop.Validate(V));
  if (!r.stop.stop_strings.empty() && tokenizer_ == nullptr) {
    return InvalidArgumentError("stop strings need a tokenizer, and this model has none");
  }
  return OkStatus();
}

StatusOr<Scheduler::Handle> Scheduler::Submit(Request request, std::shared_ptr<Sink> sink) {
  if (!sink) return InvalidArgumentError("no sink");
  RS_RETURN_IF_ERROR(Validate(request));
  auto seq = std::make_unique<Seq>();
  seq->req = std::move(request);
  seq->sink = std::move(sink);
  seq->submitted = Clock::now();
  std::lock_guard<std::mutex> lock(mu_);
  if (stopping_) return UnavailableError("the scheduler is stopping");
  const int64_t free_slots = options_.max_seqs - running_.load();
  if (pending_.load() >= options_.max_queue + std::max<int64_t>(free_slots, 0)) {
    rejected_.fetch_add(1);
    return ResourceExhaustedError("overloaded: " + std::to_string(options_.max_queue) +
                                  " requests already wait for a state slot");
  }
  pending_.fetch_add(1);
  seq->handle = next_handle_++;
  const Handle h = seq->handle;
  inbox_.push_back(std::move(seq));
  idle_ = false;
  wake_.notify_one();
  return h;
}

void Scheduler::Cancel(Handle handle) {
  std::lock_guard<std::mutex> lock(mu_);
  cancels_.push_back(handle);
  wake_.notify_one();
}

void Scheduler::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    wake_.notify_one();
  }
  if (thread_.joinable()) thread_.join();
}

void Scheduler::WaitIdle() {
  std::unique_lock<std::mutex> lock(mu_);
  idle_cv_.wait(lock, [&] { return (idle_ && inbox_.empty()) || stopping_; });
}

Stats Scheduler::GetStats() const {
  std::lock_guard<std::mutex> lock(mu_);
  Stats s = stats_;
  s.rejected = rejected_.load();
  return s;
}

// ---- Engine thread ---------------------------------------------------------

namespace {

// Waiting order: priority descending, then arrival.
bool Before(const Scheduler::Seq& a, const Scheduler::Seq& b);

}  // namespace

void Scheduler::Loop() {
  PublishGauges();  // the pool's size is on the dashboards before the first request
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      wake_.wait(lock, [&] {
        return stopping_ || !inbox_.empty() || !cancels_.empty() || !waiting_.empty() || !running_seqs_.empty();
      });
      if (stopping_) break;
    }
    TakeInbox();
    Clock::time_point now = Clock::now();
    ExpireAndCancel(now);
    Admit(now);
    if (!running_seqs_.empty()) Step();
    PublishGauges();
  }
  // Stopping: everything still here ends as cancelled.
  TakeInbox();
  while (!running_seqs_.empty()) Finish(*running_seqs_.back(), FinishReason::kCancelled);
  while (!waiting_.empty()) Finish(*waiting_.back(), FinishReason::kCancelled);
  PublishGauges();
  std::lock_guard<std::mutex> lock(mu_);
  idle_ = true;
  idle_cv_.notify_all();
}

namespace {
bool Before(const Scheduler::Seq& a, const Scheduler::Seq& b) {
  if (a.req.priority != b.req.priority) return a.req.priority > b.req.priority;
  return a.handle < b.handle;
}
}  // namespace

void Scheduler::TakeInbox() {
  std::vector<std::unique_ptr<Seq>> inbox;
  std::vector<Handle> cancels;
  {
    std::lock_guard<std::mutex> lock(mu_);
    inbox.swap(inbox_);
    cancels.swap(cancels_);
  }
  for (auto& s : inbox) {
    auto pos = std::upper_bound(waiting_.begin(), waiting_.end(), s,
                                [](const auto& a, const auto& b) { return Before(*a, *b); });
    waiting_.insert(pos, std::move(s));
  }
  for (Handle h : cancels) {
    for (auto& s : running_seqs_) {
      if (s->handle == h) s->req.deadline = Clock::time_point::min();  // marks: cancel below
    }
    for (auto& s : waiting_) {
      if (s->handle == h) s->req.deadline = Clock::time_point::min();
    }
  }
}

void Scheduler::ExpireAndCancel(Clock::time_point now) {
  auto reason_for = [&](const Seq& s) -> std::optional<FinishReason> {
    if (s.req.deadline == Clock::time_point::min()) return FinishReason::kCancelled;
    if (s.req.deadline <= now) return FinishReason::kDeadline;
    return std::nullopt;
  };
  for (size_t i = 0; i < running_seqs_.size();) {
    if (auto r = reason_for(*running_seqs_[i])) {
      Finish(*running_seqs_[i], *r);  // removes it
    } else {
      ++i;
    }
  }
  for (size_t i = 0; i < waiting_.size();) {
    if (auto r = reason_for(*waiting_[i])) {
      Finish(*waiting_[i], *r);
    } else {
      ++i;
    }
  }
}

bool Scheduler::SwapOutFor(int priority) {
  if (options_.swap_bytes == 0 || running_seqs_.empty()) return false;
  // The lowest-priority running sequence, the latest arrival among equals.
  size_t victim = 0;
  for (size_t i = 1; i < running_seqs_.size(); ++i) {
    const Seq& a = *running_seqs_[i];
    const Seq& v = *running_seqs_[victim];
    if (a.req.priority < v.req.priority || (a.req.priority == v.req.priority && a.handle > v.handle)) victim = i;
  }
  Seq& v = *running_seqs_[victim];
  if (v.req.priority >= priority) return false;
  const size_t bytes = pool_->bytes_per_slot();
  if (swap_used_ + bytes > options_.swap_bytes) return false;
  v.swapped = pool_->Snapshot(v.slot);
  swap_used_ += bytes;
  ++swapped_;
  ++v.result.swaps;
  pool_->Release(v.slot);
  v.slot = -1;
  running_.fetch_sub(1);
  if (options_.max_slots_per_tenant > 0) --tenant_running_[v.req.tenant];
  metrics_->CountSwap(true);
  std::unique_ptr<Seq> owned = std::move(running_seqs_[victim]);
  running_seqs_.erase(running_seqs_.begin() + static_cast<ptrdiff_t>(victim));
  auto pos = std::upper_bound(waiting_.begin(), waiting_.end(), owned,
                              [](const auto& a, const auto& b) { return Before(*a, *b); });
  waiting_.insert(pos, std::move(owned));
  return true;
}

void Scheduler::Admit(Clock::time_point now) {
  const int cap = options_.max_slots_per_tenant;
  for (size_t i = 0; i < waiting_.size();) {
    Seq& s = *waiting_[i];
    if (cap > 0 && tenant_running_[s.req.tenant] >= cap) {
      ++i;  // this tenant is at its cap: later requests of others may go first
      continue;
    }
    if (pool_->n_free() == 0 && !SwapOutFor(s.req.priority)) break;
    // A swapped-out victim ranks below `s`, so it was inserted after i.
    const size_t at = i;
    std::unique_ptr<Seq> owned = std::move(waiting_[at]);
    waiting_.erase(waiting_.begin() + static_cast<ptrdiff_t>(at));
    owned->slot = pool_->Acquire().value();
    running_.fetch_add(1);
    if (cap > 0) ++tenant_running_[owned->req.tenant];
    if (!owned->admitted) {
      owned->admitted = true;
      owned->result.queue_seconds = Seconds(owned->submitted, now);
      metrics_->ObserveQueueTime(owned->result.queue_seconds);
      pending_.fetch_sub(1);
    }
    Seq* raw = owned.get();
    running_seqs_.push_back(std::move(owned));
    Status st;
    if (raw->swapped) {
      st = pool_->Restore(raw->slot, *raw->swapped);
      swap_used_ -= pool_->bytes_per_slot();
      --swapped_;
      raw->swapped.reset();
      metrics_->CountSwap(false);
    } else if (!raw->started) {
      st = Start(*raw);
    }
    if (!st.ok()) Finish(*raw, FinishReason::kError, st);
  }
}

Status Scheduler::Start(Seq& s) {
  s.started = true;
  Request& r = s.req;
  if (r.embed) {
    // A fresh zero state (Acquire zeroed the slot), no cache, no sampling.
    s.input = r.prompt;
    s.embed_sum.assign(static_cast<size_t>(model_->spec().d_model), 0.0);
    s.result.prompt_tokens = static_cast<int64_t>(s.input.size());
    return OkStatus();
  }
  const bool prefix_cache = r.use_prefix_cache && options_.prefix_cache_bytes > 0;
  const StateCache::Entry* hit = nullptr;
  // The state the session continues from: a kept one (hit) or, when the cache
  // has none, the one the request brought (restore_session).
  const engine::HostState* session_state = nullptr;
  bool session_hit = false;
  if (!r.session_id.empty() && r.session_mode != Request::SessionMode::kStart) {
    hit = cache_.GetSession(r.session_id);
    const SessionState* restored = hit == nullptr ? r.restore_session.get() : nullptr;
    if (restored != nullptr) {
      const engine::ModelSpec& spec = model_->spec();
      if (restored->state.model_fingerprint != spec.fingerprint) {
        return FailedPreconditionError(
            "session '" + r.session_id + "': the state to restore belongs to another model (" +
            restored->state.model_fingerprint + ", this model is " + spec.fingerprint +
            "); rebuild the conversation from its text");
      }
      if (restored->state.layout_version != engine::kStateLayoutVersion ||
          restored->state.data.size() != spec.state.floats_per_sequence) {
        return FailedPreconditionError(
            "session '" + r.session_id +
            "': the state to restore has another state layout; rebuild the "
            "conversation from its text");
      }
    }
    if (hit != nullptr || restored != nullptr) {
      session_hit = true;
      session_state = hit != nullptr ? &hit->state : &restored->state;
      // The conversation so far; the state covers it.
      s.consumed = hit != nullptr ? hit->tokens : restored->tokens;
      const int32_t pending = hit != nullptr ? hit->pending_token : restored->pending_token;
      if (pending >= 0) s.input.push_back(pending);
    } else if (r.session_mode == Request::SessionMode::kContinue) {
      return NotFoundError("unknown session '" + r.session_id +
                           "': never started on this server, or its kept state was evicted (start it over "
                           "with the whole history)");
    }
  }
  s.input.insert(s.input.end(), r.prompt.begin(), r.prompt.end());
  if (s.input.empty()) {
    return InvalidArgumentError("empty prompt, and session '" + r.session_id + "' has no pending token");
  }
  if (!session_hit && prefix_cache) {
    // At least one token is left to feed: its logits give the first sample.
    hit = cache_.LookupPrefix(s.input, s.input.size() - 1);
    if (hit != nullptr) {
      session_state = &hit->state;
      s.cursor = hit->tokens.size();
      s.consumed.assign(s.input.begin(), s.input.begin() + static_cast<ptrdiff_t>(s.cursor));
    }
  }
  // A restored (imported) session counts as a cache miss.
  if (!r.session_id.empty() || prefix_cache) metrics_->CountCacheQuery(hit != nullptr);
  if (session_state != nullptr) RS_RETURN_IF_ERROR(pool_->Restore(s.slot, *session_state));
  r.restore_session.reset();  // copied into the slot (or unused): the caller's copy may be the last
  // Usage and penalties count the whole history, as a cold run over it would.
  if (session_hit) s.history.AddPrompt(s.consumed);
  s.history.AddPrompt(s.input);
  const size_t history = session_hit ? s.consumed.size() : 0;
  s.result.prompt_tokens = static_cast<int64_t>(history + s.input.size());
  s.result.cached_tokens = static_cast<int64_t>(session_hit ? history : s.cursor);
  metrics_->AddCachedTokens(s.result.cached_tokens);
  if (tokenizer_ != nullptr) s.decoder.emplace(tokenizer_);
  s.matcher.emplace(r.stop.stop_strings);
  return OkStatus();
}

void Scheduler::Step() {
  // Decodes first (one token each, never skipped), then prefill chunks in
  // admission order within what is left of the budget.
  engine::Batch batch;
  std::vector<Seq*> in_batch;
  std::vector<size_t> fed;  // tokens fed per batch entry
  int64_t n_tokens = 0;
  for (auto& p : running_seqs_) {
    Seq& s = *p;
    if (!s.decoding) continue;
    batch.seqs.push_back({s.slot, std::span<const int32_t>(&s.next_token, 1), false});
    in_batch.push_back(&s);
    fed.push_back(1);
    ++n_tokens;
  }
  int64_t budget = options_.max_step_tokens - n_tokens;
  bool any_prefill = false;
  for (auto& p : running_seqs_) {
    Seq& s = *p;
    if (s.decoding) continue;
    const int64_t left = static_cast<int64_t>(s.input.size() - s.cursor);
    int64_t n;
    if (budget > 0) {
      n = std::min(left, budget);
    } else if (!any_prefill) {
      n = std::min(left, kMinPrefillChunk);
    } else {
      break;
    }
    any_prefill = true;
    engine::SeqChunk chunk;
    chunk.slot = s.slot;
    chunk.tokens = std::span<const int32_t>(s.input.data() + s.cursor, static_cast<size_t>(n));
    chunk.embed = s.req.embed;
    batch.seqs.push_back(chunk);
    in_batch.push_back(&s);
    fed.push_back(static_cast<size_t>(n));
    n_tokens += n;
    budget -= n;
  }
  if (batch.seqs.empty()) return;

  const Clock::time_point t0 = Clock::now();
  Status st = model_->Forward(batch, *pool_, &logits_);
  const Clock::time_point t1 = Clock::now();
  ++steps_;
  metrics_->ObserveStep(Seconds(t0, t1), n_tokens, static_cast<int64_t>(batch.seqs.size()));
  if (!st.ok()) {
    for (Seq* s : in_batch) Finish(*s, FinishReason::kError, st);
    return;
  }
  const size_t V = static_cast<size_t>(model_->spec().vocab_size);
  // Sequences to sample from (every decode, and prompts that just ended) and
  // their logits rows.
  std::vector<std::pair<Seq*, std::span<const float>>> to_sample;
  std::vector<Seq*> embedded;  // embedding requests whose whole input was read
  for (size_t i = 0; i < in_batch.size(); ++i) {
    Seq& s = *in_batch[i];
    if (s.req.embed) {
      const float* sum = logits_.EmbedSum(i);
      for (size_t d = 0; d < s.embed_sum.size(); ++d) s.embed_sum[d] += sum[d];
      s.cursor += fed[i];
      metrics_->AddPromptTokens(static_cast<int64_t>(fed[i]));
      if (s.cursor == s.input.size()) embedded.push_back(&s);
      continue;
    }
    if (s.decoding) {
      s.consumed.push_back(s.next_token);
    } else {
      s.consumed.insert(s.consumed.end(), s.input.begin() + static_cast<ptrdiff_t>(s.cursor),
                        s.input.begin() + static_cast<ptrdiff_t>(s.cursor + fed[i]));
      s.cursor += fed[i];
      metrics_->AddPromptTokens(static_cast<int64_t>(fed[i]));
      if (s.cursor < s.input.size()) continue;  // more prompt to go
      s.decoding = true;
    }
    to_sample.emplace_back(&s, std::span<const float>(logits_.Row(logits_.row_offset[i]), V));
  }
  // Sampling is a pure function of (row, params, history, position): the rows
  // are sampled in parallel (contiguous ranges, one scratch per task), then
  // applied in batch order, so nothing depends on the split.
  const size_t n_rows = to_sample.size();
  const int n_tasks = static_cast<int>(std::min<size_t>(n_rows, kSampleTasks));
  if (scratches_.size() < static_cast<size_t>(n_tasks)) scratches_.resize(static_cast<size_t>(n_tasks));
  samples_.assign(n_rows, engine::SampleResult{});
  tops_.assign(n_rows, {});
  model_->ParallelFor(n_tasks, [&](int task) {
    const size_t begin = n_rows * static_cast<size_t>(task) / static_cast<size_t>(n_tasks);
    const size_t end = n_rows * static_cast<size_t>(task + 1) / static_cast<size_t>(n_tasks);
    for (size_t j = begin; j < end; ++j) {
      const Seq& s = *to_sample[j].first;
      const engine::SamplingParams& p = s.req.params;
      samples_[j] = engine::Sampler::Sample(to_sample[j].second, p, s.history,
                                            static_cast<uint64_t>(s.result.tokens.size()),
                                            &scratches_[static_cast<size_t>(task)]);
      if (p.top_logprobs > 0) tops_[j] = engine::TopLogprobs(to_sample[j].second, p.top_logprobs);
    }
  });
  std::vector<Seq*> done;
  for (size_t j = 0; j < n_rows; ++j) {
    Seq& s = *to_sample[j].first;
    if (ApplySample(s, samples_[j], std::move(tops_[j]), t1)) done.push_back(&s);
  }
  for (Seq* s : done) Finish(*s, s->result.finish_reason, s->result.error);
  for (Seq* s : embedded) {
    // mean = Σ / T, then L2-normalized (the 1/T cancels; kept for clarity).
    const double inv_t = 1.0 / static_cast<double>(s->input.size());
    double norm2 = 0;
    for (double& x : s->embed_sum) {
      x *= inv_t;
      norm2 += x * x;
    }
    const double inv_norm = norm2 > 0 ? 1.0 / std::sqrt(norm2) : 0.0;
    s->result.embedding.resize(s->embed_sum.size());
    for (size_t d = 0; d < s->embed_sum.size(); ++d) {
      s->result.embedding[d] = static_cast<float>(s->embed_sum[d] * inv_norm);
    }
    Finish(*s, FinishReason::kStop);
  }
}

bool Scheduler::ApplySample(Seq& s, const engine::SampleResult& r, std::vector<std::pair<int32_t, float>> top,
                            Clock::time_point now) {
  const engine::SamplingParams& p = s.req.params;
  const int64_t n = static_cast<int64_t>(s.result.tokens.size());
  if (r.token < 0) {
    s.result.finish_reason = FinishReason::kError;
    s.result.error = InternalError("no token has a non-zero probability");
    return true;
  }
  if (n == 0) {
    s.result.ttft_seconds = Seconds(s.submitted, now);
    metrics_->ObserveTimeToFirstToken(s.result.ttft_seconds);
  } else {
    metrics_->ObserveInterTokenLatency(Seconds(s.last_token, now));
  }
  s.last_token = now;
  metrics_->AddGenerationTokens(1);
  s.history.Add(r.token, /*is_prompt=*/false);
  s.result.tokens.push_back(r.token);
  s.next_token = r.token;

  TokenChunk chunk;
  chunk.token_ids.push_back(r.token);
  if (p.logprobs) chunk.logprobs.push_back(r.logprob);
  if (p.top_logprobs > 0) chunk.top_logprobs.push_back(std::move(top));
  // StopCriteria's order (stop.h): a stop token is not decoded; a stop string
  // ends at once; max_tokens flushes what was held back.
  std::optional<FinishReason> finish;
  const bool stop_token = s.req.stop.IsStopToken(r.token);
  if (!stop_token && s.decoder) {
    engine::StopMatcher::Result m = s.matcher->Feed(s.decoder->Push(r.token));
    chunk.text = std::move(m.emit);
    if (m.stopped) finish = FinishReason::kStop;
  }
  if (!finish) finish = s.req.stop.CheckToken(r.token, n + 1);
  if (finish && !s.matcher->stopped() && s.decoder) {
    engine::StopMatcher::Result m = s.matcher->Feed(s.decoder->Flush());
    chunk.text += m.emit;
    if (m.stopped) finish = FinishReason::kStop;
    chunk.text += s.matcher->Flush();
  }
  s.result.text += chunk.text;
  s.sink->OnChunk(chunk);
  if (!finish) return false;
  s.result.finish_reason = *finish;
  return true;
}

void Scheduler::Finish(Seq& s, FinishReason reason, Status error) {
  const Clock::time_point now = Clock::now();
  s.result.finish_reason = reason;
  s.result.error = reason == FinishReason::kError ? std::move(error) : OkStatus();
  s.result.generated_tokens = static_cast<int64_t>(s.result.tokens.size());
  s.result.total_seconds = Seconds(s.submitted, now);
  if (!s.admitted) {
    s.result.queue_seconds = s.result.total_seconds;
    pending_.fetch_sub(1);
  }
  const bool completed = reason == FinishReason::kStop || reason == FinishReason::kLength;
  if (s.slot >= 0) {
    // Only completed requests update kept states: the state then covers
    // `consumed`, and the last sampled token is still to be fed.
    if (completed && s.decoding) {
      const bool keep_session = !s.req.session_id.empty() && options_.session_cache_bytes > 0;
      const bool keep_prefix = s.req.use_prefix_cache && options_.prefix_cache_bytes > 0;
      const bool export_session = !s.req.session_id.empty() && s.req.return_session_state;
      if (keep_session || keep_prefix || export_session) {
        StateCache::Entry e;
        e.tokens = s.consumed;
        e.state = pool_->Snapshot(s.slot);
        if (export_session) {
          // What the session entry below holds (kept or not).
          auto out = std::make_shared<SessionState>();
          out->state = e.state;
          out->tokens = e.tokens;
          out->pending_token = s.next_token;
          s.result.session_state = std::move(out);
        }
        if (keep_prefix && keep_session) {
          StateCache::Entry copy = e;
          cache_.PutPrefix(std::move(copy));
        } else if (keep_prefix) {
          cache_.PutPrefix(std::move(e));
        }
        if (keep_session) {
          e.pending_token = s.next_token;
          cache_.PutSession(
              s.req.keep_session_as.empty() ? s.req.session_id : s.req.keep_session_as,
              std::move(e));
        }
      }
    }
    pool_->Release(s.slot);
    s.slot = -1;
    running_.fetch_sub(1);
    if (options_.max_slots_per_tenant > 0) --tenant_running_[s.req.tenant];
  }
  if (s.swapped) {
    swap_used_ -= pool_->bytes_per_slot();
    --swapped_;
    s.swapped.reset();
  }
  metrics_->ObserveEndToEnd(s.result.total_seconds, reason);
  ++finished_;
  s.sink->OnFinish(s.result);
  // Drop it from whichever list holds it.
  for (auto* list : {&running_seqs_}) {
    for (size_t i = 0; i < list->size(); ++i) {
      if ((*list)[i].get() == &s) {
        list->erase(list->begin() + static_cast<ptrdiff_t>(i));
        return;
      }
    }
  }
  for (size_t i = 0; i < waiting_.size(); ++i) {
    if (waiting_[i].get() == &s) {
      waiting_.erase(waiting_.begin() + static_cast<ptrdiff_t>(i));
      return;
    }
  }
}

void Scheduler::PublishGauges() {
  Gauges g;
  g.running = static_cast<int64_t>(running_seqs_.size());
  g.waiting = static_cast<int64_t>(waiting_.size());
  g.slots_total = pool_->n_slots();
  g.slots_used = pool_->n_slots() - pool_->n_free();
  g.slot_bytes = pool_->bytes_per_slot();
  g.swapped = swapped_;
  g.swap_bytes = swap_used_;
  g.swap_capacity_bytes = options_.swap_bytes;
  g.cache_entries = cache_.entries();
  g.cache_bytes = cache_.bytes();
  g.cache_capacity_bytes = cache_.capacity_bytes();
  const int64_t rejected = rejected_.load();
  if (rejected != rejected_reported_) {
    metrics_->AddRejected(rejected - rejected_reported_);
    rejected_reported_ = rejected;
  }
  metrics_->SetGauges(g);
  std::lock_guard<std::mutex> lock(mu_);
  stats_.gauges = g;
  stats_.steps = steps_;
  stats_.finished = finished_;
  idle_ = waiting_.empty() && running_seqs_.empty() && inbox_.empty();
  if (idle_) idle_cv_.notify_all();
}

}  // namespace rs::scheduler
