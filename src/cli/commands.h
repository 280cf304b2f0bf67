// Subcommands of the `floe` binary. Each takes the arguments after its name
// (argv[0] is "floe SUBCOMMAND") and returns the process exit code.
#pragma once

namespace floe::cli {

int RunTokenize(int argc, char** argv);
int RunEmbed(int argc, char** argv);
#if FLOE_HAVE_SERVE
int RunServe(int argc, char** argv);
#endif
#if FLOE_HAVE_CLIENT
int RunClient(int argc, char** argv);
int RunBench(int argc, char** argv);
#endif
#if FLOE_HAVE_WORKER
int RunWorker(int argc, char** argv);
#endif

}  // namespace floe::cli
