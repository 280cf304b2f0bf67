#include "replica/worker_server.h"

#include <grpcpp/grpcpp.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <chrono>
#include <thread>

#include "api/shared_engine.h"
#include "core/log.h"
#include "floe/embedder.h"
#include "floe/internal/worker.grpc.pb.h"
#include "replica/local_replica.h"
#include "replica/worker_codec.h"

namespace floe {
namespace {

namespace pb = ::floe::internal;

void WriteStatus(int fd, const std::string& line) {
  std::string s = line + "\n";
  if (fd < 0) {
    fputs(s.c_str(), stdout);
    fflush(stdout);
    return;
  }
  const char* p = s.data();
  size_t left = s.size();
  while (left > 0) {
    ssize_t n = write(fd, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    p += n;
    left -= static_cast<size_t>(n);
  }
}

// One Embed call: submitted to the LocalReplica, finished from its callback.
// A client that cancels (the frontend's Cancel, or the frontend going away)
// drops the queued work.
class EmbedReactor : public grpc::ServerUnaryReactor {
 public:
  EmbedReactor(LocalReplica* replica, std::shared_ptr<EmbedJob> job)
      : replica_(replica), job_(std::move(job)) {}
  void OnCancel() override {
    job_->cancelled = true;
    replica_->Cancel(job_->request_id);
  }
  void OnDone() override { delete this; }

 private:
  LocalReplica* replica_;
  std::shared_ptr<EmbedJob> job_;
};

class WorkerService final : public pb::Worker::CallbackService {
 public:
  // `engine`: the options the engine's backend was created with, as Info
  // reports them.
  WorkerService(LocalReplica* replica, const Embedder* embedder, const WorkerOptions& options,
                const RuntimeOptions& engine)
      : replica_(replica), embedder_(embedder), options_(options), engine_(engine) {}

  grpc::ServerUnaryReactor* Embed(grpc::CallbackServerContext* ctx,
                                  const pb::WorkerEmbedRequest* req,
                                  pb::WorkerEmbedResponse* resp) override {
    auto job = std::make_shared<EmbedJob>();
    const auto deadline = ctx->deadline();
    if (deadline != std::chrono::system_clock::time_point::max()) {
      job->deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                         deadline - std::chrono::system_clock::now());
    }
    auto* reactor = new EmbedReactor(replica_, job);
    if (Status s = worker::RequestToJob(*req, job.get()); !s.ok()) {
      reactor->Finish(worker::ToGrpc(s));
      return reactor;
    }
    replica_->Submit(job, [reactor, resp](StatusOr<EmbedOutput> r) {
      if (!r.ok()) {
        reactor->Finish(worker::ToGrpc(r.status()));
        return;
      }
      reactor->Finish(worker::ToGrpc(worker::OutputToResponse(*r, resp)));
    });
    return reactor;
  }

  grpc::ServerUnaryReactor* Health(grpc::CallbackServerContext* ctx,
                                   const pb::WorkerHealthRequest*,
                                   pb::WorkerHealthResponse* resp) override {
    ReplicaStats s = replica_->stats();
    resp->set_serving(replica_->healthy());
    resp->set_queued_jobs(s.queued_jobs);
    resp->set_queued_tokens(s.queued_tokens);
    resp->set_requests_served(s.requests_served);
    worker::BatchStatsToProto(replica_->batch_stats(), resp->mutable_batches());
    auto* reactor = ctx->DefaultReactor();
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }

  grpc::ServerUnaryReactor* Info(grpc::CallbackServerContext* ctx, const pb::WorkerInfoRequest*,
                                 pb::WorkerInfoResponse* resp) override {
    resp->set_pid(getpid());
    resp->set_device(embedder_->info().device);
    resp->set_dtype(embedder_->info().dtype);
    resp->set_hidden_size(embedder_->info().hidden_size);
    resp->set_threads(engine_.num_threads);
    resp->set_cores(options_.cores);
    resp->set_max_batch_tokens(engine_.max_batch_tokens);
    resp->set_gpu_memory_fraction(engine_.gpu_memory_fraction);
    auto* reactor = ctx->DefaultReactor();
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }

 private:
  LocalReplica* replica_;
  const Embedder* embedder_;
  WorkerOptions options_;
  RuntimeOptions engine_;
};

}  // namespace

int RunWorkerProcess(const WorkerOptions& in) {
  WorkerOptions options = in;
  // Die with the manager. PDEATHSIG covers a parent that dies from now on;
  // the pid check covers one that died before prctl ran.
  if (options.parent_pid > 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != options.parent_pid) _exit(1);
  }
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  signal(SIGPIPE, SIG_IGN);

  const std::string who = "worker " + std::to_string(options.id);
  auto fail = [&](const std::string& message) {
    FLOE_LOG(kError) << who << ": " << message;
    WriteStatus(options.status_fd, "ERROR " + message);
    return 3;
  };

  if (!options.cores.empty()) {
    std::vector<int> cores;
    if (!worker::ParseCpuList(options.cores, &cores)) {
      return fail("bad --cores '" + options.cores + "'");
    }
    cpu_set_t mask;
    CPU_ZERO(&mask);
    for (int c : cores) {
      if (c < CPU_SETSIZE) CPU_SET(c, &mask);
    }
    if (sched_setaffinity(0, sizeof(mask), &mask) != 0) {
      return fail("cannot pin to cores " + options.cores + ": " + std::strerror(errno));
    }
    if (options.engine.num_threads <= 0) {
      options.engine.num_threads = static_cast<int>(cores.size());
    }
  }

  const auto t0 = Clock::now();
  auto opened = Embedder::Open(options.model, options.engine);
  if (!opened.ok()) {
    return fail("cannot load model '" + options.model + "': " + opened.status().ToString());
  }
  std::shared_ptr<Embedder> embedder = std::move(opened).value();

  // What the engine's backend got (Engine::options()), for Info: the worker
  // reports what reached its engine, not what its flags said.
  const std::shared_ptr<SharedEngine> engine = EngineOf(embedder);
  const RuntimeOptions got = engine->engine ? engine->engine->options() : options.engine;
  LocalReplicaOptions ropts;
  ropts.id = options.id;
  LocalReplica replica(embedder, ropts);
  WorkerService service(&replica, embedder.get(), options, got);

  grpc::ServerBuilder builder;
  builder.AddListeningPort(options.address, grpc::InsecureServerCredentials());
  builder.RegisterService(&service);
  builder.SetMaxReceiveMessageSize(-1);
  builder.SetMaxSendMessageSize(-1);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (!server) return fail("cannot listen on " + options.address);

  FLOE_LOG(kInfo) << who << ": pid " << getpid() << " ready on " << options.address << " ("
                  << embedder->info().device
                  << (options.cores.empty() ? "" : ", cores " + options.cores) << ", "
                  << options.engine.num_threads << " threads) after "
                  << std::chrono::duration<double>(Clock::now() - t0).count() << " s";
  WriteStatus(options.status_fd, "READY");
  if (options.status_fd >= 0) close(options.status_fd);

  // The signal wait, with a parent check once a second in case PDEATHSIG was
  // lost (it is tied to the thread that forked us).
  int sig = 0;
  siginfo_t info{};
  for (;;) {
    timespec ts{1, 0};
    sig = sigtimedwait(&set, &info, &ts);
    if (sig > 0) break;
    if (options.parent_pid > 0 && getppid() != options.parent_pid) {
      FLOE_LOG(kWarn) << who << ": parent " << options.parent_pid << " is gone; exiting";
      _exit(1);
    }
  }
  // Info when the manager stopped us, a warning when someone else did.
  if (info.si_pid == options.parent_pid) {
    FLOE_LOG(kDebug) << who << ": " << strsignal(sig) << " from the manager, draining";
  } else {
    FLOE_LOG(kWarn) << who << ": " << strsignal(sig) << " from pid " << info.si_pid
                    << ", draining";
  }
  replica.Drain();  // answers what is queued
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
  return 0;
}

}  // namespace floe
