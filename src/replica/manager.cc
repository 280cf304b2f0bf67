#include "replica/manager.h"

#include <sched.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <sstream>

#include "core/log.h"
#include "replica/local_replica.h"
#include "replica/worker_codec.h"

namespace floe {
namespace {

std::vector<int> AllowedCores() {
  std::vector<int> cores;
  cpu_set_t mask;
  CPU_ZERO(&mask);
  if (sched_getaffinity(0, sizeof(mask), &mask) == 0) {
    for (int c = 0; c < CPU_SETSIZE; ++c) {
      if (CPU_ISSET(c, &mask)) cores.push_back(c);
    }
  }
  if (cores.empty()) {
    const long n = sysconf(_SC_NPROCESSORS_ONLN);
    for (int c = 0; c < std::max<long>(1, n); ++c) cores.push_back(c);
  }
  return cores;
}

const char* LevelName(LogLevel l) {
  switch (l) {
    case LogLevel::kDebug: return "debug";
    case LogLevel::kInfo: return "info";
    case LogLevel::kWarn: return "warn";
    case LogLevel::kError: return "error";
    case LogLevel::kOff: return "error";
  }
  return "info";
}

// The GPUs this process may use, as CUDA numbers them: CUDA_VISIBLE_DEVICES
// when set, else 0..n-1 for the n GPUs the driver lists (-1 when unknown).
std::vector<std::string> VisibleGpus(int* detected) {
  *detected = -1;
  std::error_code ec;
  const std::filesystem::path dir = "/proc/driver/nvidia/gpus";
  if (std::filesystem::is_directory(dir, ec)) {
    int n = 0;
    for (const auto& e : std::filesystem::directory_iterator(dir, ec)) (void)e, ++n;
    *detected = n;
  }
  std::vector<std::string> out;
  if (const char* env = std::getenv("CUDA_VISIBLE_DEVICES"); env && *env) {
    std::stringstream ss(env);
    std::string item;
    while (std::getline(ss, item, ',')) {
      if (!item.empty()) out.push_back(item);
    }
    *detected = static_cast<int>(out.size());
    return out;
  }
  for (int i = 0; i < std::max(0, *detected); ++i) out.push_back(std::to_string(i));
  return out;
}

// Total memory of GPU `gpu` in bytes from nvidia-smi; 0 when unknown.
uint64_t GpuMemoryBytes(const std::string& gpu) {
  const std::string cmd = "nvidia-smi --query-gpu=memory.total --format=csv,noheader,nounits -i " +
                          gpu + " 2>/dev/null";
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return 0;
  char buf[128] = {0};
  const bool got = fgets(buf, sizeof(buf), p) != nullptr;
  pclose(p);
  if (!got) return 0;
  const double mib = std::atof(buf);
  return mib > 0 ? static_cast<uint64_t>(mib * 1024 * 1024) : 0;
}

// Weights as they will sit on the device: the safetensors files' size,
// halved for 16-bit compute dtypes (weights are usually stored as float32).
uint64_t ModelBytes(const std::string& model, const std::string& dtype) {
  uint64_t bytes = 0;
  std::error_code ec;
  if (std::filesystem::is_directory(model, ec)) {
    for (const auto& e : std::filesystem::directory_iterator(model, ec)) {
      if (e.path().extension() == ".safetensors") bytes += e.file_size(ec);
    }
  }
  if (dtype == "float16" || dtype == "bfloat16") bytes /= 2;
  if (dtype == "int8") bytes /= 4;
  return bytes;
}

std::string Gib(uint64_t b) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.2f GiB", static_cast<double>(b) / (1u << 30));
  return buf;
}

}  // namespace

bool ReplicasInProcess(const ReplicaOptions& o) {
  if (o.replica_mode == "inprocess") return true;
  if (o.replica_mode == "process") return false;
  return o.num_replicas == 1 && o.engine.device.rfind("cuda", 0) != 0;
}

StatusOr<ReplicaPlan> PlanReplicas(const ReplicaOptions& o) {
  ReplicaPlan plan;
  if (!ParseBalancePolicy(o.load_balancing, &plan.policy)) {
    return InvalidArgumentError("--load-balancing '" + o.load_balancing +
                                "': expected round_robin | random | least_loaded");
  }
  if (o.num_replicas < 1) {
    return InvalidArgumentError("--num-replicas " + std::to_string(o.num_replicas) +
                                ": must be at least 1");
  }
  if (o.replica_mode != "auto" && o.replica_mode != "process" && o.replica_mode != "inprocess") {
    return InvalidArgumentError("--replica-mode '" + o.replica_mode +
                                "': expected auto | process | inprocess");
  }
  if (o.tensor_parallel_size != 1) {
    return InvalidArgumentError(
        "--tensor-parallel-size " + std::to_string(o.tensor_parallel_size) +
        ": only 1 is supported (floe's backends have no tensor parallelism yet; an "
        "embedding model fits one device: use --num-replicas to scale out)");
  }
  const double gpu_share = o.engine.gpu_memory_fraction;  // --gpu-memory-utilization
  if (!(gpu_share > 0 && gpu_share <= 1)) {
    return InvalidArgumentError("--gpu-memory-utilization " + std::to_string(gpu_share) +
                                ": must be in (0, 1]");
  }
  if (o.gpu_assignment != "dedicated" && o.gpu_assignment != "shared") {
    return InvalidArgumentError("--gpu-assignment '" + o.gpu_assignment +
                                "': expected dedicated | shared");
  }
  if (o.health_interval_s <= 0 || o.health_failures < 1 || o.forward_timeout_s <= 0 ||
      o.max_restarts < 0) {
    return InvalidArgumentError(
        "--health-interval and --forward-timeout must be > 0, --health-failures >= 1, "
        "--max-restarts >= 0");
  }
  plan.in_process = ReplicasInProcess(o);
  if (plan.in_process) {
    if (o.num_replicas != 1) {
      return InvalidArgumentError("--replica-mode inprocess runs one replica; --num-replicas " +
                                  std::to_string(o.num_replicas) + " needs worker processes");
    }
    return plan;
  }

  std::string binary = o.worker_binary;
  if (binary.empty()) {
    std::error_code ec;
    binary = std::filesystem::read_symlink("/proc/self/exe", ec).string();
    if (ec) return InternalError("cannot find this executable: " + ec.message());
  }
  const std::string log_level = o.log_level.empty() ? LevelName(GetLogLevel()) : o.log_level;
  const int n = o.num_replicas;
  auto base = [&](int i) {
    ProcessReplicaOptions w;
    w.id = i;
    w.binary = binary;
    w.model = o.model;
    w.engine = o.engine;  // device, threads and GPU share set per worker below
    w.engine.gpu_memory_fraction = 0;  // no GPU: no share
    w.log_level = log_level;
    w.health_interval_s = o.health_interval_s;
    w.health_failures = o.health_failures;
    w.forward_timeout_s = o.forward_timeout_s;
    w.max_restarts = o.max_restarts;
    return w;
  };

  if (o.engine.device.rfind("cuda", 0) == 0) {
    if (o.num_gpus < 1) {
      return InvalidArgumentError("--num-gpus " + std::to_string(o.num_gpus) +
                                  ": must be at least 1 with --device " + o.engine.device);
    }
    int detected = -1;
    std::vector<std::string> gpus = VisibleGpus(&detected);
    if (detected >= 0 && o.num_gpus > detected) {
      return InvalidArgumentError("--num-gpus " + std::to_string(o.num_gpus) + ": only " +
                                  std::to_string(detected) + " GPU(s) visible");
    }
    if (gpus.empty()) {
      for (int g = 0; g < o.num_gpus; ++g) gpus.push_back(std::to_string(g));
    }
    gpus.resize(o.num_gpus);
    const int g_count = o.num_gpus;
    if (o.gpu_assignment == "dedicated" && n > g_count) {
      FLOE_LOG(kWarn) << "--gpu-assignment dedicated: " << n << " replicas on " << g_count
                      << " GPU(s); GPUs are shared (replica i on GPU i mod " << g_count << ")";
    }
    std::string all;
    for (const auto& g : gpus) all += (all.empty() ? "" : ",") + g;
    std::vector<int> per_gpu(g_count, 0);
    for (int i = 0; i < n; ++i) {
      ProcessReplicaOptions w = base(i);
      const int g = i % g_count;
      per_gpu[g]++;
      if (o.gpu_assignment == "dedicated") {
        w.env.push_back({"CUDA_VISIBLE_DEVICES", gpus[g]});
        w.engine.device = "cuda:0";
      } else {
        w.env.push_back({"CUDA_VISIBLE_DEVICES", all});
        w.engine.device = "cuda:" + std::to_string(g);
      }
      w.placement = "gpu " + gpus[g];
      w.engine.num_threads = 1;  // host threads: the GPU does the math
      plan.workers.push_back(std::move(w));
    }
    // Each engine holds its share of its GPU's --gpu-memory-utilization.
    for (int i = 0; i < n; ++i) {
      plan.workers[i].engine.gpu_memory_fraction = gpu_share / per_gpu[i % g_count];
    }
    // --gpu-memory-utilization: the replicas of one GPU must fit its share.
    const uint64_t model_bytes = ModelBytes(o.model, o.engine.dtype);
    for (int g = 0; g < g_count && model_bytes > 0; ++g) {
      const uint64_t total = GpuMemoryBytes(gpus[g]);
      if (total == 0) {
        FLOE_LOG(kWarn) << "--gpu-memory-utilization: cannot read GPU " << gpus[g]
                        << "'s memory (nvidia-smi); not checked";
        break;
      }
      const uint64_t need = model_bytes * static_cast<uint64_t>(per_gpu[g]);
      const uint64_t allowed = static_cast<uint64_t>(gpu_share * total);
      if (need > allowed) {
        return InvalidArgumentError(
            "--gpu-memory-utilization " + std::to_string(gpu_share) + ": GPU " +
            gpus[g] + " has " + Gib(total) + "; its " + std::to_string(per_gpu[g]) +
            " replica(s) need at least " + Gib(need) + " of weights, over the " + Gib(allowed) +
            " allowed (fewer --num-replicas, more --num-gpus, or a 16-bit --dtype)");
      }
    }
    return plan;
  }

  // CPU: disjoint core sets (pinned), threads split among the replicas.
  const std::vector<int> cores = AllowedCores();
  const int c = static_cast<int>(cores.size());
  const int total_threads = o.engine.num_threads > 0 ? o.engine.num_threads : c;
  if (n > c) {
    FLOE_LOG(kWarn) << "--num-replicas " << n << " on " << c
                    << " cores: replicas share cores (one thread each)";
  }
  for (int i = 0; i < n; ++i) {
    ProcessReplicaOptions w = base(i);
    std::vector<int> mine;
    if (n <= c) {
      for (int k = i * c / n; k < (i + 1) * c / n; ++k) mine.push_back(cores[k]);
    } else {
      mine.push_back(cores[i % c]);
    }
    w.cores = worker::FormatCpuList(mine);
    w.engine.num_threads = std::max(1, total_threads / n + (i < total_threads % n ? 1 : 0));
    w.placement = "cores " + w.cores;
    plan.workers.push_back(std::move(w));
  }
  return plan;
}

StatusOr<std::shared_ptr<ReplicaSet>> StartReplicas(const ReplicaOptions& options,
                                                    std::shared_ptr<Embedder> embedder) {
  FLOE_ASSIGN_OR_RETURN(ReplicaPlan plan, PlanReplicas(options));
  std::vector<std::shared_ptr<Replica>> replicas;
  if (plan.in_process) {
    if (!embedder) return InternalError("StartReplicas: in-process replica needs the Embedder");
    LocalReplicaOptions lo;
    lo.id = 0;  // its token budget is its engine's (the Embedder's options)
    replicas.push_back(std::make_shared<LocalReplica>(std::move(embedder), lo));
  } else {
    // Each ProcessReplica spawns its worker from its own thread: all start at once.
    for (auto& w : plan.workers) {
      FLOE_LOG(kInfo) << "replica " << w.id << ": starting a worker on " << w.engine.device
                      << ", " << w.placement << ", " << w.engine.num_threads << " thread(s)";
      replicas.push_back(std::make_shared<ProcessReplica>(std::move(w)));
    }
  }
  return std::make_shared<ReplicaSet>(std::move(replicas), plan.policy, options.max_attempts);
}

}  // namespace floe
