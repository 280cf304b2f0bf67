// The seam between the frontend (serve/) and whatever computes vectors: the
// frontend tokenizes and hands token ids to a Replica; the replica batches and
// answers through a callback. Implemented in-process by LocalReplica and, by
// the replica manager, over a local transport to worker processes. Nothing
// here knows of HTTP, JSON or gRPC.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/status.h"
#include "replica/batch_stats.h"

namespace floe {

using Clock = std::chrono::steady_clock;

// Per-request options applied after pooling.
struct JobParams {
  int dimensions = 0;     // 0 = full; else keep the first N, then normalize
  bool normalize = true;  // L2-normalize
  // Leading tokens of every input that pooling leaves out: the prompt's, when
  // the model's pooling has include_prompt false (Embedder::PromptTokensExcluded).
  int32_t pool_skip = 0;
  // Per-token output (TEI's embed_all): every token's last hidden state, not
  // pooled; dimensions, normalize and pool_skip do not apply. Embedding
  // models only.
  bool per_token = false;
};

// One client request: every input's token ids ([CLS]/[SEP] included).
// Created by the frontend, shared with the replica until the callback runs.
// On a classifier model (ModelInfo::task "classify") the replica answers each
// input with its raw logits (num_labels floats, never normalized; params'
// dimensions and normalize do not apply).
struct EmbedJob {
  std::string request_id;
  std::vector<std::vector<int32_t>> inputs;
  // Empty, or one per input: tokens at index >= type1_from[i] have token type
  // 1 (PairIds::type1_from of a cross-encoder pair). Classifier models only.
  std::vector<int32_t> type1_from;
  JobParams params;
  int priority = 0;  // higher first
  Clock::time_point enqueued = Clock::now();
  Clock::time_point deadline = Clock::time_point::max();
  // Set by any thread (client cancelled, Abort); the replica drops queued work
  // of a cancelled job and answers CANCELLED.
  std::atomic<bool> cancelled{false};

  size_t total_tokens() const {
    size_t n = 0;
    for (const auto& v : inputs) n += v.size();
    return n;
  }
};

// What a replica returns for one job: vectors[i] belongs to inputs[i]. A
// per_token job's vectors[i] is the token matrix of inputs[i]:
// inputs[i].size() x dimension floats, token by token.
struct EmbedOutput {
  std::vector<std::vector<float>> vectors;
  int dimension = 0;
  bool per_token = false;
  double queue_wait_s = 0;  // enqueue -> first sequence batched
  double forward_s = 0;     // summed time of the forward passes it rode in
};

// Called exactly once per submitted job, from a replica thread. Must be cheap
// and must not block (hand heavy work elsewhere).
using EmbedCallback = std::function<void(StatusOr<EmbedOutput>)>;

enum class ReplicaState { kStarting, kReady, kUnhealthy, kStopped };
const char* ReplicaStateName(ReplicaState s);

struct ReplicaStats {
  int id = 0;
  ReplicaState state = ReplicaState::kStarting;
  std::string device;
  std::string dtype;
  int pid = 0;
  uint64_t queued_jobs = 0;
  uint64_t queued_tokens = 0;  // tokens submitted and not yet answered
  uint64_t requests_served = 0;
  uint64_t restarts = 0;
  // Worker replicas (replica manager): where it runs ("cores 0-3", "gpu 1"),
  // why it last failed, and whether the manager gave up restarting it.
  std::string placement;
  std::string last_error;
  bool gave_up = false;
};


class Replica {
 public:
  virtual ~Replica() = default;

  // Thread-safe, never blocks on the engine. The callback runs exactly once:
  // with the vectors, or with CANCELLED / DEADLINE_EXCEEDED / UNAVAILABLE /
  // INTERNAL / INVALID_ARGUMENT.
  virtual void Submit(std::shared_ptr<EmbedJob> job, EmbedCallback done) = 0;

  // Drops queued work of the job with this id (its callback gets CANCELLED).
  // Returns false when no such job is queued or running here.
  virtual bool Cancel(const std::string& request_id) = 0;

  virtual bool healthy() const = 0;
  virtual ReplicaStats stats() const = 0;
  // Its forward passes so far (never decreasing), for /metrics.
  virtual BatchStats batch_stats() const = 0;

  // Stops taking work; answers what is queued, then returns. Idempotent.
  virtual void Drain() = 0;
};

}  // namespace floe
