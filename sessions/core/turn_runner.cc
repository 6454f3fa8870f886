#include "sessions/core/turn_runner.h"

#include <chrono>
#include <utility>

#include "engine/util/hash.h"
#include "sessions/core/prompts.h"
#include "sessions/core/retrieval.h"

namespace rs::sessions {
namespace {

// Keeps the pending turn honest: every early return after BeginTurn fails it.
class PendingTurn {
 public:
  PendingTurn(SessionStore* store, const TurnRequest& r, int64_t index, std::string owner)
      : store_(store), request_(r), index_(index), owner_(std::move(owner)) {}
  ~PendingTurn() {
    if (!done_) (void)store_->FailTurn(request_.tenant, request_.session_id, index_, "abandoned", owner_);
  }
  Status Fail(Status error) {
    done_ = true;
    (void)store_->FailTurn(request_.tenant, request_.session_id, index_, error.message(), owner_);
    return error;
  }
  void Committed() { done_ = true; }

 private:
  SessionStore* store_;
  const TurnRequest& request_;
  int64_t index_;
  std::string owner_;
  bool done_ = false;
};

// Seconds since the previous call (or construction).
class Lap {
 public:
  double operator()() {
    const auto now = std::chrono::steady_clock::now();
    const double s = std::chrono::duration<double>(now - last_).count();
    last_ = now;
    return s;
  }

 private:
  std::chrono::steady_clock::time_point last_ = std::chrono::steady_clock::now();
};

ChatTemplate TemplateOf(const SessionRecord& session, const TurnModel& model) {
  const std::string name =
      session.memory.chat_template.empty() ? DefaultTemplate(model.arch()) : session.memory.chat_template;
  StatusOr<ChatTemplate> t = FindTemplate(name);
  return t.ok() ? *t : *FindTemplate(DefaultTemplate(model.arch()));
}

}  // namespace

TurnRunner::TurnRunner(SessionStore* store, TurnModel* model, TurnOptions options, Embedder* embedder)
    : store_(store), model_(model), options_(std::move(options)), embedder_(embedder ? embedder : model) {}

std::string TurnRunner::StateKey(const std::string& session_id, int64_t turn) {
  return "session:" + session_id + "@" + std::to_string(turn);
}

uint64_t TurnRunner::Seed(const SessionRecord& session, int64_t turn, int salt) const {
  const std::string key = session.id + "#" + std::to_string(turn) + "#" + std::to_string(salt);
  return Hash64(key.data(), key.size(), 0x5e551045u);
}

StatusOr<std::string> TurnRunner::ResolveInput(const TurnRequest& request, const SessionRecord& session) {
  RS_RETURN_IF_ERROR(CheckUserText(request.message, options_.max_message_bytes, "message"));
  if (session.mode == SessionMode::kChat) {
    if (request.plan_index.has_value()) return InvalidArgumentError("plan_index is for STORY sessions");
    if (Trim(request.message).empty()) return InvalidArgumentError("message is empty");
    return request.message;
  }
  if (!request.plan_index.has_value()) {
    if (Trim(request.message).empty()) {
      return InvalidArgumentError("a STORY turn needs a plan: plan_index or a message with the plan");
    }
    return request.message;
  }
  if (!request.message.empty()) return InvalidArgumentError("give plan_index or a message, not both");
  if (session.turns == 0) return InvalidArgumentError("plan_index: there are no plans before the first turn");
  RS_ASSIGN_OR_RETURN(std::vector<TurnRecord> last,
                      store_->ListTurns(request.tenant, request.session_id, session.turns, session.turns));
  const int32_t i = *request.plan_index;
  if (last.empty() || i < 0 || static_cast<size_t>(i) >= last.back().plans.size()) {
    return InvalidArgumentError("plan_index " + std::to_string(i) + " is out of range (the last turn has " +
                                std::to_string(last.empty() ? 0 : last.back().plans.size()) + " plans)");
  }
  return last.back().plans[static_cast<size_t>(i)];
}

Status TurnRunner::Retrieve(const TurnRequest& request, const SessionRecord& session, const std::string& input,
                            TurnOutcome* outcome) {
  if (session.memory.retrieval_k <= 0) return OkStatus();
  RS_ASSIGN_OR_RETURN(std::vector<MemoryItem> items, store_->ListMemory(request.tenant, request.session_id));
  if (items.empty()) return OkStatus();
  RS_ASSIGN_OR_RETURN(std::vector<float> query, embedder_->Embed(input));
  for (const Scored& s : TopK(query, items, session.memory.retrieval_k)) {
    outcome->retrieved.push_back({s.item->id, s.score, s.item->text});
  }
  return OkStatus();
}

StatusOr<GenerateOutput> TurnRunner::Reply(const SessionRecord& session, const std::string& input,
                                           const TurnOutcome& outcome,
                                           const std::function<void(std::string_view)>& on_text,
                                           bool* rebuilt) {
  const ChatTemplate t = TemplateOf(session, *model_);
  TurnContext c;
  c.system_prompt = session.system_prompt;
  c.short_term = session.short_term;
  c.input = input;
  for (const RetrievedMemory& m : outcome.retrieved) c.retrieved.push_back({m.id, m.text});
  Exchange last;
  if (session.turns > 0) {
    RS_ASSIGN_OR_RETURN(std::vector<TurnRecord> prev,
                        store_->ListTurns(session.tenant, session.id, session.turns, session.turns));
    if (!prev.empty()) {
      last = {prev.back().input, prev.back().reply};
      c.last = &last;
    }
  }
  GenerateSpec spec;
  spec.state_key = StateKey(session.id, session.turns);
  spec.keep_key = StateKey(session.id, session.turns + 1);
  spec.temperature = session.temperature;
  spec.top_p = session.top_p;
  spec.max_tokens = session.max_reply_tokens;
  spec.seed = Seed(session, session.turns + 1, 0);
  const bool story = session.mode == SessionMode::kStory;
  spec.stops = story ? std::vector<std::string>{"\n\n", "\nPlan:"} : t.reply_stops;

  // Continue from the snapshot of the previous turn when there is a usable one.
  std::optional<Snapshot> snapshot;
  if (session.turns > 0) {
    StatusOr<Snapshot> s = store_->GetSnapshot(session.tenant, session.id);
    if (s.ok() && s->turn == session.turns && s->model_fingerprint == model_->fingerprint()) {
      snapshot = std::move(*s);
    } else if (!s.ok() && s.status().code() != StatusCode::kNotFound &&
               s.status().code() != StatusCode::kDataLoss) {
      return s.status();  // the store failed: no guessing
    }
  }
  if (snapshot.has_value()) {
    // The text that should follow the previous reply; the state may already
    // hold its beginning (the stop string the model started the turn with).
    const std::string next = story ? "\n\n" + StoryContinuePrompt(c) : AfterReply(t) + ChatContinuePrompt(t, c);
    spec.prompt = next.compare(0, snapshot->tail.size(), snapshot->tail) == 0 ? next.substr(snapshot->tail.size())
                                                                                : next;
    if (spec.prompt.empty()) spec.prompt = next;
    spec.restore = std::move(snapshot);
    StatusOr<GenerateOutput> out = model_->Generate(spec, on_text);
    if (out.ok() || (out.status().code() != StatusCode::kFailedPrecondition &&
                     out.status().code() != StatusCode::kDataLoss)) {
      *rebuilt = false;
      return out;
    }
    // The snapshot did not fit the model after all, or its bytes were bad:
    // rebuild from text.
  }
  *rebuilt = session.turns > 0;
  spec.restore.reset();
  spec.fresh = true;
  spec.prompt = story ? StoryRebuildPrompt(c) : ChatRebuildPrompt(t, c);
  return model_->Generate(spec, on_text);
}

void TurnRunner::UpdateMemory(const SessionRecord& session, const std::string& input, const std::string& reply,
                              std::string* short_term, TurnOutcome* outcome) {
  const int budget = session.memory.short_term_budget_tokens;
  GenerateSpec spec;
  spec.prompt = MemoryUpdatePrompt(session.short_term, Exchange{input, reply}, budget);
  spec.stops = {std::string(kSectionEnd)};
  spec.max_tokens = budget + 8;
  spec.temperature = session.temperature;
  spec.top_p = session.top_p;
  *short_term = session.short_term;  // the fallback
  outcome->memory_fallback = true;
  for (int attempt = 1; attempt <= options_.max_attempts; ++attempt) {
    outcome->memory_attempts = attempt;
    spec.seed = Seed(session, session.turns + 1, 100 + attempt);
    StatusOr<GenerateOutput> out = model_->Generate(spec, nullptr);
    if (!out.ok()) continue;
    StatusOr<std::string> summary = ParseSummary({CleanGenerated(out->text), out->stopped_by_string});
    if (!summary.ok()) continue;
    StatusOr<int64_t> n = model_->CountTokens(*summary);
    if (!n.ok()) continue;
    if (*n > budget) {
      StatusOr<std::string> cut = model_->TruncateToTokens(*summary, budget);
      if (!cut.ok()) continue;
      *summary = std::move(*cut);
    }
    *short_term = std::move(*summary);
    outcome->memory_fallback = false;
    return;
  }
}

void TurnRunner::MakePlans(const SessionRecord& session, const std::string& short_term, const std::string& reply,
                           std::vector<std::string>* plans, TurnOutcome* outcome) {
  GenerateSpec spec;
  spec.prompt = PlansPrompt(session.system_prompt, short_term, reply);
  spec.stops = {std::string(kSectionEnd)};
  spec.max_tokens = options_.plan_max_tokens;
  spec.temperature = session.temperature;
  spec.top_p = session.top_p;
  for (int attempt = 1; attempt <= options_.max_attempts; ++attempt) {
    outcome->plan_attempts = attempt;
    spec.seed = Seed(session, session.turns + 1, 200 + attempt);
    StatusOr<GenerateOutput> out = model_->Generate(spec, nullptr);
    if (!out.ok()) continue;
    StatusOr<std::vector<std::string>> parsed = ParsePlans({CleanGenerated(out->text), out->stopped_by_string});
    if (!parsed.ok()) continue;
    *plans = std::move(*parsed);
    outcome->plans_fallback = false;
    return;
  }
  *plans = {std::string(kFallbackPlan)};
  outcome->plans_fallback = true;
}

StatusOr<TurnOutcome> TurnRunner::Run(const TurnRequest& request,
                                      const std::function<void(std::string_view)>& on_text) {
  Lap lap;
  RS_ASSIGN_OR_RETURN(SessionRecord session, store_->GetSession(request.tenant, request.session_id));
  TurnOutcome outcome;
  // A retry of a committed turn replays it, whatever else changed since.
  TurnRecord existing;
  const int64_t expected = request.expected_turn.value_or(session.turns);
  RS_ASSIGN_OR_RETURN(std::string input, ResolveInput(request, session));
  StatusOr<TurnRecord> begun = store_->BeginTurn(request.tenant, request.session_id, expected, request.request_id,
                                                  input, options_.owner, &existing);
  if (!begun.ok()) {
    if (begun.status().code() != StatusCode::kAlreadyExists) return begun.status();
    outcome.record = existing;
    outcome.replayed = true;
    for (const Retrieval& r : existing.retrieved) outcome.retrieved.push_back({r.memory_id, r.score, ""});
    if (on_text) on_text(existing.reply);
    return outcome;
  }
  PendingTurn pending(store_, request, begun->index, options_.owner);
  // The session as of the turn's start (BeginTurn checked expected_turn).
  RS_ASSIGN_OR_RETURN(session, store_->GetSession(request.tenant, request.session_id));
  outcome.phases.begin = lap();

  if (Status s = Retrieve(request, session, input, &outcome); !s.ok()) return pending.Fail(s);
  outcome.phases.retrieval = lap();
  bool rebuilt = false;
  std::function<void(std::string_view)> clean_text;
  if (on_text) clean_text = [&on_text](std::string_view t) { on_text(CleanGenerated(t)); };
  StatusOr<GenerateOutput> reply = Reply(session, input, outcome, clean_text, &rebuilt);
  if (!reply.ok()) return pending.Fail(reply.status());
  outcome.phases.reply = lap();
  outcome.prompt_tokens = reply->prompt_tokens;
  outcome.generated_tokens = reply->generated_tokens;
  outcome.ttft_seconds = reply->ttft_seconds;
  outcome.total_seconds = reply->total_seconds;

  TurnCommit commit;
  commit.reply = Trim(CleanGenerated(reply->text));
  commit.rebuilt_from_text = rebuilt;
  for (const RetrievedMemory& m : outcome.retrieved) commit.retrieved.push_back({m.id, m.score});
  UpdateMemory(session, input, commit.reply, &commit.short_term_after, &outcome);
  outcome.phases.memory = lap();
  if (session.mode == SessionMode::kStory) {
    MakePlans(session, commit.short_term_after, commit.reply, &commit.plans, &outcome);
  }
  outcome.phases.plans = lap();
  MemoryItem item;
  item.text = ExchangeMemoryText({input, commit.reply}, options_.memory_item_max_bytes);
  StatusOr<std::vector<float>> embedding = embedder_->Embed(item.text);
  if (!embedding.ok()) return pending.Fail(embedding.status());
  item.embedding = std::move(*embedding);
  commit.new_items.push_back(std::move(item));
  outcome.phases.embed = lap();
  if (reply->snapshot.has_value()) {
    commit.snapshot = std::move(reply->snapshot);
    commit.snapshot->turn = begun->index;
    commit.snapshot->tail = reply->tail;
  }
  commit.owner = options_.owner;
  StatusOr<TurnRecord> committed = store_->CommitTurn(request.tenant, request.session_id, begun->index, commit);
  if (!committed.ok()) return pending.Fail(committed.status());
  pending.Committed();
  outcome.phases.commit = lap();
  outcome.record = std::move(*committed);
  return outcome;
}

}  // namespace rs::sessions
