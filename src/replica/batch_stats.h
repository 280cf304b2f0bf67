// Per-batch metrics of a replica: tokens and seconds per forward pass, as
// cumulative histograms. Each LocalReplica records its own (in `floe serve`
// or in a `floe worker`); a worker sends a snapshot with every Health probe
// answer, and the frontend's /metrics renders the sum over replicas
// (ReplicaSet::batch_stats). Counts only grow: a ProcessReplica keeps the
// last snapshot of each worker that died.
#pragma once

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <vector>

namespace floe {

// Upper bounds of the histograms' buckets (a last +Inf bucket follows).
const std::vector<double>& BatchTokenBounds();
// Seconds: forward passes here, and every latency histogram of /metrics.
const std::vector<double>& SecondsBounds();

// One histogram's counts: per bucket (not cumulative; bounds + 1 of them, or
// none for an empty histogram), the sum of the values and their count.
struct HistogramCounts {
  std::vector<uint64_t> buckets;
  double sum = 0;
  uint64_t count = 0;

  void Observe(const std::vector<double>& bounds, double v);
  // Adds `o` bucket by bucket. Both have the same bounds (or one is empty):
  // worker::BatchStatsFromProto checks what comes from a worker.
  void Add(const HistogramCounts& o);
};

struct BatchStats {
  HistogramCounts tokens;     // BatchTokenBounds(); count = forward passes
  HistogramCounts forward_s;  // SecondsBounds()

  void Add(const BatchStats& o) {
    tokens.Add(o.tokens);
    forward_s.Add(o.forward_s);
  }
};

// Thread-safe recorder of one replica's forward passes.
class BatchRecorder {
 public:
  void Observe(size_t tokens, double forward_s);
  BatchStats Snapshot() const;

 private:
  mutable std::mutex mu_;
  BatchStats stats_;  // GUARDED_BY(mu_)
};

}  // namespace floe
