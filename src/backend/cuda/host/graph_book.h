// Host-side bookkeeping of the CUDA backend's graphs (plain C++: no CUDA
// header, tested on the CPU in tests/backend): for each GraphKey, whether to
// run the ops as they come, capture them, or replay the captured graph; when
// a graph is stale; how many graphs are kept.
//
// The rules:
//   - Disabled (FLOE_CUDA_GRAPHS=0): always eager.
//   - A key is captured the `capture_after`-th time it is seen (2 by
//     default): the first run is eager, so that the products' plans, the
//     scratch and every lazily grown buffer exist before a capture, where
//     allocating is not allowed.
//   - A graph is valid for the memory generation it was captured at (the
//     backend counts every free: a freed buffer may be one the graph writes).
//     A stale graph is captured again at once, and the old executable is
//     offered for an in-place update (cudaGraphExecUpdate).
//   - A key whose capture failed is never captured again (eager).
//   - At most `max_graphs` graphs are held; storing one more drops the least
//     recently used. At most `max_keys` keys are remembered (their counts);
//     past that the least recently seen key without a graph is forgotten.
//
// `Exec` is the owner of one executable graph (movable; its destructor
// frees it). One thread at a time (the backend's).
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <utility>

#include "backend/graph_key.h"

namespace floe::cuda::host {

struct GraphOptions {
  bool enabled = true;
  int capture_after = 2;   // >= 1
  size_t max_graphs = 32;  // >= 1
  size_t max_keys = 1024;  // > max_graphs
};

enum class GraphStep { kEager, kCapture, kReplay };

struct GraphStats {
  uint64_t eager = 0, captures = 0, replays = 0, refused = 0, evicted = 0, stale = 0;
};

template <typename Exec>
class GraphBook {
 public:
  explicit GraphBook(GraphOptions o) : o_(o) {
    if (o_.capture_after < 1) o_.capture_after = 1;
    if (o_.max_graphs < 1) o_.max_graphs = 1;
    if (o_.max_keys <= o_.max_graphs) o_.max_keys = o_.max_graphs + 1;
  }
  GraphBook(const GraphBook&) = delete;
  GraphBook& operator=(const GraphBook&) = delete;

  // What to do now for `key` at memory generation `generation`. kReplay:
  // Find(key) holds a graph captured at this generation. kCapture: capture
  // now, then Store or Refuse (Find(key) may hold a stale graph to update).
  GraphStep Next(const GraphKey& key, uint64_t generation) {
    if (!o_.enabled) {
      ++stats_.eager;
      return GraphStep::kEager;
    }
    Entry& e = Touch(key);
    if (e.refused) {
      ++stats_.eager;
      return GraphStep::kEager;
    }
    if (e.exec) {
      if (e.generation == generation) {
        ++stats_.replays;
        return GraphStep::kReplay;
      }
      ++stats_.stale;
      return GraphStep::kCapture;
    }
    if (++e.seen < o_.capture_after) {
      ++stats_.eager;
      return GraphStep::kEager;
    }
    return GraphStep::kCapture;
  }

  // The graph held for `key`, stale or not; null when none.
  Exec* Find(const GraphKey& key) {
    auto it = entries_.find(key);
    return it == entries_.end() || !it->second.exec ? nullptr : &*it->second.exec;
  }

  // A capture of `key` at `generation` succeeded: `exec` replaces any graph
  // held for it; past max_graphs the least recently used other graph goes.
  void Store(const GraphKey& key, uint64_t generation, Exec exec) {
    Entry& e = Touch(key);
    e.exec.emplace(std::move(exec));
    e.generation = generation;
    ++stats_.captures;
    while (graphs() > o_.max_graphs) {
      Entry* oldest = nullptr;
      for (auto& [k, other] : entries_) {
        if (!other.exec || &other == &e) continue;
        if (oldest == nullptr || other.last_use < oldest->last_use) oldest = &other;
      }
      if (oldest == nullptr) break;
      oldest->exec.reset();
      oldest->seen = 0;
      ++stats_.evicted;
    }
  }

  // The graph held for `key` was updated in place to `generation`.
  void Restamp(const GraphKey& key, uint64_t generation) {
    Entry& e = Touch(key);
    e.generation = generation;
    ++stats_.captures;
  }

  // A capture of `key` failed: it runs eagerly from now on (its graph, if
  // any, is dropped).
  void Refuse(const GraphKey& key) {
    Entry& e = Touch(key);
    e.refused = true;
    e.exec.reset();
    ++stats_.refused;
  }

  // Drops every graph and count (the backend is going away, or its memory).
  void Clear() { entries_.clear(); }

  size_t graphs() const {
    size_t n = 0;
    for (const auto& [k, e] : entries_) n += e.exec ? 1 : 0;
    return n;
  }
  size_t keys() const { return entries_.size(); }
  const GraphStats& stats() const { return stats_; }
  const GraphOptions& options() const { return o_; }

 private:
  struct Entry {
    int seen = 0;
    bool refused = false;
    uint64_t generation = 0;
    uint64_t last_use = 0;
    std::optional<Exec> exec;
  };

  // The entry of `key` (made if new, forgetting the least recently seen key
  // without a graph past max_keys), marked as just used.
  Entry& Touch(const GraphKey& key) {
    auto it = entries_.find(key);
    if (it == entries_.end()) {
      if (entries_.size() >= o_.max_keys) {
        auto oldest = entries_.end();
        for (auto j = entries_.begin(); j != entries_.end(); ++j) {
          if (j->second.exec) continue;
          if (oldest == entries_.end() || j->second.last_use < oldest->second.last_use) oldest = j;
        }
        if (oldest != entries_.end()) entries_.erase(oldest);
      }
      it = entries_.emplace(key, Entry{}).first;
    }
    it->second.last_use = ++clock_;
    return it->second;
  }

  GraphOptions o_;
  std::map<GraphKey, Entry> entries_;
  uint64_t clock_ = 0;
  GraphStats stats_;
};

}  // namespace floe::cuda::host
