// Small helpers the two halves of ProcessReplica share (process_replica.cc:
// calls and the health watch; process_spawn.cc: starting and stopping the
// worker process). Internal to src/replica.
#pragma once

#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>

#include "replica/replica.h"

namespace floe::process_detail {

inline double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

inline std::chrono::system_clock::time_point SystemDeadline(Clock::time_point t) {
  return std::chrono::system_clock::now() +
         std::chrono::duration_cast<std::chrono::system_clock::duration>(t - Clock::now());
}

// Wakes whoever polls the eventfd `fd`.
inline void Poke(int fd) {
  uint64_t one = 1;
  while (write(fd, &one, sizeof(one)) < 0 && errno == EINTR) {
  }
}

inline void DrainEventFd(int fd) {
  uint64_t v;
  while (read(fd, &v, sizeof(v)) < 0 && errno == EINTR) {
  }
}

}  // namespace floe::process_detail
