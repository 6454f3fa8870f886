// Pieces shared by the `recurrent` subcommands: model and tokenizer
// resolution, input parsing, error reporting.
#pragma once

#include <memory>
#include <random>
#include <string>
#include <vector>

#include "cli/flags.h"
#include "engine/model.h"
#include "engine/tokenizer/tokenizer.h"

namespace rs::cli {

// Prints "recurrent <cmd>: <message>" on stderr; returns the exit code 1.
int Fail(const std::string& cmd, const Status& status);

// The model folder/file from --model, or the embedded default model (written
// on first use) with a notice on stderr that its text is noise.
StatusOr<std::string> ResolveModelPath(const Flags& flags);

StatusOr<std::unique_ptr<engine::Model>> LoadModelFromFlags(const Flags& flags, const std::string& path);

// The tokenizer: --tokenizer FILE, else tokenizer.json beside the model,
// else the byte tokenizer for a 256-token vocabulary, else null (the model
// works with token ids only).
StatusOr<std::unique_ptr<engine::Tokenizer>> ResolveTokenizer(const Flags& flags,
                                                              const std::string& model_path,
                                                              int64_t vocab_size);

// Input ids from --tokens 1,2,3 or --prompt TEXT (needs a tokenizer).
StatusOr<std::vector<int32_t>> InputTokens(const Flags& flags, const engine::Tokenizer* tok);

// The p-quantile (0..1) of v, interpolated linearly between order
// statistics; 0 for an empty v.
double Percentile(std::vector<double> v, double p);

// A length drawn uniformly from [lo, hi] (bench --serving, loadtest).
struct Range {
  int64_t lo = 1, hi = 1;
  int64_t Draw(std::mt19937_64& rng) const {
    return lo + static_cast<int64_t>(rng() % static_cast<uint64_t>(hi - lo + 1));
  }
};
// "N" or "A-B" with 1 <= A <= B <= max; INVALID_ARGUMENT names the flag `what`.
StatusOr<Range> ParseRange(const std::string& s, const char* what, int64_t max);

// Runs the prompt through a fresh slot in chunks of at most `chunk` tokens;
// returns the logits of the last position (or of all positions).
Status Prefill(engine::Model& model, engine::StatePool& pool, int slot,
               const std::vector<int32_t>& tokens, bool all_positions, engine::Logits* out,
               size_t chunk = 512);

}  // namespace rs::cli
