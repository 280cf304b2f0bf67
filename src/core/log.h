// Minimal leveled logging to stderr, safe from any thread. Level from
// FLOE_LOG_LEVEL (debug|info|warn|error, default info) or SetLogLevel.
#pragma once

#include <sstream>
#include <string>
#include <string_view>

namespace floe {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3, kOff = 4 };

void SetLogLevel(LogLevel level);
LogLevel GetLogLevel();
bool ParseLogLevel(std::string_view s, LogLevel* out);
void LogLine(LogLevel level, std::string_view message);
// Logs `message` at most once per process for a given `key`.
void LogOnce(LogLevel level, const std::string& key, std::string_view message);

namespace internal {
class LogMessage {
 public:
  explicit LogMessage(LogLevel level) : level_(level) {}
  ~LogMessage() { LogLine(level_, stream_.str()); }
  std::ostringstream& stream() { return stream_; }

 private:
  LogLevel level_;
  std::ostringstream stream_;
};
}  // namespace internal

}  // namespace floe

#define FLOE_LOG(level)                                          \
  if (::floe::LogLevel::level < ::floe::GetLogLevel()) {         \
  } else                                                         \
    ::floe::internal::LogMessage(::floe::LogLevel::level).stream()
