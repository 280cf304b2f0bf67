// A Replica that is a `floe worker` process: spawns it, talks to it over
// gRPC on a Unix socket, watches it and starts it again when it dies.
//
// One supervisor thread per replica owns the process: it spawns the worker
// (posix_spawn, own process group, status pipe on fd 3), waits for its
// READY / ERROR line, then watches it: process exit through a pidfd, and a
// Health probe every `health_interval_s`. `health_failures` failed probes in
// a row or an exit take the replica out at once (healthy() turns false, calls
// in flight fail with UNAVAILABLE so the ReplicaSet retries them elsewhere);
// a hung worker is killed. A dead worker is started again after an
// exponential back-off (restart_backoff_s, doubling, capped at 30 s); after
// `max_restarts` failed starts in a row (a worker that stays up for 60 s
// resets the count), or when its very first start fails (a model that cannot
// load will not load the next time either), the replica gives up: state
// kStopped, gave_up, last_error says why.
#pragma once

#include <sys/types.h>

#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "floe/embedder.h"
#include "floe/internal/worker.grpc.pb.h"
#include "replica/replica.h"

namespace floe {

struct ProcessReplicaOptions {
  int id = 0;
  std::string binary;  // the `floe` executable
  std::string model;
  // Passed to the worker's Embedder::Open as it is; its device as the worker
  // sees it (after CUDA_VISIBLE_DEVICES), its gpu_memory_fraction this
  // engine's share of that GPU.
  RuntimeOptions engine;
  std::string cores;      // CPU list to pin to; "" = not pinned
  std::string placement;  // for stats: "cores 0-1", "gpu 1"
  std::vector<std::pair<std::string, std::string>> env;  // added to the worker's environment
  std::string log_level = "warn";

  double health_interval_s = 1.0;
  int health_failures = 3;
  double forward_timeout_s = 120.0;
  int max_restarts = 5;
  double restart_backoff_s = 0.5;
  double start_timeout_s = 600.0;  // model load
};

class ProcessReplica : public Replica {
 public:
  // Starts the supervisor thread, which spawns the worker; returns at once.
  explicit ProcessReplica(ProcessReplicaOptions options);
  ~ProcessReplica() override;  // Drain()
  ProcessReplica(const ProcessReplica&) = delete;
  ProcessReplica& operator=(const ProcessReplica&) = delete;

  // UNAVAILABLE at once when not ready. The call's deadline is the job's, or
  // now + forward_timeout_s when sooner; a timeout that is not the job's own
  // comes back as UNAVAILABLE (so it is retried elsewhere).
  void Submit(std::shared_ptr<EmbedJob> job, EmbedCallback done) override;
  bool Cancel(const std::string& request_id) override;
  bool healthy() const override;
  ReplicaStats stats() const override;
  // Every worker's passes: those of workers that died (as of their last
  // Health answer) plus the running one's, as of its last Health answer.
  BatchStats batch_stats() const override;
  // Stops taking work, waits (up to 30 s) for calls in flight, then SIGTERMs
  // the worker (SIGKILL after 5 s) and reaps it. Idempotent.
  void Drain() override;

  // The worker's pid, 0 when none runs. For tests and logs.
  pid_t pid() const;
  // What the running worker says its engine got (device, dtype, threads,
  // batch tokens, GPU memory share); device "" until a worker is ready.
  RuntimeOptions worker_engine() const;

 private:
  struct Call;
  void Supervise();
  // Spawns a worker and waits for its handshake. Returns the error line or
  // reason on failure (the worker is reaped then).
  Status SpawnAndWait();
  // Watches a ready worker until it exits, fails its probes, or Drain().
  void Watch();
  void KillAndReap(int sig);
  void FailInFlight(const std::string& why);
  // Sleeps up to `seconds`; false when Drain() interrupted it.
  bool SleepUnlessStopping(double seconds);

  ProcessReplicaOptions options_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  ReplicaState state_ = ReplicaState::kStarting;  // GUARDED_BY(mu_)
  bool stopping_ = false;                          // GUARDED_BY(mu_)
  pid_t pid_ = 0;                                  // GUARDED_BY(mu_)
  int pidfd_ = -1;                                 // supervisor thread only
  int generation_ = 0;                             // GUARDED_BY(mu_)
  std::shared_ptr<grpc::Channel> channel_;         // GUARDED_BY(mu_)
  std::shared_ptr<internal::Worker::Stub> stub_;       // GUARDED_BY(mu_)
  std::map<uint64_t, std::shared_ptr<Call>> calls_;  // GUARDED_BY(mu_)
  uint64_t next_call_ = 0;                         // GUARDED_BY(mu_)
  uint64_t queued_tokens_ = 0;                     // GUARDED_BY(mu_)
  uint64_t served_ = 0;                            // GUARDED_BY(mu_)
  uint64_t restarts_ = 0;                          // GUARDED_BY(mu_)
  BatchStats worker_batches_;   // GUARDED_BY(mu_): the running worker's
  BatchStats retired_batches_;  // GUARDED_BY(mu_): workers gone
  std::string last_error_;                         // GUARDED_BY(mu_)
  bool gave_up_ = false;                           // GUARDED_BY(mu_)
  RuntimeOptions worker_engine_;  // GUARDED_BY(mu_): as the worker's Info said; device "" before
  int wake_fd_ = -1;  // eventfd: wakes the supervisor's poll on Drain()
  std::mutex drain_mu_;
  bool drained_ = false;  // GUARDED_BY(drain_mu_)
  std::thread supervisor_;
};

}  // namespace floe
