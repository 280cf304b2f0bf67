// The replica manager: turns `floe serve`'s replica flags into a ReplicaSet.
//
// In-process (one LocalReplica over the frontend's Embedder) or N `floe
// worker` processes (ProcessReplica), started in parallel, each pinned to its
// own share of the cores (CPU) or given its GPU (CUDA_VISIBLE_DEVICES), then
// watched, retried and restarted as process_replica.h and replica_set.h say.
// Flags are named as ArcticInference names them.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/status.h"
#include "floe/embedder.h"
#include "replica/process_replica.h"
#include "replica/replica_set.h"

namespace floe {

// The engine options `floe serve` starts from, as its flags' defaults say:
// RuntimeOptions' own, with a GPU memory share of 0.9.
inline RuntimeOptions ServeEngineDefaults() {
  RuntimeOptions e;
  e.gpu_memory_fraction = 0.9;
  return e;
}

struct ReplicaOptions {
  std::string model;
  // --device, --dtype, --threads, --max-batch-tokens and
  // --gpu-memory-utilization, one struct from the command line to every
  // engine. Here num_threads counts the encoder threads of all replicas
  // together (0 = the cores this process may use) and gpu_memory_fraction is
  // the share of each GPU its replicas take together; PlanReplicas gives each
  // worker its part (its device as the worker sees it, its threads, its
  // share) and passes the rest on as it is.
  RuntimeOptions engine = ServeEngineDefaults();

  int num_replicas = 1;                    // --num-replicas
  std::string replica_mode = "auto";       // --replica-mode auto | process | inprocess
  std::string load_balancing = "round_robin";  // --load-balancing
  int num_gpus = 1;                        // --num-gpus
  std::string gpu_assignment = "dedicated";  // --gpu-assignment dedicated | shared
  int tensor_parallel_size = 1;            // --tensor-parallel-size (only 1)
  double health_interval_s = 1.0;          // --health-interval
  int health_failures = 3;                 // --health-failures
  double forward_timeout_s = 120.0;        // --forward-timeout
  int max_restarts = 5;                    // --max-restarts (in a row)
  int max_attempts = 3;                    // tries per request (first + retries)

  std::string worker_binary;  // "" = this executable (/proc/self/exe)
  std::string log_level;      // passed to workers; "" = this process's level
};

// What the options mean on this machine, computed without starting anything.
struct ReplicaPlan {
  bool in_process = true;
  std::vector<ProcessReplicaOptions> workers;  // empty when in_process
  BalancePolicy policy = BalancePolicy::kRoundRobin;
};

// Checks the options (tensor parallelism, GPU count and memory, policy) and
// plans cores, threads, GPUs per worker. INVALID_ARGUMENT naming the flag.
StatusOr<ReplicaPlan> PlanReplicas(const ReplicaOptions& options);

// True when `options` run the engine in this process (then StartReplicas
// needs the Embedder). auto: in-process for one CPU replica (docs/replicas.md
// has the measurement behind this default).
bool ReplicasInProcess(const ReplicaOptions& options);

// Starts the replicas and returns at once: worker processes load in the
// background (ReplicaSet::AwaitReady waits for the first; until then the set
// is not healthy). `embedder` is used only in-process and is then required.
StatusOr<std::shared_ptr<ReplicaSet>> StartReplicas(const ReplicaOptions& options,
                                                    std::shared_ptr<Embedder> embedder);

}  // namespace floe
