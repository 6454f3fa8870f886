// SchedulerTurnModel: TurnModel over a served model's scheduler and
// tokenizer (issue #6). Generations are ordinary scheduler requests (batched
// with everything else the model serves); conversation states are scheduler
// sessions, kept under TurnRunner's per-turn keys and exported/imported as
// store snapshots; embeddings are the scheduler's embed requests.
//
// Thread-safety: every method is thread-safe and blocks its caller until the
// scheduler is done (callers are the sessions service's worker threads).
#pragma once

#include "service/model_registry.h"
#include "sessions/core/turn_model.h"

namespace rs::sessions {

class SchedulerTurnModel final : public TurnModel {
 public:
  // `served` must have a tokenizer and outlive this object.
  explicit SchedulerTurnModel(service::ServedModel* served) : served_(served) {}

  std::string arch() const override;
  std::string fingerprint() const override;
  StatusOr<GenerateOutput> Generate(const GenerateSpec& spec,
                                    const std::function<void(std::string_view)>& on_text) override;
  StatusOr<std::vector<float>> Embed(std::string_view text) override;
  StatusOr<int64_t> CountTokens(std::string_view text) override;
  StatusOr<std::string> TruncateToTokens(std::string_view text, int64_t max_tokens) override;

 private:
  service::ServedModel* served_;
};

}  // namespace rs::sessions
