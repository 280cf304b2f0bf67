// One progress line per downloaded file on stderr. On a terminal it is redrawn in
// place (at most ten times a second); in a log it is one line when the file starts
// and one when it ends, so logs stay readable.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace floe::hub {

class ProgressLine {
 public:
  // `total` = 0 when unknown. `enabled` = false prints nothing.
  ProgressLine(std::string label, uint64_t total, bool enabled);
  ProgressLine(const ProgressLine&) = delete;
  ProgressLine& operator=(const ProgressLine&) = delete;

  void Update(uint64_t done);
  // Ends the line; `ok` = false marks it failed.
  void Finish(bool ok);

 private:
  void Draw(uint64_t done, bool final_line, bool ok);

  std::string label_;
  uint64_t total_;
  bool enabled_;
  bool tty_;
  bool finished_ = false;
  uint64_t start_done_ = 0;
  bool have_start_ = false;
  uint64_t last_done_ = 0;
  std::chrono::steady_clock::time_point start_, last_draw_;
};

// "1.5 MB", "438.0 MB", "1.2 GB".
std::string FormatBytes(uint64_t bytes);

}  // namespace floe::hub
