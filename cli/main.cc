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
    "             [--runs 5] [--json]\n"
    "  init-random --out DIR [--arch mamba1|mamba2|rwkv7|rwkv6]\n"
    "              [--shape mamba-130m|mamba2-130m|rwkv7-0.1b|rwkv6-0.1b]\n"
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

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || std::strcmp(argv[1], "--help") == 0 || std::strcmp(argv[1], "-h") == 0 ||
      std::strcmp(argv[1], "help") == 0) {
    std::fputs(kUsage, argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  const std::string cmd = argv[1];
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
