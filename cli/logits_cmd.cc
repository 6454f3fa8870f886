// recurrent logits --model PATH (--tokens 1,2,3 | --prompt TEXT) [--all-positions]
// Prints {"tokens":[...],"logits":[[...], ...]}: the float32 logits of the
// last position, or one row per input position.
#include <cstdio>

#include "cli/commands.h"
#include "cli/common.h"
#include "engine/util/json.h"

namespace rs::cli {

int RunLogits(int argc, char** argv) {
  Flags flags({"model", "tokenizer", "tokens", "prompt", "threads", "device"}, {"all-positions"});
  if (Status s = flags.Parse(argc, argv, 2); !s.ok()) return Fail("logits", s);
  auto path = ResolveModelPath(flags);
  if (!path.ok()) return Fail("logits", path.status());
  auto model = LoadModelFromFlags(flags, *path);
  if (!model.ok()) return Fail("logits", model.status());
  auto tok = ResolveTokenizer(flags, *path, (*model)->spec().vocab_size);
  if (!tok.ok()) return Fail("logits", tok.status());
  auto tokens = InputTokens(flags, tok->get());
  if (!tokens.ok()) return Fail("logits", tokens.status());

  auto pool = (*model)->NewStatePool(1);
  const int slot = pool->Acquire().value();
  const bool all = flags.Has("all-positions");
  engine::Logits logits;
  if (Status s = Prefill(**model, *pool, slot, *tokens, all, &logits); !s.ok()) return Fail("logits", s);

  std::string out = "{\"tokens\":[";
  for (size_t i = 0; i < tokens->size(); ++i) {
    if (i) out += ',';
    out += std::to_string((*tokens)[i]);
  }
  out += "],\"logits\":[";
  const size_t rows = logits.data.size() / static_cast<size_t>(logits.vocab_size);
  for (size_t r = 0; r < rows; ++r) {
    if (r) out += ',';
    out += '[';
    const float* row = logits.Row(static_cast<int64_t>(r));
    for (int64_t v = 0; v < logits.vocab_size; ++v) {
      if (v) out += ',';
      json::AppendFloat(&out, row[v]);
    }
    out += ']';
  }
  out += "]}\n";
  std::fwrite(out.data(), 1, out.size(), stdout);
  return 0;
}

}  // namespace rs::cli
