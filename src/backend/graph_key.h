// What identifies one replayable run of ops (Backend::RunGraph): who runs
// them (their buffers are baked in), the batch's shape, and the caller's
// variants. Plain C++, device-independent.
#pragma once

#include <compare>
#include <cstdint>
#include <span>

namespace floe {

struct GraphKey {
  // The caller whose buffers the ops use (an encoder's address): two callers
  // never share a graph.
  uint64_t owner = 0;
  int64_t tokens = 0;      // T
  int64_t seqs = 0;        // B
  int64_t max_seqlen = 0;
  // The caller's other choices that change which ops run (pooling kind,
  // whether a prompt is skipped or token types are given).
  uint64_t variant = 0;
  // HashLengths(cu_seqlens): ops may decide on the host from the sequence
  // lengths (schedules, tile lists), so a graph replays only for the same
  // lengths. 0 where the caller knows no op does.
  uint64_t lengths = 0;
  auto operator<=>(const GraphKey&) const = default;
};

// FNV-1a over the values: the identity of a batch's sequence lengths.
inline uint64_t HashLengths(std::span<const int32_t> cu_seqlens) {
  uint64_t h = 1469598103934665603ull;
  for (int32_t v : cu_seqlens) {
    h ^= static_cast<uint32_t>(v);
    h *= 1099511628211ull;
  }
  return h == 0 ? 1 : h;
}

}  // namespace floe
