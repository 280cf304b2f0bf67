#include "replica/replica_set.h"

#include <random>

namespace floe {

const char* ReplicaStateName(ReplicaState s) {
  switch (s) {
    case ReplicaState::kStarting: return "starting";
    case ReplicaState::kReady: return "ready";
    case ReplicaState::kUnhealthy: return "unhealthy";
    case ReplicaState::kStopped: return "stopped";
  }
  return "unknown";
}

bool ParseBalancePolicy(std::string_view s, BalancePolicy* out) {
  if (s == "round_robin") *out = BalancePolicy::kRoundRobin;
  else if (s == "random") *out = BalancePolicy::kRandom;
  else if (s == "least_loaded") *out = BalancePolicy::kLeastLoaded;
  else return false;
  return true;
}

ReplicaSet::ReplicaSet(std::vector<std::shared_ptr<Replica>> replicas, BalancePolicy policy)
    : replicas_(std::move(replicas)), policy_(policy) {}

std::shared_ptr<Replica> ReplicaSet::Pick(size_t /*tokens*/) {
  const size_t n = replicas_.size();
  if (n == 0) return nullptr;
  if (policy_ == BalancePolicy::kLeastLoaded) {
    std::shared_ptr<Replica> best;
    uint64_t best_load = UINT64_MAX;
    for (const auto& r : replicas_) {
      if (!r->healthy()) continue;
      uint64_t load = r->stats().queued_tokens;
      if (load < best_load) best = r, best_load = load;
    }
    return best;
  }
  size_t start;
  if (policy_ == BalancePolicy::kRandom) {
    thread_local std::minstd_rand rng(std::random_device{}());
    start = rng() % n;
  } else {
    start = next_.fetch_add(1, std::memory_order_relaxed) % n;
  }
  for (size_t i = 0; i < n; ++i) {
    const auto& r = replicas_[(start + i) % n];
    if (r->healthy()) return r;
  }
  return nullptr;
}

void ReplicaSet::Submit(std::shared_ptr<EmbedJob> job, EmbedCallback done) {
  auto r = Pick(job->total_tokens());
  if (!r) {
    done(UnavailableError("no healthy replica can serve the request"));
    return;
  }
  r->Submit(std::move(job), std::move(done));
}

bool ReplicaSet::Cancel(const std::string& request_id) {
  bool any = false;
  for (const auto& r : replicas_) any = r->Cancel(request_id) || any;
  return any;
}

bool ReplicaSet::healthy() const { return healthy_count() > 0; }

int ReplicaSet::healthy_count() const {
  int n = 0;
  for (const auto& r : replicas_) n += r->healthy() ? 1 : 0;
  return n;
}

std::vector<ReplicaStats> ReplicaSet::stats() const {
  std::vector<ReplicaStats> out;
  out.reserve(replicas_.size());
  for (const auto& r : replicas_) out.push_back(r->stats());
  return out;
}

uint64_t ReplicaSet::queued_tokens() const {
  uint64_t n = 0;
  for (const auto& r : replicas_) n += r->stats().queued_tokens;
  return n;
}

void ReplicaSet::Drain() {
  for (const auto& r : replicas_) r->Drain();
}

}  // namespace floe
