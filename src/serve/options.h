// Everything `floe serve` can be told, with its defaults. Filled by the CLI
// (src/cli/serve.cc); read-only once the server starts.
#pragma once

#include <cstddef>
#include <string>

#include "floe/runtime_options.h"
#include "replica/manager.h"  // ServeEngineDefaults

namespace floe {

struct ServeOptions {
  // Model.
  std::string model;              // folder or Hugging Face id, as given
  std::string served_model_name;  // "" = `model` exactly as given
  // --device, --dtype, --threads (num_threads; 0 = all cores),
  // --max-batch-tokens (tokens per forward pass) and --gpu-memory-utilization
  // (gpu_memory_fraction: the share of each GPU its replicas take together):
  // the struct every engine is opened with, handed to the replica manager
  // as it is (ReplicaOptions::engine).
  RuntimeOptions engine = ServeEngineDefaults();

  // Endpoints. A port of 0 picks a free one (logged); disabled servers don't listen.
  std::string host = "127.0.0.1";
  int grpc_port = 50050;
  int http_port = 8080;
  bool enable_grpc = true;
  bool enable_http = true;
  int http_threads = 0;           // HTTP io threads; 0 = 2 (each serves many connections)
  int http_keep_alive_s = 5;      // idle keep-alive; SIGTERM waits at most this for idle ones

  // Replicas (the replica manager: src/replica/manager.h, docs/replicas.md).
  int num_replicas = 1;
  std::string load_balancing = "round_robin";
  std::string replica_mode = "auto";         // auto | process | inprocess
  int num_gpus = 1;
  std::string gpu_assignment = "dedicated";  // dedicated | shared
  int tensor_parallel_size = 1;              // only 1
  double health_interval_s = 1.0;
  int health_failures = 3;
  double forward_timeout_s = 120.0;
  int max_restarts = 5;

  // Batching and limits; each limit's flag is named in the error it causes.
  int tokenizer_threads = 0;            // --tokenizer-threads; 0 = all cores
  int max_client_batch_size = 2048;     // --max-client-batch-size: inputs per request
  int max_input_tokens = 0;             // --max-input-tokens: per input; 0 = model max
  size_t max_body_bytes = 64u << 20;    // --max-body-bytes: HTTP body / gRPC message
  int max_concurrent_requests = 512;    // --max-concurrent-requests
  std::string api_key;                  // --api-key; "" = no auth
  double drain_timeout_s = 30;          // SIGTERM: time in-flight work gets

  // The name requests must use (or leave empty).
  const std::string& model_name() const {
    return served_model_name.empty() ? model : served_model_name;
  }
};

}  // namespace floe
