// The replica manager driven directly (StartReplicas -> ReplicaSet) over
// real `floe worker` processes: balancing, the tokens-in-flight counter,
// retries when a worker dies, giving up, and the worker's parent watch.
#include <gtest/gtest.h>
#include <poll.h>

#include <atomic>
#include <algorithm>
#include <condition_variable>
#include <map>
#include <mutex>

#include "replica/manager.h"
#include "replica/process_replica.h"
#include "replica/worker_codec.h"
#include "replica_test_util.h"
#include "serve/server_process.h"

namespace floe {
namespace {

using test::ProcessAlive;
using test::WaitFor;

ReplicaOptions TwoWorkers(const std::string& policy) {
  ReplicaOptions o;
  o.model = test::FixtureModel();
  o.num_replicas = 2;
  o.replica_mode = "process";
  o.load_balancing = policy;
  o.worker_binary = FLOE_BINARY;
  o.health_interval_s = 0.2;
  o.health_failures = 2;
  o.forward_timeout_s = 5;
  o.max_restarts = 3;
  o.log_level = "error";
  return o;
}

std::shared_ptr<ReplicaSet> Start(const ReplicaOptions& o) {
  auto set = StartReplicas(o, nullptr);
  EXPECT_TRUE(set.ok()) << set.status().ToString();
  if (!set.ok()) return nullptr;
  // Both ready (AwaitReady returns at the first).
  EXPECT_TRUE(WaitFor([&] { return (*set)->healthy_count() == (*set)->size(); }, 30));
  return *set;
}

pid_t WorkerPid(ReplicaSet& set, int i) {
  return static_cast<ProcessReplica*>(set.replica(i).get())->pid();
}

std::shared_ptr<EmbedJob> Job(const std::string& id, std::vector<std::vector<int32_t>> inputs) {
  auto j = std::make_shared<EmbedJob>();
  j->request_id = id;
  j->inputs = std::move(inputs);
  return j;
}

// Counts callbacks; each must run exactly once.
struct Tally {
  std::mutex mu;
  std::condition_variable cv;
  int done = 0, ok = 0;
  std::map<StatusCode, int> codes;
  EmbedCallback Callback() {
    return [this](StatusOr<EmbedOutput> r) {
      std::lock_guard<std::mutex> lock(mu);
      ++done;
      if (r.ok()) ++ok;
      else codes[r.status().code()]++;
      cv.notify_all();
    };
  }
  bool WaitDone(int n, double seconds) {
    std::unique_lock<std::mutex> lock(mu);
    return cv.wait_for(lock, std::chrono::duration<double>(seconds), [&] { return done >= n; });
  }
};

std::vector<int32_t> Ids(int n) {
  std::vector<int32_t> ids = {101};
  for (int i = 0; i < n - 2; ++i) ids.push_back(1000 + (i * 37) % 5000);
  ids.push_back(102);
  return ids;
}

TEST(Manager, PlansDisjointCoresAndRefusesTensorParallel) {
  ReplicaOptions o = TwoWorkers("round_robin");
  auto plan = PlanReplicas(o);
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  ASSERT_EQ(plan->workers.size(), 2u);
  const int cores = static_cast<int>(std::thread::hardware_concurrency());
  if (cores >= 2) {
    std::vector<int> a, b;
    ASSERT_TRUE(worker::ParseCpuList(plan->workers[0].cores, &a));
    ASSERT_TRUE(worker::ParseCpuList(plan->workers[1].cores, &b));
    for (int x : a) EXPECT_EQ(std::count(b.begin(), b.end(), x), 0) << "core shared: " << x;
  }
  o.tensor_parallel_size = 2;
  auto refused = PlanReplicas(o);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("--tensor-parallel-size"), std::string::npos);
  o.tensor_parallel_size = 1;
  o.engine.gpu_memory_fraction = 1.5;  // --gpu-memory-utilization
  EXPECT_FALSE(PlanReplicas(o).ok());
  // GPU assignment (planned only; nothing starts).
  o.engine.gpu_memory_fraction = 0.9;
  o.engine.device = "cuda";
  o.num_gpus = 1;
  o.num_replicas = 3;
  o.gpu_assignment = "shared";
  if (auto p = PlanReplicas(o); p.ok()) {
    for (const auto& w : p->workers) EXPECT_EQ(w.placement, "gpu " + p->workers[0].placement.substr(4));
  }
}

TEST(Manager, RoundRobinSkipsUnhealthyReplica) {
  ReplicaOptions o = TwoWorkers("round_robin");
  o.max_restarts = 0;  // a dead replica stays out
  auto set = Start(o);
  ASSERT_TRUE(set);
  const pid_t victim = WorkerPid(*set, 1);
  ASSERT_GT(victim, 0);
  kill(victim, SIGKILL);
  ASSERT_TRUE(WaitFor([&] { return !set->replica(1)->healthy(); }, 5));
  const uint64_t before0 = set->submitted(0), before1 = set->submitted(1);
  Tally t;
  for (int i = 0; i < 20; ++i) set->Submit(Job("rr" + std::to_string(i), {Ids(8)}), t.Callback());
  ASSERT_TRUE(t.WaitDone(20, 30));
  EXPECT_EQ(t.ok, 20);
  EXPECT_EQ(set->submitted(1), before1);
  EXPECT_EQ(set->submitted(0), before0 + 20);
  // Given up (max_restarts 0), and says why.
  ASSERT_TRUE(WaitFor([&] { return set->stats()[1].gave_up; }, 5));
  EXPECT_NE(set->stats()[1].last_error.find("signal 9"), std::string::npos)
      << set->stats()[1].last_error;
}

TEST(Manager, RoundRobinAndRandomSpreadOverHealthyReplicas) {
  for (const char* policy : {"round_robin", "random"}) {
    auto set = Start(TwoWorkers(policy));
    ASSERT_TRUE(set);
    Tally t;
    for (int i = 0; i < 100; ++i) set->Submit(Job("s" + std::to_string(i), {Ids(6)}), t.Callback());
    ASSERT_TRUE(t.WaitDone(100, 30));
    EXPECT_EQ(t.ok, 100);
    EXPECT_GE(set->submitted(0), 25u) << policy;
    EXPECT_GE(set->submitted(1), 25u) << policy;
  }
}

// least_loaded: the per-replica token count goes back to exactly zero after
// successes, failures, cancels and retries; and long jobs push short ones to
// the other replica.
TEST(Manager, LeastLoadedCounterReturnsToZero) {
  auto set = Start(TwoWorkers("least_loaded"));
  ASSERT_TRUE(set);
  Tally t;
  int n = 0;
  // Successes, mixed long and short.
  for (int i = 0; i < 40; ++i, ++n) {
    set->Submit(Job("ok" + std::to_string(i), {Ids(i % 4 == 0 ? 120 : 8), Ids(16)}), t.Callback());
  }
  ASSERT_TRUE(t.WaitDone(n, 30));
  EXPECT_EQ(t.ok, 40);
  // Failures the replica reports (token id outside the vocabulary): not retried.
  for (int i = 0; i < 4; ++i) {
    set->Submit(Job("bad" + std::to_string(i), {{101, 99999999, 102}}), t.Callback());
    ASSERT_TRUE(t.WaitDone(++n, 30));
  }
  {
    std::string codes;
    for (const auto& [code, count] : t.codes) codes += std::string(StatusCodeName(code)) + "=" + std::to_string(count) + " ";
    EXPECT_EQ(t.codes[StatusCode::kInvalidArgument], 4) << codes << " ok=" << t.ok << " done=" << t.done;
  }
  // Cancels: big jobs, cancelled right away.
  for (int i = 0; i < 6; ++i, ++n) {
    std::vector<std::vector<int32_t>> big(64, Ids(128));
    auto job = Job("cancel" + std::to_string(i), big);
    set->Submit(job, t.Callback());
    job->cancelled = true;
    set->Cancel(job->request_id);
  }
  ASSERT_TRUE(t.WaitDone(n, 30));
  // Retries: a worker is killed while jobs are in flight; all still succeed.
  const int ok_before = t.ok;
  for (int i = 0; i < 30; ++i, ++n) {
    std::vector<std::vector<int32_t>> inputs(8, Ids(100));
    set->Submit(Job("retry" + std::to_string(i), inputs), t.Callback());
  }
  kill(WorkerPid(*set, 0), SIGKILL);
  ASSERT_TRUE(t.WaitDone(n, 60));
  EXPECT_EQ(t.ok - ok_before, 30) << "retried requests must succeed";
  EXPECT_GT(set->retries(), 0u);

  EXPECT_EQ(set->tokens_in_flight(0), 0);
  EXPECT_EQ(set->tokens_in_flight(1), 0);
  EXPECT_EQ(set->queued_tokens(), 0u);
  for (int i = 0; i < 2; ++i) {
    // The replica's own count agrees.
    EXPECT_EQ(set->replica(i)->stats().queued_tokens, 0u);
  }
  // The killed replica comes back and serves.
  ASSERT_TRUE(WaitFor([&] { return set->replica(0)->healthy(); }, 10));
  EXPECT_EQ(set->replica(0)->stats().restarts, 1u);
}

TEST(Manager, LeastLoadedSendsShortJobsAwayFromTheBusyReplica) {
  auto set = Start(TwoWorkers("least_loaded"));
  ASSERT_TRUE(set);
  Tally t;
  // One long job occupies a replica; the short ones that follow go to the other.
  std::vector<std::vector<int32_t>> big(256, Ids(128));
  set->Submit(Job("long", big), t.Callback());
  const int busy = set->tokens_in_flight(0) > 0 ? 0 : 1;
  for (int i = 0; i < 10; ++i) set->Submit(Job("short" + std::to_string(i), {Ids(8)}), t.Callback());
  ASSERT_TRUE(t.WaitDone(11, 60));
  EXPECT_EQ(t.ok, 11);
  EXPECT_EQ(set->submitted(busy), 1u);
  EXPECT_EQ(set->submitted(1 - busy), 10u);
}

TEST(Manager, FrozenWorkerIsTakenOutAndItsRequestsServedElsewhere) {
  ReplicaOptions o = TwoWorkers("round_robin");
  o.forward_timeout_s = 1.0;
  auto set = Start(o);
  ASSERT_TRUE(set);
  const pid_t frozen = WorkerPid(*set, 1);
  kill(frozen, SIGSTOP);
  Tally t;
  for (int i = 0; i < 10; ++i) set->Submit(Job("f" + std::to_string(i), {Ids(8)}), t.Callback());
  ASSERT_TRUE(t.WaitDone(10, 30));
  EXPECT_EQ(t.ok, 10);
  // Out after 2 failed probes, killed, then restarted with a new pid.
  ASSERT_TRUE(WaitFor([&] { return !ProcessAlive(frozen); }, 10));
  ASSERT_TRUE(WaitFor([&] { return set->replica(1)->healthy(); }, 15));
  EXPECT_NE(WorkerPid(*set, 1), frozen);
  EXPECT_EQ(set->tokens_in_flight(0) + set->tokens_in_flight(1), 0);
}

TEST(Manager, ModelThatCannotLoadGivesUpWithTheWorkersError) {
  ReplicaOptions o = TwoWorkers("round_robin");
  o.model = std::string(FLOE_TEST_DATA) + "/no-such-model";
  auto set = StartReplicas(o, nullptr);
  ASSERT_TRUE(set.ok());
  const auto t0 = std::chrono::steady_clock::now();
  Status s = (*set)->AwaitReady(30);
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 10);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kUnavailable);
  EXPECT_NE(s.message().find("no-such-model"), std::string::npos) << s.message();
}

// --gpu-memory-utilization reaches the workers: each engine gets its GPU's
// share divided among the replicas on that GPU, and the worker process says
// (its Info) that its Embedder got it, with the other engine options.
TEST(Manager, WorkersGetTheirShareOfGpuMemoryAndSayTheyGotIt) {
  const char* before = std::getenv("CUDA_VISIBLE_DEVICES");
  const std::string saved = before ? before : "";
  setenv("CUDA_VISIBLE_DEVICES", "0,1", 1);  // two GPUs, planned only
  ReplicaOptions o = TwoWorkers("round_robin");
  o.engine.device = "cuda";
  o.num_gpus = 2;
  o.num_replicas = 3;
  o.gpu_assignment = "dedicated";
  o.engine.gpu_memory_fraction = 0.6;
  o.engine.max_batch_tokens = 4096;
  auto plan = PlanReplicas(o);
  if (before) setenv("CUDA_VISIBLE_DEVICES", saved.c_str(), 1);
  else unsetenv("CUDA_VISIBLE_DEVICES");
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  ASSERT_EQ(plan->workers.size(), 3u);
  EXPECT_DOUBLE_EQ(plan->workers[0].engine.gpu_memory_fraction, 0.3);  // GPU 0: replicas 0, 2
  EXPECT_DOUBLE_EQ(plan->workers[1].engine.gpu_memory_fraction, 0.6);  // GPU 1: replica 1
  EXPECT_DOUBLE_EQ(plan->workers[2].engine.gpu_memory_fraction, 0.3);
  for (const auto& w : plan->workers) EXPECT_EQ(w.engine.max_batch_tokens, 4096u);

  // The first one as the manager would start it, on the CPU (no GPU here;
  // the CPU backend ignores the share, the worker still receives it).
  ProcessReplicaOptions w = plan->workers[0];
  w.engine.device = "cpu";
  w.env.clear();
  ProcessReplica replica(w);
  ASSERT_TRUE(WaitFor([&] { return replica.healthy(); }, 30));
  const RuntimeOptions got = replica.worker_engine();
  EXPECT_EQ(got.device, "cpu");
  EXPECT_EQ(got.dtype, "float32");
  EXPECT_EQ(got.num_threads, 1);
  EXPECT_EQ(got.max_batch_tokens, 4096u);
  EXPECT_DOUBLE_EQ(got.gpu_memory_fraction, 0.3);
  replica.Drain();
}

// A worker whose parent is SIGKILLed exits (PR_SET_PDEATHSIG).
TEST(Worker, ExitsWhenItsParentIsKilled) {
  int out[2];
  ASSERT_EQ(pipe(out), 0);
  std::string model = test::FixtureModel();
  std::string address = "unix-abstract:floe-test-orphan-" + std::to_string(getpid());
  const pid_t parent = fork();
  if (parent == 0) {
    // The middle process: starts the worker, reports its pid, then waits to be killed.
    std::string ppid = std::to_string(getpid());
    const pid_t w = fork();
    if (w == 0) {
      dup2(out[1], 1);
      const char* argv[] = {FLOE_BINARY, "worker", "--model", model.c_str(), "--address",
                            address.c_str(), "--parent-pid", ppid.c_str(), "--log-level",
                            "error", nullptr};
      execv(argv[0], const_cast<char**>(argv));
      _exit(127);
    }
    char buf[32];
    const int len = snprintf(buf, sizeof(buf), "PID %d\n", static_cast<int>(w));
    (void)!write(out[1], buf, static_cast<size_t>(len));
    for (;;) pause();
  }
  close(out[1]);
  std::string text;
  ASSERT_TRUE(WaitFor(
      [&] {
        char buf[256];
        pollfd p{out[0], POLLIN, 0};
        if (poll(&p, 1, 10) > 0) {
          ssize_t n = read(out[0], buf, sizeof(buf));
          if (n > 0) text.append(buf, static_cast<size_t>(n));
        }
        return text.find("READY") != std::string::npos;
      },
      30))
      << text;
  const pid_t worker = std::atoi(text.substr(text.find("PID ") + 4).c_str());
  ASSERT_GT(worker, 0);
  ASSERT_TRUE(ProcessAlive(worker));
  kill(parent, SIGKILL);
  waitpid(parent, nullptr, 0);
  EXPECT_TRUE(WaitFor([&] { return !ProcessAlive(worker); }, 5)) << "worker " << worker
                                                                   << " outlived its parent";
  close(out[0]);
}

}  // namespace
}  // namespace floe
