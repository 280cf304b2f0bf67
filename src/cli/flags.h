// Flags that several `floe` subcommands share, spelled and checked one way.
#pragma once

#include <CLI/CLI.hpp>

#include <string>

namespace floe::cli {

// --log-level LEVEL (debug | info | warn | error; "" = leave the level as
// it is). Any other word is refused while parsing, with the same message and
// exit code in every subcommand (app.exit of the CLI::ValidationError).
CLI::Option* AddLogLevelFlag(CLI::App& app, std::string* level);

// Sets the process's log level from a value AddLogLevelFlag accepted ("" =
// leave it).
void ApplyLogLevel(const std::string& level);

}  // namespace floe::cli
