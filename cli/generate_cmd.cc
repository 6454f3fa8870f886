// recurrent generate [--model PATH] [--tokenizer FILE] (--prompt TEXT | --tokens 1,2,3)
//   [--max-tokens N] [--temperature T] [--top-k K] [--top-p P] [--min-p P]
//   [--repetition-penalty R] [--presence-penalty P] [--frequency-penalty F]
//   [--seed S] [--stop STR]... [--ignore-eos] [--threads N] [--json]
// Streams the generated text to stdout as it is produced (never half a UTF-8
// character, never any part of a stop string); with --json prints
// {"tokens":[...],"text":"...","finish_reason":"stop|length"} at the end
// instead.
#include <cstdio>

#include "cli/commands.h"
#include "cli/common.h"
#include "engine/sampler/finish_reason.h"
#include "engine/sampler/sampler.h"
#include "engine/sampler/stop.h"
#include "engine/util/json.h"

namespace rs::cli {
namespace {

StatusOr<engine::SamplingParams> ParamsFromFlags(const Flags& flags) {
  engine::SamplingParams p;
  RS_ASSIGN_OR_RETURN(double temperature, flags.GetDouble("temperature", 1.0));
  RS_ASSIGN_OR_RETURN(int64_t top_k, flags.GetInt("top-k", 0));
  RS_ASSIGN_OR_RETURN(double top_p, flags.GetDouble("top-p", 1.0));
  RS_ASSIGN_OR_RETURN(double min_p, flags.GetDouble("min-p", 0.0));
  RS_ASSIGN_OR_RETURN(double rep, flags.GetDouble("repetition-penalty", 1.0));
  RS_ASSIGN_OR_RETURN(double presence, flags.GetDouble("presence-penalty", 0.0));
  RS_ASSIGN_OR_RETURN(double frequency, flags.GetDouble("frequency-penalty", 0.0));
  RS_ASSIGN_OR_RETURN(int64_t seed, flags.GetInt("seed", 0));
  RS_ASSIGN_OR_RETURN(int64_t max_tokens, flags.GetInt("max-tokens", 64));
  if (top_k < 0 || top_k > (1 << 30)) return InvalidArgumentError("--top-k must be in [0, 2^30]");
  if (max_tokens < 1 || max_tokens > (1 << 30)) return InvalidArgumentError("--max-tokens must be in [1, 2^30]");
  p.temperature = static_cast<float>(temperature);
  p.top_k = static_cast<int32_t>(top_k);
  p.top_p = static_cast<float>(top_p);
  p.min_p = static_cast<float>(min_p);
  p.repetition_penalty = static_cast<float>(rep);
  p.presence_penalty = static_cast<float>(presence);
  p.frequency_penalty = static_cast<float>(frequency);
  p.seed = static_cast<uint64_t>(seed);
  p.max_tokens = static_cast<int32_t>(max_tokens);
  return p;
}

}  // namespace

int RunGenerate(int argc, char** argv) {
  Flags flags({"model", "tokenizer", "prompt", "tokens", "max-tokens", "temperature", "top-k", "top-p", "min-p",
               "repetition-penalty", "presence-penalty", "frequency-penalty", "seed", "stop", "threads", "device"},
              {"json", "ignore-eos"});
  if (Status s = flags.Parse(argc, argv, 2); !s.ok()) return Fail("generate", s);
  auto params = ParamsFromFlags(flags);
  if (!params.ok()) return Fail("generate", params.status());
  auto path = ResolveModelPath(flags);
  if (!path.ok()) return Fail("generate", path.status());
  auto model = LoadModelFromFlags(flags, *path);
  if (!model.ok()) return Fail("generate", model.status());
  const int64_t V = (*model)->spec().vocab_size;
  if (Status s = params->Validate(V); !s.ok()) return Fail("generate", s);
  auto tok = ResolveTokenizer(flags, *path, V);
  if (!tok.ok()) return Fail("generate", tok.status());
  engine::Tokenizer* tokenizer = tok->get();
  auto prompt = InputTokens(flags, tokenizer);
  if (!prompt.ok()) return Fail("generate", prompt.status());

  engine::StopCriteria stop;
  stop.max_tokens = params->max_tokens;
  stop.stop_strings = flags.GetAll("stop");
  stop.ignore_eos = flags.Has("ignore-eos");
  if (tokenizer != nullptr && tokenizer->eos_id()) stop.eos_token_ids.push_back(*tokenizer->eos_id());
  if (Status s = stop.Validate(V); !s.ok()) return Fail("generate", s);
  if (!stop.stop_strings.empty() && tokenizer == nullptr) {
    return Fail("generate", InvalidArgumentError("--stop needs a tokenizer"));
  }

  auto pool = (*model)->NewStatePool(1);
  const int slot = pool->Acquire().value();
  engine::Logits logits;
  if (Status s = Prefill(**model, *pool, slot, *prompt, false, &logits); !s.ok()) return Fail("generate", s);

  const bool as_json = flags.Has("json");
  engine::TokenHistory history;
  history.AddPrompt(*prompt);
  engine::SamplerScratch scratch;
  std::optional<engine::StreamDecoder> decoder;
  if (tokenizer != nullptr) decoder.emplace(tokenizer);
  engine::StopMatcher matcher(stop.stop_strings);
  std::vector<int32_t> generated;
  std::string text;
  engine::FinishReason finish = engine::FinishReason::kLength;
  auto emit = [&](const std::string& piece) {
    text += piece;
    if (!as_json && !piece.empty()) {
      std::fwrite(piece.data(), 1, piece.size(), stdout);
      std::fflush(stdout);
    }
  };

  for (int64_t n = 0;; ++n) {
    engine::SampleResult r =
        engine::Sampler::Sample(std::span<const float>(logits.Row(0), static_cast<size_t>(V)), *params, history,
                                static_cast<uint64_t>(n), &scratch);
    if (r.token < 0) return Fail("generate", InternalError("no token has a non-zero probability"));
    generated.push_back(r.token);
    history.Add(r.token, /*is_prompt=*/false);
    const bool stop_token = stop.IsStopToken(r.token);
    if (!stop_token) {
      if (decoder) {
        engine::StopMatcher::Result m = matcher.Feed(decoder->Push(r.token));
        emit(m.emit);
        if (m.stopped) {
          finish = engine::FinishReason::kStop;
          break;
        }
      } else if (!as_json) {
        std::printf("%d ", r.token);
        std::fflush(stdout);
      }
    }
    if (auto f = stop.CheckToken(r.token, n + 1)) {
      finish = *f;
      break;
    }
    engine::Batch step;
    step.seqs.push_back({slot, std::span<const int32_t>(&generated.back(), 1), false});
    if (Status s = (*model)->Forward(step, *pool, &logits); !s.ok()) return Fail("generate", s);
  }
  if (decoder && !matcher.stopped()) {
    engine::StopMatcher::Result m = matcher.Feed(decoder->Flush());
    emit(m.emit);
    if (m.stopped) finish = engine::FinishReason::kStop;
    emit(matcher.Flush());
  }

  if (as_json) {
    std::string out = "{\"tokens\":[";
    for (size_t i = 0; i < generated.size(); ++i) {
      if (i) out += ',';
      out += std::to_string(generated[i]);
    }
    out += "],\"text\":" + json::Quote(text) + ",\"finish_reason\":\"" + engine::FinishReasonName(finish) + "\"}\n";
    std::fwrite(out.data(), 1, out.size(), stdout);
  } else {
    std::printf("\n");
  }
  return 0;
}

}  // namespace rs::cli
