// The models one server serves: each with its tokenizer, its own state pool
// and scheduler (engine thread), its limits and its metrics.
//
// The first model added is the default (an empty `model` in a request).
// Models are added while the server starts (it already answers health checks
// as NOT_SERVING) and live until StopAll at shutdown.
//
// Thread-safety: Add, Find, List and StopAll are thread-safe; a ServedModel
// stays valid (and its members immutable) until the registry is destroyed.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "engine/model.h"
#include "engine/tokenizer/tokenizer.h"
#include "scheduler/scheduler.h"
#include "service/request_validation.h"

namespace rs::service {

class ServiceMetrics;

struct ServedModel {
  std::string name;
  std::unique_ptr<engine::Model> model;
  std::unique_ptr<engine::Tokenizer> tokenizer;  // may be null: token ids only
  scheduler::Options options;
  ValidationContext validation;  // vocab, tokenizer, EOS ids, limits
  std::unique_ptr<scheduler::Scheduler> scheduler;
};

struct ModelLimits {
  int32_t max_tokens_limit = 4096;    // largest max_tokens a request may ask for
  int64_t max_prompt_tokens = 65536;  // longest prompt (tokens)
};

class ModelRegistry {
 public:
  // `metrics` may be null (no metrics) and must outlive the registry.
  explicit ModelRegistry(ServiceMetrics* metrics) : metrics_(metrics) {}
  ~ModelRegistry();  // StopAll()

  // Starts a scheduler for `model`. Errors: ALREADY_EXISTS for a taken name,
  // INVALID_ARGUMENT for an empty name, bad options or limits.
  Status Add(const std::string& name, std::unique_ptr<engine::Model> model,
             std::unique_ptr<engine::Tokenizer> tokenizer, const scheduler::Options& options,
             const ModelLimits& limits);

  // The model called `name` (empty: the default). NOT_FOUND otherwise.
  StatusOr<ServedModel*> Find(const std::string& name) const;
  std::vector<ServedModel*> List() const;
  std::string default_name() const;

  // Stops every scheduler (cancelling what runs). Idempotent.
  void StopAll();

 private:
  ServiceMetrics* metrics_;
  mutable std::mutex mu_;
  std::vector<std::unique_ptr<ServedModel>> models_;
};

}  // namespace rs::service
