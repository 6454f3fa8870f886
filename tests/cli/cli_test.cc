// Runs the `recurrent` binary as scripts and users do and checks its output
// and exit codes.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "engine/util/json.h"

namespace rs {
namespace {

struct CliRun {
  int exit_code;
  std::string out;  // stdout
  std::string err;  // stderr
};

CliRun Recurrent(const std::string& args) {
  // One file per test process: ctest runs the cases of this binary in parallel.
  const std::string err_file =
      std::string(RS_BINARY_DIR) + "/cli_test_stderr." + std::to_string(getpid()) + ".txt";
  const std::string cmd = std::string(RS_RECURRENT_BIN) + " " + args + " 2>" + err_file;
  CliRun r;
  FILE* p = popen(cmd.c_str(), "r");
  char buf[65536];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) r.out.append(buf, n);
  int status = pclose(p);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  FILE* e = fopen(err_file.c_str(), "r");
  while (e && (n = fread(buf, 1, sizeof(buf), e)) > 0) r.err.append(buf, n);
  if (e) fclose(e);
  std::remove(err_file.c_str());
  return r;
}

json::Value ParseOut(const CliRun& r) {
  auto v = json::Parse(r.out);
  EXPECT_TRUE(v.ok()) << v.status().ToString() << "\n" << r.out.substr(0, 500);
  return v.ok() ? std::move(v).value() : json::Value();
}

const std::string kTiny = std::string(RS_SOURCE_DIR) + "/tests/data/mamba1/tiny_hf_f32";
const std::string kNeox = std::string(RS_SHARED_DIR) + "/fixtures/tokenizers/gpt-neox-20b/tokenizer.json";

TEST(CliTest, GenerateOnDefaultModelSaysItIsNoiseAndIsDeterministic) {
  CliRun a = Recurrent("generate --prompt 'Hello there' --max-tokens 12 --seed 5 --json");
  ASSERT_EQ(a.exit_code, 0) << a.err;
  EXPECT_NE(a.err.find("RANDOM"), std::string::npos);
  EXPECT_NE(a.err.find("--model"), std::string::npos);
  json::Value v = ParseOut(a);
  ASSERT_EQ(v.Find("tokens")->AsArray().size(), 12u);
  EXPECT_EQ(v.Find("finish_reason")->AsString(), "length");
  EXPECT_EQ(v.Find("text")->AsString().size(), 12u);  // byte vocabulary, printable bytes

  CliRun b = Recurrent("generate --prompt 'Hello there' --max-tokens 12 --seed 5 --json");
  EXPECT_EQ(a.out, b.out);
  CliRun c = Recurrent("generate --prompt 'Hello there' --max-tokens 12 --seed 6 --json");
  EXPECT_NE(a.out, c.out);
}

TEST(CliTest, StreamedTextEqualsJsonText) {
  CliRun streamed = Recurrent("generate --prompt abc --max-tokens 20 --seed 9");
  CliRun js = Recurrent("generate --prompt abc --max-tokens 20 --seed 9 --json");
  ASSERT_EQ(streamed.exit_code, 0);
  json::Value v = ParseOut(js);
  EXPECT_EQ(streamed.out, v.Find("text")->AsString() + "\n");
}

TEST(CliTest, StopStringEndsGenerationAndIsNotEmitted) {
  // Greedy text of the default model; then stop at a piece of it.
  CliRun full = Recurrent("generate --prompt abc --max-tokens 30 --temperature 0 --json");
  ASSERT_EQ(full.exit_code, 0);
  const std::string text = ParseOut(full).Find("text")->AsString();
  ASSERT_GE(text.size(), 10u);
  const std::string stop = text.substr(5, 3);
  const size_t first = text.find(stop);
  CliRun cut = Recurrent("generate --prompt abc --max-tokens 30 --temperature 0 --json --stop '" + stop + "'");
  ASSERT_EQ(cut.exit_code, 0) << cut.err;
  json::Value v = ParseOut(cut);
  EXPECT_EQ(v.Find("finish_reason")->AsString(), "stop");
  EXPECT_EQ(v.Find("text")->AsString(), text.substr(0, first));
}

TEST(CliTest, LogitsLastAndAllPositions) {
  CliRun last = Recurrent("logits --model " + kTiny + " --tokens 1,2,3,4");
  ASSERT_EQ(last.exit_code, 0) << last.err;
  json::Value v = ParseOut(last);
  ASSERT_EQ(v.Find("logits")->AsArray().size(), 1u);
  EXPECT_EQ(v.Find("logits")->AsArray()[0].AsArray().size(), 300u);
  CliRun all = Recurrent("logits --model " + kTiny + " --tokens 1,2,3,4 --all-positions");
  json::Value w = ParseOut(all);
  ASSERT_EQ(w.Find("logits")->AsArray().size(), 4u);
  // The last row of --all-positions is the last-position row.
  EXPECT_EQ(w.Find("logits")->AsArray()[3].Dump(), v.Find("logits")->AsArray()[0].Dump());
}

TEST(CliTest, TokenizeAndDecode) {
  if (FILE* f = fopen(kNeox.c_str(), "r")) {
    fclose(f);
  } else {
    GTEST_SKIP() << "no " << kNeox << " (../shared is not beside the checkout)";
  }
  CliRun enc = Recurrent("tokenize --tokenizer " + kNeox + " --text 'Hello world'");
  ASSERT_EQ(enc.exit_code, 0) << enc.err;
  EXPECT_EQ(enc.out, "{\"ids\":[12092,1533]}\n");
  CliRun dec = Recurrent("tokenize --tokenizer " + kNeox + " --decode 12092,1533");
  ASSERT_EQ(dec.exit_code, 0) << dec.err;
  EXPECT_EQ(dec.out, "{\"text\":\"Hello world\"}\n");
}

const std::string kRwkvTiny = std::string(RS_SHARED_DIR) + "/fixtures/models/rwkv7-tiny-834K/model.pth";
const std::string kWorldVocab =
    std::string(RS_SHARED_DIR) + "/fixtures/tokenizers/rwkv-world/rwkv_vocab_v20230424.txt";

bool Exists(const std::string& path) {
  FILE* f = fopen(path.c_str(), "r");
  if (f != nullptr) fclose(f);
  return f != nullptr;
}

TEST(CliTest, RwkvModelFileGeneratesWithByteVocabulary) {
  if (!Exists(kRwkvTiny)) GTEST_SKIP() << "no ../shared fixtures";
  // A BlinkDL .pth passed directly; vocab 256 -> the byte tokenizer.
  CliRun a = Recurrent("generate --model " + kRwkvTiny + " --prompt '\"in' --max-tokens 16 --temperature 0 --json");
  ASSERT_EQ(a.exit_code, 0) << a.err;
  json::Value v = ParseOut(a);
  EXPECT_EQ(v.Find("tokens")->AsArray().size(), 16u);
  CliRun b = Recurrent("generate --model " + kRwkvTiny + " --prompt '\"in' --max-tokens 16 --temperature 0 --json");
  EXPECT_EQ(a.out, b.out);
}

TEST(CliTest, RwkvWorldModelWithWorldTokenizer) {
  if (!Exists(kWorldVocab)) GTEST_SKIP() << "no ../shared fixtures";
  // A small random RWKV-7 with the world vocabulary's 65536 rows.
  const std::string dir = std::string(RS_BINARY_DIR) + "/cli-rwkv-world-" + std::to_string(getpid());
  CliRun init = Recurrent("init-random --arch rwkv7 --d-model 64 --head-size 32 --n-layer 2 --vocab 65536 --out " + dir);
  ASSERT_EQ(init.exit_code, 0) << init.err;
  const std::string prompt = "'Hello 世界, RWKV!'";
  CliRun ids = Recurrent("tokenize --tokenizer " + kWorldVocab + " --text " + prompt);
  ASSERT_EQ(ids.exit_code, 0) << ids.err;
  std::string list;
  const json::Value parsed = ParseOut(ids);  // outlives the loop (C++20 range-for)
  for (const json::Value& id : parsed.Find("ids")->AsArray()) {
    if (!list.empty()) list += ',';
    list += std::to_string(id.AsInt());
  }
  // --prompt through the world tokenizer == the same ids given directly.
  CliRun by_text = Recurrent("logits --model " + dir + " --tokenizer " + kWorldVocab + " --prompt " + prompt);
  CliRun by_ids = Recurrent("logits --model " + dir + " --tokens " + list);
  ASSERT_EQ(by_text.exit_code, 0) << by_text.err;
  ASSERT_EQ(by_ids.exit_code, 0) << by_ids.err;
  EXPECT_EQ(ParseOut(by_text).Find("logits")->Dump(), ParseOut(by_ids).Find("logits")->Dump());
  // A vocabulary file beside the model is picked up without --tokenizer.
  CliRun no_tok = Recurrent("generate --model " + dir + " --prompt " + prompt + " --max-tokens 4");
  EXPECT_NE(no_tok.exit_code, 0);
  EXPECT_NE(no_tok.err.find("rwkv_vocab_v20230424.txt"), std::string::npos) << no_tok.err;
  CliRun gen = Recurrent("generate --model " + dir + " --tokenizer " + kWorldVocab + " --prompt " + prompt +
                         " --max-tokens 8 --seed 3 --json");
  ASSERT_EQ(gen.exit_code, 0) << gen.err;
  EXPECT_EQ(ParseOut(gen).Find("tokens")->AsArray().size(), 8u);
  std::string rm = "rm -rf '" + dir + "'";
  EXPECT_EQ(std::system(rm.c_str()), 0);
}

TEST(CliTest, ServingBenchmarkRunsTheWorkloadThroughTheScheduler) {
  CliRun r = Recurrent("bench --serving --scenario workload --model " + kTiny +
                       " --threads 1 --concurrency 3 --requests 7 --prompt-len 5-9 --gen 4 --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  json::Value v = ParseOut(r);
  const json::Value* w = v.Find("workload");
  ASSERT_NE(w, nullptr);
  EXPECT_EQ(w->Find("requests")->AsInt(), 7);
  EXPECT_EQ(w->Find("generated_tokens")->AsInt(), 28);  // greedy, no stop: 4 each
  EXPECT_LE(w->Find("max_running")->AsInt(), 3);
  EXPECT_GT(w->Find("throughput_tok_s")->AsDouble(), 0);
  EXPECT_LE(w->Find("ttft_p50_s")->AsDouble(), w->Find("ttft_p99_s")->AsDouble());
  CliRun bad = Recurrent("bench --serving --scenario workload --model " + kTiny + " --gen 5-2");
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE(bad.err.find("--gen"), std::string::npos) << bad.err;
}

TEST(CliTest, ErrorsAreOneLineAndNonZero) {
  for (const std::string& args :
       {std::string("generate --model /nonexistent/model --prompt hi"), std::string("generate --bogus-flag 1"),
        std::string("logits --model ") + kTiny, std::string("logits --model ") + kTiny + " --tokens 1,x,3",
        std::string("logits --model ") + kTiny + " --tokens 1,99999", std::string("generate --prompt hi --top-p 2"),
        std::string("generate --prompt hi --temperature -1"), std::string("tokenize --tokenizer /nonexistent.json --text a"),
        std::string("logits --model ") + kTiny + " --prompt hi", std::string("no-such-command")}) {
    CliRun r = Recurrent(args);
    EXPECT_NE(r.exit_code, 0) << args;
    EXPECT_EQ(r.out, "") << args;
    // Exactly one line on stderr (after any default-model notice).
    std::string last = r.err;
    size_t notice = last.rfind("downloaded on a machine with internet.\n");
    if (notice != std::string::npos) last = last.substr(notice + 39);
    EXPECT_EQ(std::count(last.begin(), last.end(), '\n'), 1) << args << ": " << r.err;
  }
}

TEST(CliTest, EveryCommandAnswersHelp) {
  for (const char* cmd : {"generate", "logits", "tokenize", "bench", "init-random"}) {
    CliRun r = Recurrent(std::string(cmd) + " --help");
    EXPECT_EQ(r.exit_code, 0) << cmd << ": " << r.err;
    EXPECT_NE(r.out.find(std::string("  ") + cmd + " "), std::string::npos) << cmd << ": " << r.out;
    EXPECT_NE(r.out.find("--"), std::string::npos) << cmd << ": " << r.out;
  }
}

}  // namespace
}  // namespace rs
