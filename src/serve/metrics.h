// Prometheus metrics of the frontend. Thread-safe; rendering takes a snapshot.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "replica/batch_stats.h"

namespace floe {

class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds);
  void Observe(double v);
  // Appends the _bucket/_sum/_count lines for `name` with `labels` ("" or `k="v"`).
  void Render(const std::string& name, const std::string& labels, std::string* out) const;

 private:
  std::vector<double> bounds_;
  mutable std::mutex mu_;
  std::vector<uint64_t> counts_;  // GUARDED_BY(mu_), bounds_.size() + 1
  double sum_ = 0;                // GUARDED_BY(mu_)
  uint64_t count_ = 0;            // GUARDED_BY(mu_)
};

class Metrics {
 public:
  Metrics();

  // One finished request on `route` (HTTP path or gRPC method) with its code
  // (HTTP number or gRPC code name) and total latency.
  void CountRequest(const std::string& route, const std::string& code, double seconds);

  std::atomic<uint64_t> input_tokens{0};
  std::atomic<uint64_t> embeddings{0};
  std::atomic<int64_t> in_flight{0};
  Histogram tokenize_seconds;
  Histogram queue_wait_seconds;

  // Where floe_batches_total, floe_batch_tokens and floe_forward_seconds
  // come from when scraped: the replicas' own counts (ReplicaSet::batch_stats).
  void SetBatchStats(std::function<BatchStats()> fn);

  // Gauges computed when scraped (queue depth, replica health...).
  void AddGauge(std::string name, std::string help, std::function<double()> fn);

  std::string Render() const;

 private:
  mutable std::mutex mu_;
  std::map<std::pair<std::string, std::string>, uint64_t> requests_;  // GUARDED_BY(mu_)
  std::map<std::string, Histogram*> latency_by_route_;                 // GUARDED_BY(mu_)
  std::vector<std::unique_ptr<Histogram>> owned_;                      // GUARDED_BY(mu_)
  struct Gauge {
    std::string name, help;
    std::function<double()> fn;
  };
  std::vector<Gauge> gauges_;                // GUARDED_BY(mu_)
  std::function<BatchStats()> batch_stats_;  // GUARDED_BY(mu_)
};

}  // namespace floe
