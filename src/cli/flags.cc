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

void AddEngineFlags(CLI::App& app, RuntimeOptions* options, const std::string& threads_help) {
  app.add_option("--device", options->device, "cpu | cuda | cuda:N")->capture_default_str();
  app.add_option("--dtype", options->dtype, "float32 | float16 | bfloat16 | int8")
      ->capture_default_str();
  app.add_option("--threads", options->num_threads, threads_help)->capture_default_str();
  app.add_option("--max-batch-tokens", options->max_batch_tokens, "tokens per forward pass")
      ->capture_default_str();
}

void ApplyLogLevel(const std::string& level) {
  LogLevel parsed;
  if (!level.empty() && ParseLogLevel(level, &parsed)) SetLogLevel(parsed);
}

}  // namespace floe::cli
