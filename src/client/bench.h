// `floe bench`: ArcticInference's closed-loop method (a fixed number of
// requests per batch size, `concurrency` in flight), better reported: success
// rate, throughput in requests, embeddings and tokens, latency percentiles,
// errors summarised, the client's own CPU use.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "client/stats.h"
#include "client/transport.h"

namespace floe::client {

struct BenchOptions {
  std::vector<int> batch_sizes = {1, 16, 64};
  int requests = 1024;       // per batch size
  int concurrency = 64;      // requests in flight
  int prompt_length = 512;   // tokens per input, [CLS]/[SEP] included
  std::string distribution = "fixed";  // fixed | uniform | normal
  int min_prompt_length = 2;  // uniform / normal draw lengths in [this, prompt_length]
  bool fixed_batch_sizes = false;  // uniform / normal vary the lengths only
  int warmup = 20;           // requests before measuring (not counted)
  uint64_t seed = 0;
  bool progress = false;     // live line on stderr
  // When set, each measured request's input lengths (tokens) are written
  // here, one JSON line per request: {"batch_size":B,"lengths":[...]}, so a
  // peer can run the same shapes (scripts/peer-shapes.sh).
  std::string save_shapes;
  // When set, each measured request's texts, one JSON line per request:
  // {"batch_size":B,"texts":[...]}, so an in-process peer can embed exactly
  // the texts the server got (scripts/peer-real-bench.sh).
  std::string save_texts;
};

// Draws `count` values for `param` as ArcticInference's benchmark does:
// fixed = param; uniform in [lo, param]; normal with mean param/2 and sd
// param/4, clipped to [lo, param].
std::vector<int> DrawValues(int param, int lo, size_t count, const std::string& distribution,
                            uint64_t seed);

// Texts whose token count (specials included) is exactly each requested
// length, checked with the server's own tokenizer when it has one; otherwise
// one word per token ("hello ..." as ArcticInference builds them).
class PromptBook {
 public:
  static StatusOr<PromptBook> Build(Transport& server, const std::vector<int>& lengths,
                                    uint64_t seed);
  const std::string& ForLength(int length) const;
  bool exact() const { return exact_; }

 private:
  std::vector<std::string> by_length_;  // index = token count
  bool exact_ = false;
};

// Runs every batch size in turn over `servers` (spread round-robin).
// `on_progress` gets a one-line status now and then (may be empty).
StatusOr<std::vector<BenchRow>> RunBench(const std::vector<Transport*>& servers,
                                         const BenchOptions& options,
                                         const std::function<void(const std::string&)>& on_progress);

Status ValidateBenchOptions(const BenchOptions& options);

}  // namespace floe::client
