#include "cli/flags.h"

#include "core/log.h"

namespace floe::cli {

CLI::Option* AddLogLevelFlag(CLI::App& app, std::string* level) {
  const CLI::Validator known(
      [](std::string& value) -> std::string {
        LogLevel parsed;
        if (value.empty() || ParseLogLevel(value, &parsed)) return "";
        return "unknown log level '" + value + "' (use debug, info, warn or error)";
      },
      "LEVEL", "log level");
  return app.add_option("--log-level", *level, "debug | info | warn | error")->check(known);
}

void ApplyLogLevel(const std::string& level) {
  LogLevel parsed;
  if (!level.empty() && ParseLogLevel(level, &parsed)) SetLogLevel(parsed);
}

}  // namespace floe::cli
