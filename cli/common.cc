#include "cli/common.h"

#include <cstdio>
#include <algorithm>
#include <filesystem>

#include "engine/models/random_model.h"

namespace rs::cli {

namespace fs = std::filesystem;

int Fail(const std::string& cmd, const Status& status) {
  std::fprintf(stderr, "recurrent %s: %s\n", cmd.c_str(), status.message().c_str());
  return 1;
}

StatusOr<std::string> ResolveModelPath(const Flags& flags) {
  if (flags.Has("model")) return flags.Get("model");
  RS_ASSIGN_OR_RETURN(std::string dir, engine::EnsureDefaultModel());
  std::fprintf(stderr,
               "recurrent: no --model given: using the embedded default model (%s).\n"
               "recurrent: its weights are RANDOM, so the text it generates is noise. For real text,\n"
               "recurrent: pass --model PATH to a checkpoint folder, e.g. state-spaces/mamba-130m-hf\n"
               "recurrent: downloaded on a machine with internet.\n",
               dir.c_str());
  return dir;
}

StatusOr<std::unique_ptr<engine::Model>> LoadModelFromFlags(const Flags& flags, const std::string& path) {
  engine::LoadOptions opts;
  RS_ASSIGN_OR_RETURN(int64_t threads, flags.GetInt("threads", 0));
  if (threads < 0 || threads > 1024) return InvalidArgumentError("--threads must be in [0, 1024]");
  opts.n_threads = static_cast<int>(threads);
  RS_ASSIGN_OR_RETURN(opts.device, engine::ParseDevice(flags.Get("device", "auto")));
  // Commands that declare --mamba2-ssd-min-tokens (bench, serve).
  RS_ASSIGN_OR_RETURN(opts.mamba2_ssd_min_tokens, flags.GetInt("mamba2-ssd-min-tokens", -1));
  if (opts.mamba2_ssd_min_tokens < -1 || opts.mamba2_ssd_min_tokens > (1 << 20)) {
    return InvalidArgumentError("--mamba2-ssd-min-tokens must be in [0, 1048576]");
  }
  return engine::LoadModel(path, opts);
}

StatusOr<std::unique_ptr<engine::Tokenizer>> ResolveTokenizer(const Flags& flags,
                                                              const std::string& model_path,
                                                              int64_t vocab_size) {
  if (flags.Has("tokenizer")) return engine::LoadTokenizer(flags.Get("tokenizer"));
  std::error_code ec;
  fs::path dir = fs::is_directory(model_path, ec) ? fs::path(model_path) : fs::path(model_path).parent_path();
  if (dir.empty()) dir = ".";
  // tokenizer.json, else an RWKV world vocabulary (rwkv_vocab_v20230424.txt or another
  // rwkv_vocab_*.txt) beside the model.
  const std::string found = engine::FindTokenizerFile(dir.string());
  if (!found.empty()) return engine::LoadTokenizer(found);
  if (vocab_size == 256) return engine::NewByteTokenizer();
  return std::unique_ptr<engine::Tokenizer>();
}

StatusOr<std::vector<int32_t>> InputTokens(const Flags& flags, const engine::Tokenizer* tok) {
  if (flags.Has("tokens") == flags.Has("prompt")) {
    return InvalidArgumentError("give exactly one of --prompt TEXT or --tokens 1,2,3");
  }
  if (flags.Has("tokens")) return ParseIntList(flags.Get("tokens"));
  if (tok == nullptr) {
    return InvalidArgumentError(
        "the model has no tokenizer (no tokenizer.json or rwkv_vocab_v20230424.txt beside it): "
        "pass --tokenizer FILE or --tokens");
  }
  RS_ASSIGN_OR_RETURN(std::vector<int32_t> ids, tok->Encode(flags.Get("prompt")));
  if (ids.empty()) return InvalidArgumentError("the prompt is empty");
  return ids;
}

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const double pos = p * static_cast<double>(v.size() - 1);
  const size_t i = static_cast<size_t>(pos);
  const double f = pos - static_cast<double>(i);
  return i + 1 < v.size() ? v[i] * (1 - f) + v[i + 1] * f : v[i];
}

StatusOr<Range> ParseRange(const std::string& s, const char* what, int64_t max) {
  Range r;
  try {
    const size_t dash = s.find('-');
    r.lo = std::stoll(s.substr(0, dash));
    r.hi = dash == std::string::npos ? r.lo : std::stoll(s.substr(dash + 1));
  } catch (...) {
    return InvalidArgumentError(std::string(what) + " must be N or A-B, got '" + s + "'");
  }
  if (r.lo < 1 || r.hi < r.lo || r.hi > max) {
    std::string message = what;
    message += " must be N or A-B with 1 <= A <= B <= ";
    message += std::to_string(max);
    message += ", got '";
    message += s;
    message += "'";
    return InvalidArgumentError(std::move(message));
  }
  return r;
}

Status Prefill(engine::Model& model, engine::StatePool& pool, int slot, const std::vector<int32_t>& tokens,
               bool all_positions, engine::Logits* out, size_t chunk) {
  if (tokens.empty()) return InvalidArgumentError("no input tokens");
  engine::Logits part;
  out->data.clear();
  out->row_offset = {0};
  for (size_t pos = 0; pos < tokens.size(); pos += chunk) {
    const size_t n = std::min(chunk, tokens.size() - pos);
    engine::Batch batch;
    batch.seqs.push_back({slot, std::span<const int32_t>(tokens.data() + pos, n), all_positions});
    RS_RETURN_IF_ERROR(model.Forward(batch, pool, &part));
    out->vocab_size = part.vocab_size;
    if (all_positions) {
      out->data.insert(out->data.end(), part.data.begin(), part.data.end());
    } else if (pos + n == tokens.size()) {
      out->data = part.data;
    }
  }
  return OkStatus();
}

}  // namespace rs::cli
