// The `recurrent` subcommands. Each parses its own flags from argv[2..] and
// returns the process exit code; errors are one line on stderr.
#pragma once

namespace rs::cli {

int RunGenerate(int argc, char** argv);
int RunLogits(int argc, char** argv);
int RunTokenize(int argc, char** argv);
int RunBench(int argc, char** argv);
// `bench --serving`: the scheduler under simulated clients (bench_serving_cmd.cc).
int RunBenchServing(int argc, char** argv);
int RunInitRandom(int argc, char** argv);

// The gRPC commands (cli/service/, full build only: RS_HAVE_SERVICE).
int RunServe(int argc, char** argv);     // serve_cmd.cc
int RunClient(int argc, char** argv);    // client_cmd.cc
int RunChat(int argc, char** argv);      // chat_cmd.cc: a client of recurrent.v1.Sessions
// `bench --sessions`: RecurrentGPT turn overhead and TTFT (bench_sessions_cmd.cc).
int RunBenchSessions(int argc, char** argv);
int RunLoadtest(int argc, char** argv);  // loadtest_cmd.cc
int RunKeygen(int argc, char** argv);    // serve_cmd.cc: an API key and its key-file line

}  // namespace rs::cli
