#include "replica/replica_set.h"

#include <random>
#include <thread>

#include "core/log.h"

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

struct ReplicaSet::Attempt {
  std::shared_ptr<EmbedJob> job;
  EmbedCallback done;
  int64_t tokens = 0;
  int attempts = 0;
  uint64_t tried = 0;  // bit i: replica i was tried
};

ReplicaSet::ReplicaSet(std::vector<std::shared_ptr<Replica>> replicas, BalancePolicy policy,
                       int max_attempts)
    : replicas_(std::move(replicas)),
      slots_(new Slot[replicas_.size() > 0 ? replicas_.size() : 1]),
      policy_(policy),
      max_attempts_(std::max(1, max_attempts)) {}

ReplicaSet::~ReplicaSet() { Drain(); }

int ReplicaSet::Pick(uint64_t tried) {
  const size_t n = replicas_.size();
  if (n == 0) return -1;
  auto bit = [](size_t i) { return i < 64 ? (uint64_t{1} << i) : 0; };
  size_t start;
  if (policy_ == BalancePolicy::kRandom) {
    thread_local std::minstd_rand rng(std::random_device{}());
    start = rng() % n;
  } else {
    // least_loaded breaks ties in rotation, so idle replicas share the work.
    start = next_.fetch_add(1, std::memory_order_relaxed) % n;
  }
  int best = -1, fallback = -1;
  int64_t best_load = INT64_MAX;
  for (size_t k = 0; k < n; ++k) {
    const size_t i = (start + k) % n;
    if (!replicas_[i]->healthy()) continue;
    if (tried & bit(i)) {
      if (fallback < 0) fallback = static_cast<int>(i);
      continue;
    }
    if (policy_ != BalancePolicy::kLeastLoaded) return static_cast<int>(i);
    const int64_t load = slots_[i].tokens.load(std::memory_order_relaxed);
    if (load < best_load) best = static_cast<int>(i), best_load = load;
  }
  return best >= 0 ? best : fallback;
}

namespace {
bool Retriable(const Status& s, const EmbedJob& job) {
  if (job.cancelled.load() || Clock::now() >= job.deadline) return false;
  return s.code() == StatusCode::kUnavailable || s.code() == StatusCode::kInternal;
}
}  // namespace

void ReplicaSet::Dispatch(std::shared_ptr<Attempt> a) {
  const int i = Pick(a->tried);
  if (i < 0) {
    a->done(UnavailableError("no healthy replica can serve the request (" +
                             std::to_string(replicas_.size()) + " replicas, none ready)"));
    return;
  }
  a->attempts++;
  if (i < 64) a->tried |= uint64_t{1} << i;
  slots_[i].tokens.fetch_add(a->tokens);
  slots_[i].submitted.fetch_add(1);
  replicas_[i]->Submit(a->job, [this, a, i](StatusOr<EmbedOutput> r) {
    slots_[i].tokens.fetch_sub(a->tokens);
    if (!r.ok() && a->attempts < max_attempts_ && Retriable(r.status(), *a->job)) {
      FLOE_LOG(kWarn) << "request " << a->job->request_id << ": replica " << i
                      << " failed (" << r.status().ToString() << "); retrying (attempt "
                      << a->attempts + 1 << "/" << max_attempts_ << ")";
      retries_.fetch_add(1);
      Dispatch(a);
      return;
    }
    a->done(std::move(r));
  });
}

void ReplicaSet::Submit(std::shared_ptr<EmbedJob> job, EmbedCallback done) {
  auto a = std::make_shared<Attempt>();
  a->tokens = static_cast<int64_t>(job->total_tokens());
  a->job = std::move(job);
  a->done = std::move(done);
  Dispatch(std::move(a));
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

BatchStats ReplicaSet::batch_stats() const {
  BatchStats all;
  for (const auto& r : replicas_) all.Add(r->batch_stats());
  return all;
}

std::vector<ReplicaStats> ReplicaSet::stats() const {
  std::vector<ReplicaStats> out;
  out.reserve(replicas_.size());
  for (size_t i = 0; i < replicas_.size(); ++i) {
    out.push_back(replicas_[i]->stats());
    out.back().id = static_cast<int>(i);
    out.back().queued_tokens = static_cast<uint64_t>(std::max<int64_t>(0, slots_[i].tokens.load()));
  }
  return out;
}

uint64_t ReplicaSet::queued_tokens() const {
  int64_t n = 0;
  for (size_t i = 0; i < replicas_.size(); ++i) n += slots_[i].tokens.load();
  return static_cast<uint64_t>(std::max<int64_t>(0, n));
}

int64_t ReplicaSet::tokens_in_flight(int i) const { return slots_[i].tokens.load(); }
uint64_t ReplicaSet::submitted(int i) const { return slots_[i].submitted.load(); }

Status ReplicaSet::AwaitReady(double timeout_s, const std::function<bool()>& should_stop) const {
  const auto end = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                      std::chrono::duration<double>(timeout_s));
  for (;;) {
    if (healthy()) return OkStatus();
    bool all_gave_up = !replicas_.empty();
    std::string errors;
    for (const auto& s : stats()) {
      if (!s.gave_up) {
        all_gave_up = false;
        break;
      }
      if (errors.find(s.last_error) == std::string::npos) {
        errors += (errors.empty() ? "" : "; ") + s.last_error;
      }
    }
    if (all_gave_up) return UnavailableError("no replica could start: " + errors);
    if (should_stop && should_stop()) return CancelledError("stopped while replicas started");
    if (Clock::now() >= end) {
      return DeadlineExceededError("no replica was ready within " + std::to_string(timeout_s) +
                                   " s");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

void ReplicaSet::Drain() {
  std::lock_guard<std::mutex> lock(drain_mu_);
  if (drained_) return;
  drained_ = true;
  std::vector<std::thread> threads;
  for (const auto& r : replicas_) threads.emplace_back([r] { r->Drain(); });
  for (auto& t : threads) t.join();
}

}  // namespace floe
