// `floe`: one binary, several subcommands (DESIGN.md, "Command line").
#include <cstdio>
#include <cstring>
#include <string>

#include "cli/commands.h"
#include "core/openmp_env.h"

#ifndef FLOE_VERSION
#define FLOE_VERSION "0.1.0"
#endif

// Bounded OpenMP spin-waits unless the user chose, set before libgomp starts.
FLOE_OPENMP_PREINIT();

namespace {

struct Command {
  const char* name;
  int (*run)(int, char**);
  const char* help;
};

const Command kCommands[] = {
    {"tokenize", floe::cli::RunTokenize, "JSON lines {\"text\"} in, {\"ids\"} out"},
    {"embed", floe::cli::RunEmbed, "JSON lines {\"text\", ...} in, {\"embedding\"} out"},
#if FLOE_HAVE_SERVE
    {"serve", floe::cli::RunServe, "gRPC (ArcticInference + floe.v1) and OpenAI HTTP server"},
#endif
#if FLOE_HAVE_CLIENT
    {"client", floe::cli::RunClient, "embed texts on a running server"},
    {"bench", floe::cli::RunBench, "throughput and latency of a running server"},
#endif
#if FLOE_HAVE_WORKER
    {"worker", floe::cli::RunWorker, "(internal) one engine replica, started by serve"},
#endif
};

void PrintUsage(FILE* out) {
  std::fprintf(out,
               "floe %s: a text-embedding engine and server\n\n"
               "usage: floe SUBCOMMAND [options]   (floe SUBCOMMAND --help for its options)\n\n"
               "subcommands:\n",
               FLOE_VERSION);
  for (const auto& c : kCommands) std::fprintf(out, "  %-10s %s\n", c.name, c.help);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    PrintUsage(stderr);
    return 2;
  }
  std::string sub = argv[1];
  if (sub == "--help" || sub == "-h" || sub == "help") {
    PrintUsage(stdout);
    return 0;
  }
  if (sub == "--version" || sub == "version") {
    std::printf("floe %s\n", FLOE_VERSION);
    return 0;
  }
  for (const auto& c : kCommands) {
    if (sub == c.name) {
      std::string prog = std::string("floe ") + c.name;
      argv[1] = prog.data();
      return c.run(argc - 1, argv + 1);
    }
  }
  std::fprintf(stderr, "floe: unknown subcommand '%s'\n\n", sub.c_str());
  PrintUsage(stderr);
  return 2;
}
