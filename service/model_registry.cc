#include "service/model_registry.h"

#include "service/prometheus_metrics.h"

namespace rs::service {

ModelRegistry::~ModelRegistry() { StopAll(); }

Status ModelRegistry::Add(const std::string& name, std::unique_ptr<engine::Model> model,
                          std::unique_ptr<engine::Tokenizer> tokenizer, const scheduler::Options& options,
                          const ModelLimits& limits) {
  if (name.empty() || name.size() > kMaxIdBytes) return InvalidArgumentError("a model name must be 1..256 bytes");
  if (model == nullptr) return InvalidArgumentError("no model");
  if (limits.max_tokens_limit < 1) return InvalidArgumentError("--max-tokens-limit must be >= 1");
  if (limits.max_prompt_tokens < 1 || limits.max_prompt_tokens > options.max_prompt_tokens) {
    return InvalidArgumentError("--max-prompt-tokens must be in [1, " + std::to_string(options.max_prompt_tokens) +
                                "]");
  }
  {
    std::lock_guard<std::mutex> l(mu_);
    for (const auto& m : models_) {
      if (m->name == name) return AlreadyExistsError("two models are named '" + name + "'");
    }
  }
  auto served = std::make_unique<ServedModel>();
  served->name = name;
  served->options = options;
  served->validation.vocab_size = model->spec().vocab_size;
  served->validation.tokenizer = tokenizer.get();
  if (tokenizer != nullptr && tokenizer->eos_id()) served->validation.eos_ids.push_back(*tokenizer->eos_id());
  served->validation.max_tokens_limit = limits.max_tokens_limit;
  served->validation.max_prompt_tokens = limits.max_prompt_tokens;
  std::shared_ptr<scheduler::Metrics> metrics = metrics_ != nullptr ? metrics_->ForModel(name) : nullptr;
  RS_ASSIGN_OR_RETURN(served->scheduler,
                      scheduler::Scheduler::Create(model.get(), tokenizer.get(), options, std::move(metrics)));
  served->model = std::move(model);
  served->tokenizer = std::move(tokenizer);
  std::lock_guard<std::mutex> l(mu_);
  for (const auto& m : models_) {
    if (m->name == name) return AlreadyExistsError("two models are named '" + name + "'");
  }
  models_.push_back(std::move(served));
  return OkStatus();
}

StatusOr<ServedModel*> ModelRegistry::Find(const std::string& name) const {
  std::lock_guard<std::mutex> l(mu_);
  if (models_.empty()) return UnavailableError("no model is loaded yet");
  if (name.empty()) return models_.front().get();
  for (const auto& m : models_) {
    if (m->name == name) return m.get();
  }
  std::string known;
  for (const auto& m : models_) known += (known.empty() ? "" : ", ") + m->name;
  return NotFoundError("unknown model '" + name.substr(0, kMaxIdBytes) + "' (this server has: " + known + ")");
}

std::vector<ServedModel*> ModelRegistry::List() const {
  std::lock_guard<std::mutex> l(mu_);
  std::vector<ServedModel*> out;
  for (const auto& m : models_) out.push_back(m.get());
  return out;
}

std::string ModelRegistry::default_name() const {
  std::lock_guard<std::mutex> l(mu_);
  return models_.empty() ? "" : models_.front()->name;
}

void ModelRegistry::StopAll() {
  for (ServedModel* m : List()) m->scheduler->Stop();
}

}  // namespace rs::service
