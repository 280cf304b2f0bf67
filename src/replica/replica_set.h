// The replicas behind one endpoint and the policy that picks one per job.
// The frontend talks only to a ReplicaSet; the replica manager (manager.h)
// fills it with in-process or worker-process replicas.
//
// Balancing: round_robin and random skip unhealthy replicas; least_loaded
// picks the healthy replica with the fewest tokens in flight. Tokens in
// flight are counted here, per replica: a job's token count is added when it
// is handed to a replica and the same amount is removed when that replica
// answers (success, error, cancel or death alike), so the count cannot drift.
//
// Retry: a job whose replica answers UNAVAILABLE (it died, hung past the
// forward timeout, was taken out) or INTERNAL is handed to another healthy
// replica (one not yet tried when there is one), up to `max_attempts` in all,
// with the same request id. INVALID_ARGUMENT and the job's own cancellation
// or deadline are never retried.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "replica/replica.h"

namespace floe {

enum class BalancePolicy { kRoundRobin, kRandom, kLeastLoaded };
// "round_robin" | "random" | "least_loaded"; false when unknown.
bool ParseBalancePolicy(std::string_view s, BalancePolicy* out);

class ReplicaSet {
 public:
  explicit ReplicaSet(std::vector<std::shared_ptr<Replica>> replicas,
                      BalancePolicy policy = BalancePolicy::kRoundRobin, int max_attempts = 3);
  ~ReplicaSet();  // Drain()
  ReplicaSet(const ReplicaSet&) = delete;
  ReplicaSet& operator=(const ReplicaSet&) = delete;

  // Thread-safe, never blocks. Picks a healthy replica and submits, retrying
  // elsewhere as above; the callback runs exactly once. UNAVAILABLE when no
  // replica can serve.
  void Submit(std::shared_ptr<EmbedJob> job, EmbedCallback done);
  // Cancels the job on whichever replica holds it.
  bool Cancel(const std::string& request_id);

  bool healthy() const;  // at least one replica can serve
  int size() const { return static_cast<int>(replicas_.size()); }
  int healthy_count() const;
  // Per replica; queued_tokens is this set's count of tokens in flight there.
  std::vector<ReplicaStats> stats() const;
  uint64_t queued_tokens() const;
  // Forward passes of every replica (for /metrics).
  BatchStats batch_stats() const;
  // Tokens handed to replica `i` and not yet answered (the least_loaded load).
  int64_t tokens_in_flight(int i) const;
  // Jobs submitted to replica `i` (attempts, retries included).
  uint64_t submitted(int i) const;
  // Attempts that were retried on another replica.
  uint64_t retries() const { return retries_.load(); }

  // Waits until a replica is ready: OK; or every replica gave up starting:
  // UNAVAILABLE with their errors; or `timeout_s` passed / `should_stop`
  // returned true: DEADLINE_EXCEEDED / CANCELLED. Polls every 20 ms.
  Status AwaitReady(double timeout_s, const std::function<bool()>& should_stop = {}) const;

  // Stops every replica (in parallel): each answers what it holds, then
  // stops. Idempotent.
  void Drain();

  const std::shared_ptr<Replica>& replica(int i) const { return replicas_[i]; }

 private:
  struct Attempt;
  struct Slot {
    std::atomic<int64_t> tokens{0};
    std::atomic<uint64_t> submitted{0};
  };
  // Index of the replica to try, -1 when none is healthy. Prefers replicas
  // whose bit in `tried` is clear.
  int Pick(uint64_t tried);
  void Dispatch(std::shared_ptr<Attempt> attempt);

  std::vector<std::shared_ptr<Replica>> replicas_;
  std::unique_ptr<Slot[]> slots_;
  BalancePolicy policy_;
  int max_attempts_;
  std::atomic<uint64_t> next_{0};
  std::atomic<uint64_t> retries_{0};
  std::mutex drain_mu_;
  bool drained_ = false;  // GUARDED_BY(drain_mu_)
};

}  // namespace floe
