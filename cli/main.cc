// recurrent: the command-line interface of recurrent-serve.
#include <cstdio>
#include <cstring>
#include <string>

#include "cli/commands.h"

namespace {

const char kUsage[] =
    "usage: recurrent <command> [flags]\n"
    "\n"
    "commands:\n"
    "  generate   [--model PATH] [--tokenizer FILE] (--prompt TEXT | --tokens 1,2,3)\n"
    "             [--max-tokens N] [--temperature T] [--top-k K] [--top-p P] [--min-p P]\n"
    "             [--repetition-penalty R] [--presence-penalty P] [--frequency-penalty F]\n"
    "             [--seed S] [--stop STR]... [--ignore-eos] [--threads N] [--json]\n"
    "  logits     --model PATH (--tokens 1,2,3 | --prompt TEXT) [--all-positions] [--threads N]\n"
    "  tokenize   --tokenizer FILE (--text TEXT | --text-file F | --decode 1,2,3)\n"
    "  bench      --model PATH --threads N [--prompt-len 512] [--gen 128] [--batch 1,4,16,64]\n"
    "             [--runs 3] [--device cpu|cuda|auto] [--mamba2-ssd-min-tokens N] [--json]\n"
    "  init-random --out DIR [--arch mamba1|mamba2|rwkv7|rwkv6]\n"
    "              [--shape mamba-130m|-370m|-790m|-1.4b|... | mamba2-130m|... | rwkv7-0.1b|...]\n"
    "              (an unknown --shape lists the shapes of its architecture)\n"
    "              [--dtype f32|f16|bf16] [--seed S] [--untied]\n"
    "  serve      [--model [NAME=]PATH]... [--listen HOST:PORT] [--metrics-listen HOST:PORT] ...\n"
    "             the gRPC server (recurrent serve --help lists every flag)\n"
    "  client     [--target ADDR] (--prompt TEXT | --tokens 1,2,3) [sampling flags] [--json]\n"
    "             | --list-models | --health | --tokenize TEXT | --detokenize 1,2,3\n"
    "  chat       [--target ADDR] [--session ID] [--message TEXT]: a conversation of the\n"
    "             Sessions service (recurrent chat --help)\n"
    "  loadtest   --target ADDR --concurrency N (--requests M | --duration S) [--json]\n"
    "  keygen     --tenant NAME [--max-concurrent N] [--models a,b]: a new API key\n"
    "\n"
    "PATH is a model folder (HF layout: config.json + model.safetensors[.index.json];\n"
    "state-spaces layout: config.json + pytorch_model.bin) or a .safetensors/.pth file.\n"
    "Without --model, generate uses a small embedded model with RANDOM weights: its text\n"
    "is noise. Point --model at a real checkpoint (e.g. state-spaces/mamba-130m-hf).\n";

// The lines of kUsage about `cmd` ("  cmd ..." and its continuation lines),
// or "" when it has none.
std::string CommandUsage(const std::string& cmd) {
  std::string out, line;
  bool in = false;
  for (const char* p = kUsage; *p != '\0'; ++p) {
    line += *p;
    if (*p != '\n') continue;
    const bool starts = line.rfind("  " + cmd + " ", 0) == 0;
    const bool continues = line.rfind("   ", 0) == 0 && line.size() > 3 && line[2] == ' ';
    in = starts || (in && continues && line.find_first_not_of(' ') > 2 + cmd.size());
    if (in) out += line;
    line.clear();
  }
  return out;
}

bool AsksForHelp(int argc, char** argv) {
  for (int i = 2; i < argc; ++i)
    if (std::strcmp(argv[i], "--help") == 0 || std::strcmp(argv[i], "-h") == 0) return true;
  return false;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || std::strcmp(argv[1], "--help") == 0 || std::strcmp(argv[1], "-h") == 0 ||
      std::strcmp(argv[1], "help") == 0) {
    std::fputs(kUsage, argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  const std::string cmd = argv[1];
  // Commands without a --help of their own: their lines of the usage.
  if (cmd == "generate" || cmd == "logits" || cmd == "tokenize" || cmd == "bench" || cmd == "init-random") {
    if (AsksForHelp(argc, argv)) {
      std::fputs(("usage: recurrent\n" + CommandUsage(cmd)).c_str(), stdout);
      return 0;
    }
  }
  if (cmd == "generate") return rs::cli::RunGenerate(argc, argv);
  if (cmd == "logits") return rs::cli::RunLogits(argc, argv);
  if (cmd == "tokenize") return rs::cli::RunTokenize(argc, argv);
  if (cmd == "bench") return rs::cli::RunBench(argc, argv);
  if (cmd == "init-random") return rs::cli::RunInitRandom(argc, argv);
#ifdef RS_HAVE_SERVICE
  if (cmd == "serve") return rs::cli::RunServe(argc, argv);
  if (cmd == "client") return rs::cli::RunClient(argc, argv);
  if (cmd == "chat") return rs::cli::RunChat(argc, argv);
  if (cmd == "loadtest") return rs::cli::RunLoadtest(argc, argv);
  if (cmd == "keygen") return rs::cli::RunKeygen(argc, argv);
#else
  if (cmd == "serve" || cmd == "client" || cmd == "chat" || cmd == "loadtest" || cmd == "keygen") {
    std::fprintf(stderr, "recurrent: \"%s\" needs the gRPC service, which this build (RS_ENGINE_ONLY) left out\n",
                 cmd.c_str());
    return 2;
  }
#endif
  std::fprintf(stderr, "recurrent: unknown command \"%s\" (see recurrent --help)\n", cmd.c_str());
  return 2;
}
