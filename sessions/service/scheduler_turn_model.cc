#include "sessions/service/scheduler_turn_model.h"

#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <utility>

#include "engine/util/utf8.h"
#include "scheduler/scheduler.h"

namespace rs::sessions {
namespace {

// Collects one request's output and lets the caller wait for it.
class WaitingSink final : public scheduler::Sink {
 public:
  explicit WaitingSink(const std::function<void(std::string_view)>* on_text) : on_text_(on_text) {}
  void OnChunk(const scheduler::TokenChunk& chunk) override {
    if (on_text_ != nullptr && *on_text_ && !chunk.text.empty()) (*on_text_)(chunk.text);
  }
  void OnFinish(const scheduler::Result& result) override {
    std::lock_guard<std::mutex> l(mu_);
    result_ = result;
    cv_.notify_all();
  }
  scheduler::Result Wait() {
    std::unique_lock<std::mutex> l(mu_);
    cv_.wait(l, [&] { return result_.has_value(); });
    return std::move(*result_);
  }

 private:
  const std::function<void(std::string_view)>* on_text_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::optional<scheduler::Result> result_;
};

Status FinishStatus(const scheduler::Result& r) {
  switch (r.finish_reason) {
    case engine::FinishReason::kStop:
    case engine::FinishReason::kLength:
      return OkStatus();
    case engine::FinishReason::kDeadline:
      return DeadlineExceededError("the generation's deadline passed");
    case engine::FinishReason::kCancelled:
      return CancelledError("the generation was cancelled");
    case engine::FinishReason::kError:
      break;
  }
  return r.error.ok() ? InternalError("the generation failed") : r.error;
}

StatusOr<scheduler::Result> RunRequest(scheduler::Scheduler* s, scheduler::Request request,
                                       const std::function<void(std::string_view)>* on_text) {
  auto sink = std::make_shared<WaitingSink>(on_text);
  RS_RETURN_IF_ERROR(s->Submit(std::move(request), sink).status());
  scheduler::Result r = sink->Wait();
  RS_RETURN_IF_ERROR(FinishStatus(r));
  return r;
}

}  // namespace

std::string SchedulerTurnModel::arch() const { return engine::ArchName(served_->model->spec().arch); }

std::string SchedulerTurnModel::fingerprint() const { return served_->model->spec().fingerprint; }

StatusOr<GenerateOutput> SchedulerTurnModel::Generate(const GenerateSpec& spec,
                                                      const std::function<void(std::string_view)>& on_text) {
  const engine::Tokenizer& tok = *served_->tokenizer;
  scheduler::Request r;
  RS_ASSIGN_OR_RETURN(r.prompt, tok.Encode(spec.prompt));
  if (static_cast<int64_t>(r.prompt.size()) > served_->validation.max_prompt_tokens) {
    return InvalidArgumentError("the turn's prompt of " + std::to_string(r.prompt.size()) +
                                " tokens is over the model's limit of " +
                                std::to_string(served_->validation.max_prompt_tokens));
  }
  r.params.temperature = spec.temperature;
  r.params.top_p = spec.top_p;
  r.params.seed = spec.seed;
  r.params.max_tokens = spec.max_tokens;
  r.stop.stop_strings = spec.stops;
  r.stop.eos_token_ids = served_->validation.eos_ids;
  if (!spec.state_key.empty()) {
    r.session_id = spec.state_key;
    r.keep_session_as = spec.keep_key;
    r.session_mode = spec.fresh ? scheduler::Request::SessionMode::kStart
                                : scheduler::Request::SessionMode::kContinueOrStart;
    r.use_prefix_cache = false;
    r.return_session_state = true;
    if (spec.restore.has_value() && !spec.fresh) {
      RS_ASSIGN_OR_RETURN(scheduler::SessionState restore, scheduler::SessionState::Parse(spec.restore->state));
      r.restore_session = std::make_shared<const scheduler::SessionState>(std::move(restore));
    }
  }
  RS_ASSIGN_OR_RETURN(scheduler::Result result, RunRequest(served_->scheduler.get(), std::move(r), &on_text));
  GenerateOutput out;
  out.text = std::move(result.text);
  out.finish_reason = engine::FinishReasonName(result.finish_reason);
  out.prompt_tokens = result.prompt_tokens - result.cached_tokens;  // usage counts the history too
  out.generated_tokens = result.generated_tokens;
  out.ttft_seconds = result.ttft_seconds;
  out.total_seconds = result.total_seconds;
  const std::string all = tok.Decode(result.tokens);
  if (all.size() >= out.text.size() && all.compare(0, out.text.size(), out.text) == 0) {
    out.tail = all.substr(out.text.size());
  }
  if (result.finish_reason == engine::FinishReason::kStop) {
    for (const std::string& s : spec.stops) {
      if (out.tail.compare(0, s.size(), s) == 0) out.stopped_by_string = true;
    }
  }
  if (result.session_state != nullptr) {
    Snapshot snap;
    snap.model_fingerprint = result.session_state->state.model_fingerprint;
    snap.state = result.session_state->Serialize();
    snap.consumed_tokens = static_cast<int64_t>(result.session_state->tokens.size());
    snap.pending_token = result.session_state->pending_token;
    snap.checksum = SnapshotChecksum(snap.state);
    out.snapshot = std::move(snap);
  }
  return out;
}

StatusOr<std::vector<float>> SchedulerTurnModel::Embed(std::string_view text) {
  scheduler::Request r;
  RS_ASSIGN_OR_RETURN(r.prompt, served_->tokenizer->Encode(text));
  if (r.prompt.empty()) return InvalidArgumentError("cannot embed an empty text");
  if (static_cast<int64_t>(r.prompt.size()) > served_->validation.max_prompt_tokens) {
    r.prompt.resize(static_cast<size_t>(served_->validation.max_prompt_tokens));
  }
  r.embed = true;
  r.use_prefix_cache = false;
  RS_ASSIGN_OR_RETURN(scheduler::Result result, RunRequest(served_->scheduler.get(), std::move(r), nullptr));
  return std::move(result.embedding);
}

StatusOr<int64_t> SchedulerTurnModel::CountTokens(std::string_view text) {
  RS_ASSIGN_OR_RETURN(std::vector<int32_t> ids, served_->tokenizer->Encode(text));
  return static_cast<int64_t>(ids.size());
}

StatusOr<std::string> SchedulerTurnModel::TruncateToTokens(std::string_view text, int64_t max_tokens) {
  RS_ASSIGN_OR_RETURN(std::vector<int32_t> ids, served_->tokenizer->Encode(text));
  if (static_cast<int64_t>(ids.size()) <= max_tokens) return std::string(text);
  ids.resize(static_cast<size_t>(std::max<int64_t>(0, max_tokens)));
  std::string cut = served_->tokenizer->Decode(ids);
  cut.resize(utf8::CompletePrefixLength(cut));
  return cut;
}

}  // namespace rs::sessions
