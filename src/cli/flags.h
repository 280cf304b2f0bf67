// Flags that several `floe` subcommands share, spelled and checked one way.
#pragma once

#include <CLI/CLI.hpp>

#include <string>

#include "floe/runtime_options.h"

namespace floe::cli {

// --device, --dtype, --threads and --max-batch-tokens into `options` (the one
// engine options struct serve, worker and embed hand down), spelled, checked
// and defaulted alike; `threads_help` says what 0 means for the command.
void AddEngineFlags(CLI::App& app, RuntimeOptions* options, const std::string& threads_help);

// --log-level LEVEL (debug | info | warn | error; "" = leave the level as
// it is). Any other word is refused while parsing, with the same message and
// exit code in every subcommand (app.exit of the CLI::ValidationError).
CLI::Option* AddLogLevelFlag(CLI::App& app, std::string* level);

// Sets the process's log level from a value AddLogLevelFlag accepted ("" =
// leave it).
void ApplyLogLevel(const std::string& level);

}  // namespace floe::cli
