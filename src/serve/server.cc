#include "serve/server.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <signal.h>

#include <thread>

#include "core/log.h"
#include "replica/local_replica.h"
#include "serve/grpc_services.h"
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
  if (options.num_replicas != 1) {
    FLOE_LOG(kError) << "serve: --num-replicas " << options.num_replicas
                     << " needs the replica manager, which is not built yet; use 1";
    return 1;
  }
  BalancePolicy policy;
  if (!ParseBalancePolicy(options.load_balancing, &policy)) {
    FLOE_LOG(kError) << "serve: unknown --load-balancing '" << options.load_balancing
                     << "' (round_robin | random | least_loaded)";
    return 1;
  }

  EmbedderOptions eopts;
  eopts.device = options.device;
  eopts.dtype = options.dtype;
  eopts.num_threads = options.threads;
  eopts.max_batch_tokens = options.max_batch_tokens;
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
  LocalReplicaOptions ropts;
  ropts.id = 0;
  ropts.max_batch_tokens = options.max_batch_tokens;
  ropts.observer = [&metrics](size_t tokens, size_t, double seconds) {
    metrics.batches.fetch_add(1);
    metrics.batch_tokens.Observe(static_cast<double>(tokens));
    metrics.forward_seconds.Observe(seconds);
  };
  auto replicas = std::make_shared<ReplicaSet>(
      std::vector<std::shared_ptr<Replica>>{std::make_shared<LocalReplica>(embedder, ropts)},
      policy);
  Frontend frontend(options, embedder, replicas, &metrics);
  metrics.AddGauge("floe_queue_tokens", "Tokens submitted to replicas and not yet answered.",
                   [&replicas] { return static_cast<double>(replicas->queued_tokens()); });
  metrics.AddGauge("floe_queue_depth", "Requests queued at replicas.", [&replicas] {
    double n = 0;
    for (const auto& s : replicas->stats()) n += static_cast<double>(s.queued_jobs);
    return n;
  });
  metrics.AddGauge("floe_replicas_healthy", "Replicas that can serve.",
                   [&replicas] { return static_cast<double>(replicas->healthy_count()); });

  // gRPC: both services, health and reflection on one port.
  ArcticService arctic(&frontend);
  FloeService floe_v1(&frontend);
  std::unique_ptr<grpc::Server> grpc_server;
  if (options.enable_grpc) {
    grpc::EnableDefaultHealthCheckService(true);
    grpc::reflection::InitProtoReflectionServerBuilderPlugin();
    grpc::ServerBuilder builder;
    int bound_port = 0;
    builder.AddListeningPort(options.host + ":" + std::to_string(options.grpc_port),
                             grpc::InsecureServerCredentials(), &bound_port);
    builder.RegisterService(&arctic);
    builder.RegisterService(&floe_v1);
    builder.SetMaxReceiveMessageSize(static_cast<int>(
        std::min<size_t>(options.max_body_bytes, static_cast<size_t>(INT32_MAX))));
    builder.SetMaxSendMessageSize(-1);
    grpc_server = builder.BuildAndStart();
    if (!grpc_server || bound_port == 0) {
      FLOE_LOG(kError) << "serve: cannot listen for gRPC on " << options.host << ":"
                       << options.grpc_port << " (in use? --port)";
      return 1;
    }
    auto* health = grpc_server->GetHealthCheckService();
    if (health) health->SetServingStatus(true);
    FLOE_LOG(kInfo) << "serve: gRPC on " << options.host << ":" << bound_port
                    << " (arctic_inference.InferenceService, floe.v1.EmbeddingService)";
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
  FLOE_LOG(kInfo) << "serve: ready, serving model '" << frontend.model_name() << "'";

  const int sig = WaitForSignal(set);
  FLOE_LOG(kInfo) << "serve: " << (sig == SIGTERM ? "SIGTERM" : "SIGINT")
                  << ": draining in-flight requests";
  frontend.StartDrain();
  if (grpc_server) {
    if (auto* health = grpc_server->GetHealthCheckService()) health->SetServingStatus(false);
  }
  // Stop accepting on both fronts at once; each waits for its in-flight calls.
  std::thread grpc_stop([&] {
    if (grpc_server) {
      grpc_server->Shutdown(std::chrono::system_clock::now() +
                            std::chrono::milliseconds(static_cast<int64_t>(
                                options.drain_timeout_s * 1000)));
    }
  });
  http.Stop();
  grpc_stop.join();
  replicas->Drain();
  FLOE_LOG(kInfo) << "serve: stopped";
  return 0;
}

}  // namespace floe
