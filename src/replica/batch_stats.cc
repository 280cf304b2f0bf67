#include "replica/batch_stats.h"

namespace floe {

const std::vector<double>& BatchTokenBounds() {
  static const std::vector<double> kBounds = {16,   64,   128,  256,   512,   1024,
                                              2048, 4096, 8192, 16384, 32768, 65536};
  return kBounds;
}

const std::vector<double>& SecondsBounds() {
  static const std::vector<double> kBounds = {
      0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
      0.1,    0.25,    0.5,    1,     2.5,    5,     10,   30};
  return kBounds;
}

void HistogramCounts::Observe(const std::vector<double>& bounds, double v) {
  if (buckets.empty()) buckets.assign(bounds.size() + 1, 0);
  size_t i = 0;
  while (i < bounds.size() && v > bounds[i]) ++i;
  buckets[i]++;
  sum += v;
  count++;
}

void HistogramCounts::Add(const HistogramCounts& o) {
  if (o.buckets.empty()) return;
  if (buckets.empty()) buckets.assign(o.buckets.size(), 0);
  for (size_t i = 0; i < buckets.size() && i < o.buckets.size(); ++i)
    buckets[i] += o.buckets[i];
  sum += o.sum;
  count += o.count;
}

void BatchRecorder::Observe(size_t tokens, double forward_s) {
  std::lock_guard<std::mutex> lock(mu_);
  stats_.tokens.Observe(BatchTokenBounds(), static_cast<double>(tokens));
  stats_.forward_s.Observe(SecondsBounds(), forward_s);
}

BatchStats BatchRecorder::Snapshot() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

}  // namespace floe
