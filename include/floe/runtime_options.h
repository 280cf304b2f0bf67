// How an engine runs: device, dtype, threads, tokens per forward pass and GPU
// memory share. One struct from the command line (or an Embedder user) down
// to the compute backend, passed on unchanged: EmbedderOptions is one of it,
// floe serve's replica manager and its worker processes carry one, the engine
// is created with it and hands it to its backend as it is.
#pragma once

#include <cstddef>
#include <string>

namespace floe {

struct RuntimeOptions {
  std::string device = "cpu";     // "cpu" | "cuda" | "cuda:N"
  std::string dtype = "float32";  // float32 | float16 | bfloat16 | int8
  int num_threads = 0;            // CPU threads for the encoder; 0 = all cores
  // Tokens per forward pass (packed, no padding); > 0. GPU backends plan
  // their scratch for a full pass at load.
  size_t max_batch_tokens = 16384;
  // GPU backends: the share of the device's memory this engine may hold
  // (weights, workspace, activations; RESOURCE_EXHAUSTED past it), in [0, 1];
  // 0 = no limit. `floe serve --gpu-memory-utilization` (as ArcticInference
  // and vLLM name it) is this share for all replicas of a GPU together. The
  // CPU backend ignores it.
  double gpu_memory_fraction = 0.0;

  bool operator==(const RuntimeOptions&) const = default;
};

}  // namespace floe
