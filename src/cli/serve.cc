// `floe serve`: flags -> ServeOptions -> RunServer.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "api/model_path.h"
#include "cli/commands.h"
#include "cli/flags.h"
#include "core/log.h"
#include "serve/server.h"

namespace floe::cli {
namespace {

// Where the bundled demo model is: beside the binary's folder (build/floe and an
// install prefix's bin/floe: ../models/demo), then the source tree it was built from.
std::vector<std::string> DemoModelFolders() {
  std::vector<std::string> dirs;
  std::error_code ec;
  const auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec) dirs.push_back((exe.parent_path().parent_path() / "models/demo").string());
#ifdef FLOE_SOURCE_DIR
  dirs.push_back(std::string(FLOE_SOURCE_DIR) + "/models/demo");
#endif
  return dirs;
}

}  // namespace

int RunServe(int argc, char** argv) {
  ServeOptions o;
  CLI::App app{
      "Serve a model over gRPC (arctic_inference.InferenceService, floe.v1.EmbeddingService, "
      "grpc.health.v1, reflection) and HTTP (OpenAI POST /v1/embeddings, /health, /metrics, "
      "/info, /tokenize).",
      "floe serve"};
  app.get_formatter()->column_width(34);
  app.add_option("--model,-m", o.model,
                 "model folder or Hugging Face id (default: sentence-transformers/"
                 "all-MiniLM-L6-v2 from the caches or the hub, else the demo)");
  app.add_option("--served-model-name", o.served_model_name,
                 "name requests must use (default: --model exactly as given)");
  app.add_option("--host", o.host, "address to listen on")->capture_default_str();
  app.add_option("--port", o.grpc_port, "gRPC port (0: a free one)")->capture_default_str();
  app.add_option("--http-port", o.http_port, "HTTP port (0: a free one)")->capture_default_str();
  bool no_grpc = false, no_http = false;
  app.add_flag("--no-grpc", no_grpc, "do not serve gRPC");
  app.add_flag("--no-http", no_http, "do not serve HTTP");
  AddEngineFlags(app, &o.engine,
                 "encoder threads (0: all cores; split between CPU worker replicas)");
  app.add_option("--num-replicas", o.num_replicas, "engine replicas")->capture_default_str();
  app.add_option("--load-balancing", o.load_balancing, "round_robin | random | least_loaded")
      ->capture_default_str();
  app.add_option("--replica-mode", o.replica_mode,
                 "auto (one CPU replica in-process, else worker processes) | process | inprocess")
      ->capture_default_str();
  app.add_option("--num-gpus", o.num_gpus, "GPUs the replicas use")->capture_default_str();
  app.add_option("--gpu-assignment", o.gpu_assignment,
                 "dedicated (replica i on GPU i mod G) | shared (all GPUs, spread evenly)")
      ->capture_default_str();
  app.add_option("--tensor-parallel-size", o.tensor_parallel_size, "only 1 is supported")
      ->capture_default_str();
  app.add_option("--gpu-memory-utilization", o.engine.gpu_memory_fraction,
                 "share of each GPU its replicas may take together")
      ->capture_default_str();
  app.add_option("--health-interval", o.health_interval_s, "seconds between replica probes")
      ->capture_default_str();
  app.add_option("--health-failures", o.health_failures,
                 "failed probes in a row that take a replica out")
      ->capture_default_str();
  app.add_option("--forward-timeout", o.forward_timeout_s,
                 "seconds a replica may take before the request is retried elsewhere")
      ->capture_default_str();
  app.add_option("--max-restarts", o.max_restarts,
                 "restarts in a row before a dying replica is given up")
      ->capture_default_str();
  app.add_option("--tokenizer-threads", o.tokenizer_threads, "tokenizer pool (0: all cores)")
      ->capture_default_str();
  app.add_option("--max-client-batch-size", o.max_client_batch_size, "inputs per request")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--max-input-tokens", o.max_input_tokens,
                 "tokens per input (0: the model's max length)")
      ->capture_default_str();
  app.add_option("--max-body-bytes", o.max_body_bytes, "HTTP body / gRPC message size")
      ->capture_default_str();
  app.add_option("--max-concurrent-requests", o.max_concurrent_requests,
                 "requests in flight; more get HTTP 429 / RESOURCE_EXHAUSTED at once")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--api-key", o.api_key,
                 "require 'Authorization: Bearer KEY' (HTTP) / authorization metadata (gRPC); "
                 "default: $FLOE_API_KEY")
      ->envname("FLOE_API_KEY");
  app.add_option("--http-threads", o.http_threads,
                 "HTTP io threads, each serving many connections (0: 2)")
      ->capture_default_str();
  app.add_option("--http-keep-alive", o.http_keep_alive_s,
                 "seconds an idle HTTP keep-alive connection stays open")
      ->capture_default_str();
  app.add_option("--drain-timeout", o.drain_timeout_s, "seconds in-flight work gets on SIGTERM")
      ->capture_default_str();
  std::string log_level;
  AddLogLevelFlag(app, &log_level);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  ApplyLogLevel(log_level);
  if (o.model.empty()) {
    auto chosen = ResolveDefaultModel(DemoModelFolders());
    if (!chosen.ok()) {
      std::fprintf(stderr, "floe serve: %s\n", chosen.status().message().c_str());
      return 1;
    }
    o.model = chosen->path;
    if (o.served_model_name.empty()) o.served_model_name = chosen->name;
  }
  o.enable_grpc = !no_grpc;
  o.enable_http = !no_http;
  return RunServer(o);
}

}  // namespace floe::cli
