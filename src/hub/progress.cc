#include "hub/progress.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>

namespace floe::hub {

std::string FormatBytes(uint64_t bytes) {
  char buf[32];
  if (bytes < 1000) {
    std::snprintf(buf, sizeof buf, "%llu B", static_cast<unsigned long long>(bytes));
  } else if (bytes < 1000 * 1000) {
    std::snprintf(buf, sizeof buf, "%.1f kB", bytes / 1e3);
  } else if (bytes < 1000ull * 1000 * 1000) {
    std::snprintf(buf, sizeof buf, "%.1f MB", bytes / 1e6);
  } else {
    std::snprintf(buf, sizeof buf, "%.2f GB", bytes / 1e9);
  }
  return buf;
}

ProgressLine::ProgressLine(std::string label, uint64_t total, bool enabled)
    : label_(std::move(label)),
      total_(total),
      enabled_(enabled),
      tty_(::isatty(STDERR_FILENO) == 1),
      start_(std::chrono::steady_clock::now()),
      last_draw_(start_) {
  if (enabled_ && !tty_ && total_ >= 10'000'000) {  // a log hears of big files early
    std::fprintf(stderr, "floe: downloading %s (%s)\n", label_.c_str(),
                 total_ ? FormatBytes(total_).c_str() : "size unknown");
  }
}

void ProgressLine::Update(uint64_t done) {
  if (!have_start_) {  // a resumed download starts from what was on disk
    have_start_ = true;
    start_done_ = done;
  }
  last_done_ = done;
  if (!enabled_ || !tty_) return;
  const auto now = std::chrono::steady_clock::now();
  if (now - last_draw_ < std::chrono::milliseconds(100)) return;
  last_draw_ = now;
  Draw(done, false, true);
}

void ProgressLine::Finish(bool ok) {
  if (finished_) return;
  finished_ = true;
  if (enabled_) Draw(ok && total_ ? total_ : last_done_, true, ok);
}

void ProgressLine::Draw(uint64_t done, bool final_line, bool ok) {
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const uint64_t moved = done - std::min(done, start_done_);
  std::string line = "floe: ";
  if (final_line) {
    char tail[64];
    std::snprintf(tail, sizeof tail, " in %.1f s", secs);
    line += std::string(ok ? "downloaded " : "failed ") + label_ + "  " +
            FormatBytes(done) + (ok ? std::string(tail) : " / " + FormatBytes(total_));
    if (ok && secs > 0.05)
      line += " (" + FormatBytes(static_cast<uint64_t>(moved / secs)) + "/s)";
  } else {
    char pct[16] = "";
    if (total_)
      std::snprintf(pct, sizeof pct, " %3d%%", static_cast<int>(100.0 * done / total_));
    line += "downloading " + label_ + "  " + FormatBytes(done) +
            (total_ ? " / " + FormatBytes(total_) : "") + pct;
    if (secs > 0.05)
      line += "  " + FormatBytes(static_cast<uint64_t>(moved / secs)) + "/s";
  }
  if (tty_) {
    std::fprintf(stderr, "\r%s\033[K%s", line.c_str(), final_line ? "\n" : "");
  } else {
    std::fprintf(stderr, "%s\n", line.c_str());
  }
  std::fflush(stderr);
}

}  // namespace floe::hub
