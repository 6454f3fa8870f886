// recurrent tokenize --tokenizer FILE (--text TEXT | --text-file F | --decode 1,2,3)
// Prints {"ids":[...]} or, with --decode, {"text":"..."}.
#include <cstdio>
#include <fstream>
#include <sstream>

#include "cli/commands.h"
#include "cli/common.h"
#include "engine/util/json.h"

namespace rs::cli {

int RunTokenize(int argc, char** argv) {
  Flags flags({"tokenizer", "text", "text-file", "decode"}, {});
  if (Status s = flags.Parse(argc, argv, 2); !s.ok()) return Fail("tokenize", s);
  if (!flags.Has("tokenizer")) return Fail("tokenize", InvalidArgumentError("--tokenizer FILE is required"));
  auto tok = engine::LoadTokenizer(flags.Get("tokenizer"));
  if (!tok.ok()) return Fail("tokenize", tok.status());
  const int inputs = flags.Has("text") + flags.Has("text-file") + flags.Has("decode");
  if (inputs != 1) {
    return Fail("tokenize", InvalidArgumentError("give exactly one of --text, --text-file or --decode"));
  }
  std::string out;
  if (flags.Has("decode")) {
    auto ids = ParseIntList(flags.Get("decode"));
    if (!ids.ok()) return Fail("tokenize", ids.status());
    for (int32_t id : *ids) {
      if (id < 0 || id >= (*tok)->vocab_size()) {
        return Fail("tokenize", InvalidArgumentError("token id " + std::to_string(id) + " is out of range [0, " +
                                                     std::to_string((*tok)->vocab_size()) + ")"));
      }
    }
    out = "{\"text\":" + json::Quote((*tok)->Decode(*ids)) + "}\n";
  } else {
    std::string text = flags.Get("text");
    if (flags.Has("text-file")) {
      std::ifstream in(flags.Get("text-file"), std::ios::binary);
      if (!in) return Fail("tokenize", NotFoundError("cannot open " + flags.Get("text-file")));
      std::stringstream ss;
      ss << in.rdbuf();
      text = ss.str();
    }
    auto ids = (*tok)->Encode(text);
    if (!ids.ok()) return Fail("tokenize", ids.status());
    out = "{\"ids\":[";
    for (size_t i = 0; i < ids->size(); ++i) {
      if (i) out += ',';
      out += std::to_string((*ids)[i]);
    }
    out += "]}\n";
  }
  std::fwrite(out.data(), 1, out.size(), stdout);
  return 0;
}

}  // namespace rs::cli
