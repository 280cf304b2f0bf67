// An in-process replica: a batcher thread in front of an opened model's
// engine, which it runs directly (api/shared_engine.h): it packs token ids
// from many jobs into one pass, then writes each input's vector straight into
// its job's answer (pooling's postprocessing: first `dimensions` values, then
// L2 normalization), once.
//
// Dynamic batching by token budget: as soon as the engine is free, the batcher
// packs sequences from the queued jobs into one forward pass of at most the
// engine's max_batch_tokens (Engine::options(); a single longer sequence
// still runs, alone). Jobs
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

struct SharedEngine;  // api/shared_engine.h

struct LocalReplicaOptions {
  int id = 0;
};

class LocalReplica : public Replica {
 public:
  // Runs `embedder`'s engine (EngineOf), sharing it and its lock with the
  // Embedder: the frontend may go on calling the Embedder's thread-safe
  // Tokenize and info(). Every job of a tokenizer_only Embedder is answered
  // FAILED_PRECONDITION.
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
  // Refuses a job whose options no batch could run (before it is queued).
  Status CheckJob(const EmbedJob& job) const;
  // One batch through the engine: the pooled (or classified) inputs
  // batch[pooled[k]] into pooled_out_ (row k), the per-token ones
  // batch[per_token[k]] into token_rows_[k]. Adds the tokens run to *tokens;
  // *seconds: the engine's time (the forward passes).
  Status Forward(const std::vector<Slot>& batch, const std::vector<size_t>& pooled,
                 const std::vector<size_t>& per_token, size_t* tokens, double* seconds);
  // pooled_ids_ and token_ids_ through the engine, under its lock.
  Status RunEngine();
  // Moves Forward's results into their jobs' answers, postprocessing pooled
  // vectors on the way; an input whose postprocessing fails sets its job's error.
  void Distribute(const std::vector<Slot>& batch, const std::vector<size_t>& pooled,
                  const std::vector<size_t>& per_token);
  // inputs[s.index] of slot s into *ids, cut to the model's max_tokens as
  // Embedder::EmbedTokens cuts (the last id, [SEP] or </s>, stays last).
  void CopyIds(const Slot& s, std::vector<int32_t>* ids) const;

  std::shared_ptr<Embedder> embedder_;
  std::shared_ptr<SharedEngine> engine_;
  LocalReplicaOptions options_;
  // The model's facts, from embedder_->info().
  const bool classify_;
  const size_t hidden_;
  const size_t labels_;
  const size_t max_tokens_;
  const size_t max_batch_tokens_;  // the engine's (16384 without one)

  // Batcher thread only: one batch's ids and outputs, reused.
  std::vector<std::vector<int32_t>> pooled_ids_, token_ids_;
  std::vector<int32_t> skip_, type1_;
  std::vector<float> pooled_out_;  // pooled_ids_.size() x hidden_ (or labels_)
  std::vector<std::vector<float>> token_rows_;

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
