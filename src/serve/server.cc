#include "serve/server.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <signal.h>

#include <thread>

#include "core/log.h"
#include "replica/manager.h"
#include "serve/grpc_health.h"
#include "serve/grpc_services.h"
#include "serve/grpc_tei.h"
#include "serve/http_server.h"

namespace floe {

namespace {

// Blocks until SIGTERM or SIGINT. The signals are blocked in every thread
// (set before any thread starts) so only this sigwait sees them.
int WaitForSignal(const sigset_t& set) {
  int sig = 0;
  while (sigwait(&set, &sig) != 0) {
  }
  return sig;
}

}  // namespace

int RunServer(const ServeOptions& options) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  signal(SIGPIPE, SIG_IGN);

  if (!options.enable_grpc && !options.enable_http) {
    FLOE_LOG(kError) << "serve: both gRPC and HTTP are disabled; nothing to serve";
    return 1;
  }
  ReplicaOptions replica_options;
  replica_options.model = options.model;
  replica_options.engine = options.engine;
  replica_options.num_replicas = options.num_replicas;
  replica_options.replica_mode = options.replica_mode;
  replica_options.load_balancing = options.load_balancing;
  replica_options.num_gpus = options.num_gpus;
  replica_options.gpu_assignment = options.gpu_assignment;
  replica_options.tensor_parallel_size = options.tensor_parallel_size;
  replica_options.health_interval_s = options.health_interval_s;
  replica_options.health_failures = options.health_failures;
  replica_options.forward_timeout_s = options.forward_timeout_s;
  replica_options.max_restarts = options.max_restarts;
  const bool in_process = ReplicasInProcess(replica_options);
  std::shared_ptr<ReplicaSet> replicas;
  if (!in_process) {  // workers load the model while this process loads its tokenizer
    auto started = StartReplicas(replica_options, nullptr);
    if (!started.ok()) {
      FLOE_LOG(kError) << "serve: " << started.status().message();
      return 1;
    }
    replicas = std::move(started).value();
  }

  EmbedderOptions eopts = options.engine;
  // In-process the one engine may take the whole --gpu-memory-utilization
  // (the manager divides it among worker processes); a CPU has no share.
  if (options.engine.device.rfind("cuda", 0) != 0) eopts.gpu_memory_fraction = 0;
  if (!in_process) {  // with worker processes this Embedder only tokenizes
    eopts.tokenizer_only = true;
    eopts.num_threads = 1;
  }
  const auto t0 = Clock::now();
  auto opened = Embedder::Open(options.model, eopts);
  if (!opened.ok()) {
    FLOE_LOG(kError) << "serve: cannot load model '" << options.model
                     << "': " << opened.status().ToString();
    return 1;
  }
  std::shared_ptr<Embedder> embedder = std::move(opened).value();
  const ModelInfo& info = embedder->info();
  FLOE_LOG(kInfo) << "serve: loaded " << info.path << " (" << info.model_type << ", dim "
                  << info.hidden_size << ", max " << info.max_tokens << " tokens, "
                  << info.dtype << " on " << info.device << ") in "
                  << std::chrono::duration<double>(Clock::now() - t0).count() << " s";

  Metrics metrics;
  if (in_process) {
    auto started = StartReplicas(replica_options, embedder);
    if (!started.ok()) {
      FLOE_LOG(kError) << "serve: " << started.status().message();
      return 1;
    }
    replicas = std::move(started).value();
  }
  Frontend frontend(options, embedder, replicas, &metrics);
  // Workers' counts arrive with their Health answers (every --health-interval).
  metrics.SetBatchStats([&replicas] { return replicas->batch_stats(); });
  metrics.AddGauge(
      "floe_queue_tokens", "Tokens submitted to replicas and not yet answered.",
      [&replicas] { return static_cast<double>(replicas->queued_tokens()); });
  metrics.AddGauge("floe_queue_depth", "Requests queued at replicas.", [&replicas] {
    double n = 0;
    for (const auto& s : replicas->stats()) n += static_cast<double>(s.queued_jobs);
    return n;
  });
  metrics.AddGauge("floe_replicas_healthy", "Replicas that can serve.", [&replicas] {
    return static_cast<double>(replicas->healthy_count());
  });

  // gRPC: both services, health and reflection on one port.
  ArcticService arctic(&frontend);
  FloeService floe_v1(&frontend);
  TeiServices tei(&frontend);  // tei.v1: Info, Embed, Predict, Rerank, Tokenize
  std::unique_ptr<grpc::Server> grpc_server;
  std::unique_ptr<GrpcHealthWatcher> grpc_health;
  if (options.enable_grpc) {
    grpc::EnableDefaultHealthCheckService(true);
    grpc::reflection::InitProtoReflectionServerBuilderPlugin();
    grpc::ServerBuilder builder;
    int bound_port = 0;
    builder.AddListeningPort(options.host + ":" + std::to_string(options.grpc_port),
                             grpc::InsecureServerCredentials(), &bound_port);
    builder.RegisterService(&arctic);
    builder.RegisterService(&floe_v1);
    tei.Register(&builder);
    builder.SetMaxReceiveMessageSize(static_cast<int>(
        std::min<size_t>(options.max_body_bytes, static_cast<size_t>(INT32_MAX))));
    builder.SetMaxSendMessageSize(-1);
    grpc_server = builder.BuildAndStart();
    if (!grpc_server || bound_port == 0) {
      FLOE_LOG(kError) << "serve: cannot listen for gRPC on " << options.host << ":"
                       << options.grpc_port << " (in use? --port)";
      return 1;
    }
    // NOT_SERVING until the first replica is ready, then following them.
    grpc_health = std::make_unique<GrpcHealthWatcher>(
        grpc_server->GetHealthCheckService(),
        [&frontend] {
          std::vector<std::string> names = TeiServices::Names(frontend.model_info());
          names.push_back(arctic_inference::InferenceService::service_full_name());
          names.push_back(floe::v1::EmbeddingService::service_full_name());
          return names;
        }(),
        [&frontend] { return frontend.ready(); });
    // tei.v1 services the model cannot answer say so for good (TEI does).
    for (const auto& name : TeiServices::Names(frontend.model_info(), /*serving=*/false)) {
      grpc_server->GetHealthCheckService()->SetServingStatus(name, false);
    }
    FLOE_LOG(kInfo) << "serve: gRPC on " << options.host << ":" << bound_port
                    << " (arctic_inference.InferenceService, floe.v1.EmbeddingService, tei.v1)";
  }

  HttpServer http(&frontend);
  if (options.enable_http) {
    if (Status s = http.Start(options.host, options.http_port); !s.ok()) {
      FLOE_LOG(kError) << "serve: " << s.message();
      if (grpc_server) grpc_server->Shutdown();
      return 1;
    }
    FLOE_LOG(kInfo) << "serve: HTTP on " << options.host << ":" << http.port()
                    << " (POST /v1/embeddings)";
  }
  // Health says "not serving" until the first replica is ready; when no
  // replica can start (a model that does not load), the server fails here.
  Status replicas_ready = replicas->AwaitReady(1e9, [&set] {
    sigset_t pending;
    sigpending(&pending);
    return sigismember(&pending, SIGTERM) || sigismember(&pending, SIGINT);
  });
  if (!replicas_ready.ok() && replicas_ready.code() != StatusCode::kCancelled) {
    FLOE_LOG(kError) << "serve: " << replicas_ready.message();
    if (grpc_server) grpc_server->Shutdown();
    http.Stop();
    replicas->Drain();
    return 1;
  }
  if (grpc_health) grpc_health->Update();
  FLOE_LOG(kInfo) << "serve: ready, serving model '" << frontend.model_name() << "'";

  const int sig = WaitForSignal(set);
  FLOE_LOG(kInfo) << "serve: " << (sig == SIGTERM ? "SIGTERM" : "SIGINT")
                  << ": draining in-flight requests";
  frontend.StartDrain();
  if (grpc_health) grpc_health->Stop();  // NOT_SERVING from now on
  // Stop accepting on both fronts at once; each waits for its in-flight calls.
  std::thread grpc_stop([&] {
    if (grpc_server) {
      grpc_server->Shutdown(std::chrono::system_clock::now() +
                            std::chrono::milliseconds(
                                static_cast<int64_t>(options.drain_timeout_s * 1000)));
    }
  });
  http.Stop();
  grpc_stop.join();
  replicas->Drain();
  FLOE_LOG(kInfo) << "serve: stopped";
  return 0;
}

}  // namespace floe
