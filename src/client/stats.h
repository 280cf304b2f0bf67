// Latency/throughput figures of one benchmark run (names as DESIGN.md's
// `floe bench --json` contract).
#pragma once

#include <map>
#include <string>
#include <vector>

namespace floe::client {

struct BenchRow {
  int batch_size = 0;
  int prompt_length = 0;
  int requests = 0;
  int succeeded = 0;
  double success_rate = 0;  // 0..1
  double duration_s = 0;
  double tokens_per_s = 0;
  double embeddings_per_s = 0;
  double requests_per_s = 0;
  double latency_mean_ms = 0;
  double latency_p50_ms = 0;
  double latency_p90_ms = 0;
  double latency_p99_ms = 0;
  double latency_max_ms = 0;
  double client_cpu_percent = 0;  // this process, of one core
  std::map<std::string, int> errors;  // message -> count
};

// Percentile by linear interpolation between closest ranks; p in [0, 100].
// Sorts `v` in place. Empty input gives 0.
double Percentile(std::vector<double>& v, double p);

// Fills the latency fields of `row` from per-request latencies in ms.
void FillLatencies(std::vector<double> latencies_ms, BenchRow* row);

std::string RowToJson(const BenchRow& row);
// A fixed-width table: a header, then one line per row, then error summaries.
std::string RowsToTable(const std::vector<BenchRow>& rows);

}  // namespace floe::client
