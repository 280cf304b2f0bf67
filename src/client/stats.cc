#include "client/stats.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <numeric>

namespace floe::client {

double Percentile(std::vector<double>& v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  double rank = p / 100.0 * (v.size() - 1);
  size_t lo = static_cast<size_t>(std::floor(rank));
  size_t hi = std::min(v.size() - 1, lo + 1);
  double frac = rank - lo;
  return v[lo] + (v[hi] - v[lo]) * frac;
}

void FillLatencies(std::vector<double> ms, BenchRow* row) {
  if (ms.empty()) return;
  row->latency_mean_ms = std::accumulate(ms.begin(), ms.end(), 0.0) / ms.size();
  row->latency_p50_ms = Percentile(ms, 50);
  row->latency_p90_ms = Percentile(ms, 90);
  row->latency_p99_ms = Percentile(ms, 99);
  row->latency_max_ms = ms.back();
}

std::string RowToJson(const BenchRow& r) {
  nlohmann::json j = {
      {"batch_size", r.batch_size},
      {"prompt_length", r.prompt_length},
      {"requests", r.requests},
      {"succeeded", r.succeeded},
      {"success_rate", r.success_rate},
      {"duration_s", r.duration_s},
      {"tokens_per_s", r.tokens_per_s},
      {"embeddings_per_s", r.embeddings_per_s},
      {"requests_per_s", r.requests_per_s},
      {"latency_mean_ms", r.latency_mean_ms},
      {"latency_p50_ms", r.latency_p50_ms},
      {"latency_p90_ms", r.latency_p90_ms},
      {"latency_p99_ms", r.latency_p99_ms},
      {"latency_max_ms", r.latency_max_ms},
      {"client_cpu_percent", r.client_cpu_percent},
      {"errors", r.errors},
  };
  return j.dump();
}

std::string RowsToTable(const std::vector<BenchRow>& rows) {
  std::string out;
  char line[512];
  std::snprintf(line, sizeof line,
                "%6s %7s %8s %8s %10s %12s %12s %9s %9s %9s %9s %9s %7s\n", "batch",
                "tokens", "requests", "success", "req/s", "embeddings/s", "tokens/s",
                "mean ms", "p50 ms", "p90 ms", "p99 ms", "max ms", "cpu%");
  out += line;
  for (const auto& r : rows) {
    std::snprintf(line, sizeof line,
                  "%6d %7d %8d %7.1f%% %10.1f %12.1f %12.0f %9.2f %9.2f %9.2f %9.2f %9.2f %7.0f\n",
                  r.batch_size, r.prompt_length, r.requests, r.success_rate * 100,
                  r.requests_per_s, r.embeddings_per_s, r.tokens_per_s, r.latency_mean_ms,
                  r.latency_p50_ms, r.latency_p90_ms, r.latency_p99_ms, r.latency_max_ms,
                  r.client_cpu_percent);
    out += line;
  }
  for (const auto& r : rows) {
    for (const auto& [msg, n] : r.errors) {
      std::snprintf(line, sizeof line, "batch %d: %d failed: ", r.batch_size, n);
      out += line;
      out += msg + "\n";
    }
  }
  return out;
}

}  // namespace floe::client
