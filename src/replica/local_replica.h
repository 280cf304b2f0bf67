// An in-process replica: owns a batcher thread in front of an Embedder.
//
// Dynamic batching by token budget: as soon as the engine is free, the batcher
// packs sequences from the queued jobs into one forward pass of at most
// max_batch_tokens tokens (a single longer sequence still runs, alone). Jobs
// are ordered by priority, then by arrival (longest-waiting first). A job's
// sequences may be split across batches, and each waiting job is first given a
// fair share of the budget, so one large request cannot starve small ones.
// Cancelled and expired jobs are dropped before they use the engine.
#pragma once

#include <condition_variable>
#include <list>
#include <memory>
#include <mutex>
#include <thread>

#include "floe/embedder.h"
#include "replica/replica.h"

namespace floe {

struct LocalReplicaOptions {
  int id = 0;
  size_t max_batch_tokens = 16384;
};

class LocalReplica : public Replica {
 public:
  // `embedder` is shared: the frontend may call its thread-safe Tokenize.
  LocalReplica(std::shared_ptr<Embedder> embedder, LocalReplicaOptions options);
  ~LocalReplica() override;  // Drain()
  LocalReplica(const LocalReplica&) = delete;
  LocalReplica& operator=(const LocalReplica&) = delete;

  void Submit(std::shared_ptr<EmbedJob> job, EmbedCallback done) override;
  bool Cancel(const std::string& request_id) override;
  bool healthy() const override;
  ReplicaStats stats() const override;
  BatchStats batch_stats() const override { return batches_.Snapshot(); }
  void Drain() override;

 private:
  struct Pending;
  struct Slot {
    std::shared_ptr<Pending> pending;
    size_t index;
  };

  void Loop();
  // Picks the next batch from queue_. Requires mu_ held.
  std::vector<Slot> FormBatch(std::vector<std::shared_ptr<Pending>>* dropped);
  void Finish(const std::shared_ptr<Pending>& p, Status status);
  // The per-token jobs' inputs batch[slots[k]] through EmbedAllTokens: rows[k]
  // for each; adds their tokens to *tokens.
  Status RunPerToken(const std::vector<Slot>& batch, const std::vector<size_t>& slots,
                     std::vector<TokenVectors>* rows, size_t* tokens);

  std::shared_ptr<Embedder> embedder_;
  LocalReplicaOptions options_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::list<std::shared_ptr<Pending>> queue_;  // GUARDED_BY(mu_), by priority then arrival
  std::vector<std::shared_ptr<Pending>> running_;  // GUARDED_BY(mu_)
  bool draining_ = false;                      // GUARDED_BY(mu_)
  bool stopped_ = false;                       // GUARDED_BY(mu_)
  uint64_t queued_tokens_ = 0;                 // GUARDED_BY(mu_)
  uint64_t served_ = 0;                        // GUARDED_BY(mu_)
  BatchRecorder batches_;
  std::thread thread_;
};

}  // namespace floe
