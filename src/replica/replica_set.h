// The replicas behind one endpoint and the policy that picks one per job. The
// frontend talks only to a ReplicaSet; the replica manager (issue 4) fills it
// with worker processes and adds policies. Today: round robin over healthy
// replicas, which with one replica is that replica.
#pragma once

#include <atomic>
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
                      BalancePolicy policy = BalancePolicy::kRoundRobin);
  ReplicaSet(const ReplicaSet&) = delete;
  ReplicaSet& operator=(const ReplicaSet&) = delete;

  // Thread-safe. Picks a healthy replica and submits; UNAVAILABLE through the
  // callback when none is healthy.
  void Submit(std::shared_ptr<EmbedJob> job, EmbedCallback done);
  // Cancels the job on whichever replica holds it.
  bool Cancel(const std::string& request_id);

  bool healthy() const;  // at least one replica can serve
  int size() const { return static_cast<int>(replicas_.size()); }
  int healthy_count() const;
  std::vector<ReplicaStats> stats() const;
  uint64_t queued_tokens() const;
  void Drain();

 private:
  std::shared_ptr<Replica> Pick(size_t tokens);

  std::vector<std::shared_ptr<Replica>> replicas_;
  BalancePolicy policy_;
  std::atomic<uint64_t> next_{0};
};

}  // namespace floe
