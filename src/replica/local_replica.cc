#include "replica/local_replica.h"

#include <algorithm>
#include <cstddef>

#include "api/shared_engine.h"
#include "core/log.h"
#include "engine/postprocess.h"

namespace floe {

struct LocalReplica::Pending {
  std::shared_ptr<EmbedJob> job;
  EmbedCallback done;
  size_t tokens = 0;
  size_t next = 0;       // first input not yet batched
  size_t finished = 0;   // inputs with a vector
  bool answered = false;  // callback ran (or is about to)
  bool started = false;
  Status error;  // the first input that failed after the forward pass
  EmbedOutput out;
};

namespace {
double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }
}  // namespace

LocalReplica::LocalReplica(std::shared_ptr<Embedder> embedder, LocalReplicaOptions options)
    : embedder_(std::move(embedder)),
      engine_(EngineOf(embedder_)),
      options_(std::move(options)),
      classify_(embedder_->info().task == "classify"),
      hidden_(static_cast<size_t>(std::max(0, embedder_->info().hidden_size))),
      labels_(static_cast<size_t>(std::max(0, embedder_->info().num_labels))),
      max_tokens_(static_cast<size_t>(std::max(0, embedder_->info().max_tokens))),
      max_batch_tokens_(engine_->engine ? engine_->engine->options().max_batch_tokens
                                        : RuntimeOptions().max_batch_tokens) {
  thread_ = std::thread([this] { Loop(); });
}

LocalReplica::~LocalReplica() { Drain(); }

void LocalReplica::Submit(std::shared_ptr<EmbedJob> job, EmbedCallback done) {
  auto p = std::make_shared<Pending>();
  p->tokens = job->total_tokens();
  p->out.vectors.resize(job->inputs.size());
  p->job = std::move(job);
  p->done = std::move(done);
  if (p->job->inputs.empty()) {
    p->done(EmbedOutput{});
    return;
  }
  if (Status s = CheckJob(*p->job); !s.ok()) {
    p->done(std::move(s));
    return;
  }
  std::unique_lock<std::mutex> lock(mu_);
  if (draining_) {
    lock.unlock();
    p->done(UnavailableError("server is shutting down"));
    return;
  }
  // Keep queue_ sorted: priority descending, then arrival (stable).
  auto it = queue_.end();
  while (it != queue_.begin()) {
    auto prev = std::prev(it);
    if ((*prev)->job->priority >= p->job->priority) break;
    it = prev;
  }
  queue_.insert(it, p);
  queued_tokens_ += p->tokens;
  lock.unlock();
  cv_.notify_one();
}

// What the frontend checked already, checked again for jobs that come from
// elsewhere (a worker's transport, tests): each of these would otherwise
// fail the whole batch the job rides in.
Status LocalReplica::CheckJob(const EmbedJob& job) const {
  if (!job.type1_from.empty() && job.type1_from.size() != job.inputs.size()) {
    return InvalidArgumentError("type1_from has " + std::to_string(job.type1_from.size()) +
                                " entries for " + std::to_string(job.inputs.size()) + " inputs");
  }
  if (job.params.per_token && classify_) {
    return FailedPreconditionError(
        "the model is a classifier: it has scores, not per-token embeddings");
  }
  if (job.params.pool_skip < 0) {
    return InvalidArgumentError("pool_skip must be >= 0, got " +
                                std::to_string(job.params.pool_skip));
  }
  const int dims = job.params.dimensions;
  if (!classify_ && !job.params.per_token &&
      (dims < 0 || static_cast<size_t>(dims) > hidden_)) {  // PostprocessEmbedding's words
    return InvalidArgumentError("dimensions must be between 1 and " + std::to_string(hidden_) +
                                " (or 0 for all), got " + std::to_string(dims));
  }
  return OkStatus();
}

void LocalReplica::Finish(const std::shared_ptr<Pending>& p, Status status) {
  // Caller has set p->answered under mu_.
  if (status.ok()) {
    p->out.per_token = p->job->params.per_token;
    p->out.dimension = p->out.per_token        ? static_cast<int>(hidden_)
                       : p->out.vectors.empty() ? 0
                                                : static_cast<int>(p->out.vectors[0].size());
    p->done(std::move(p->out));
  } else {
    p->done(std::move(status));
  }
}

bool LocalReplica::Cancel(const std::string& request_id) {
  std::shared_ptr<Pending> hit;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto it = queue_.begin(); it != queue_.end(); ++it) {
      if ((*it)->job->request_id == request_id && !(*it)->answered) {
        hit = *it;
        queue_.erase(it);
        break;
      }
    }
    if (!hit) {
      for (auto& p : running_) {
        if (p->job->request_id == request_id && !p->answered) {
          hit = p;
          break;
        }
      }
    }
    if (!hit) return false;
    hit->job->cancelled = true;
    hit->answered = true;
    queued_tokens_ -= std::min<uint64_t>(queued_tokens_, hit->tokens);
  }
  Finish(hit, CancelledError("request " + request_id + " was aborted"));
  return true;
}

bool LocalReplica::healthy() const {
  std::lock_guard<std::mutex> lock(mu_);
  return !draining_;
}

ReplicaStats LocalReplica::stats() const {
  ReplicaStats s;
  s.id = options_.id;
  const ModelInfo& info = embedder_->info();
  s.device = info.device;
  s.dtype = info.dtype;
  s.pid = 0;
  std::lock_guard<std::mutex> lock(mu_);
  s.state = stopped_ ? ReplicaState::kStopped
                     : (draining_ ? ReplicaState::kUnhealthy : ReplicaState::kReady);
  s.queued_jobs = queue_.size();
  s.queued_tokens = queued_tokens_;
  s.requests_served = served_;
  return s;
}

void LocalReplica::Drain() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    draining_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

std::vector<LocalReplica::Slot> LocalReplica::FormBatch(
    std::vector<std::shared_ptr<Pending>>* dropped) {
  const auto now = Clock::now();
  for (auto it = queue_.begin(); it != queue_.end();) {
    const auto& p = *it;
    if (p->job->cancelled.load() || p->job->deadline <= now) {
      p->answered = true;
      queued_tokens_ -= std::min<uint64_t>(queued_tokens_, p->tokens);
      dropped->push_back(p);
      it = queue_.erase(it);
    } else {
      ++it;
    }
  }
  std::vector<Slot> batch;
  if (queue_.empty()) return batch;
  const size_t budget = max_batch_tokens_;
  size_t used = 0;
  auto take = [&](const std::shared_ptr<Pending>& p, size_t limit) {
    size_t taken = 0;
    while (p->next < p->job->inputs.size()) {
      size_t len = p->job->inputs[p->next].size();
      bool fits = used + len <= budget && taken + len <= limit;
      if (!fits && !batch.empty()) break;
      if (!p->started) {
        p->started = true;
        p->out.queue_wait_s = Seconds(now - p->job->enqueued);
      }
      batch.push_back({p, p->next++});
      used += len;
      taken += len;
      if (used >= budget) break;
    }
  };
  // Pass 1: each waiting job gets up to a fair share, so a big job shares the
  // engine with the small ones queued behind it. Pass 2: fill what is left.
  const size_t share = std::max<size_t>(1, budget / queue_.size());
  for (const auto& p : queue_) {
    if (used >= budget) break;
    take(p, share);
  }
  for (const auto& p : queue_) {
    if (used >= budget) break;
    take(p, budget);
  }
  for (auto it = queue_.begin(); it != queue_.end();) {
    if ((*it)->next == (*it)->job->inputs.size()) {
      running_.push_back(*it);
      it = queue_.erase(it);
    } else {
      ++it;
    }
  }
  return batch;
}

void LocalReplica::CopyIds(const Slot& s, std::vector<int32_t>* ids) const {
  const std::vector<int32_t>& in = s.pending->job->inputs[s.index];
  if (max_tokens_ == 0 || in.size() <= max_tokens_) {
    ids->assign(in.begin(), in.end());
    return;
  }
  ids->assign(in.begin(), in.begin() + static_cast<ptrdiff_t>(max_tokens_));
  ids->back() = in.back();
}

Status LocalReplica::Forward(const std::vector<Slot>& batch, const std::vector<size_t>& pooled,
                             const std::vector<size_t>& per_token, size_t* tokens,
                             double* seconds) {
  *seconds = 0;
  if (!engine_->engine) {
    return FailedPreconditionError("this Embedder was opened with tokenizer_only: no encoder");
  }
  pooled_ids_.resize(pooled.size());
  skip_.clear();
  type1_.clear();
  bool any_skip = false, any_type1 = false;
  for (size_t k = 0; k < pooled.size(); ++k) {
    const Slot& s = batch[pooled[k]];
    const EmbedJob& job = *s.pending->job;
    CopyIds(s, &pooled_ids_[k]);
    const int32_t len = static_cast<int32_t>(pooled_ids_[k].size());
    *tokens += pooled_ids_[k].size();
    skip_.push_back(job.params.pool_skip);
    any_skip = any_skip || skip_.back() != 0;
    // A type1_from past a cut input means none, as in Embedder::Classify.
    type1_.push_back(job.type1_from.empty() ? len : job.type1_from[s.index]);
    any_type1 = any_type1 || type1_.back() < len;
  }
  if (!any_skip) skip_.clear();
  if (!any_type1) type1_.clear();
  token_ids_.resize(per_token.size());
  for (size_t k = 0; k < per_token.size(); ++k) {
    CopyIds(batch[per_token[k]], &token_ids_[k]);
    *tokens += token_ids_[k].size();
  }
  const auto t0 = Clock::now();
  Status s = RunEngine();
  *seconds = Seconds(Clock::now() - t0);
  return s;
}

Status LocalReplica::RunEngine() {
  std::lock_guard<std::mutex> lock(engine_->mu);
  Engine& engine = *engine_->engine;
  if (!pooled_ids_.empty()) {
    pooled_out_.assign(pooled_ids_.size() * (classify_ ? labels_ : hidden_), 0.0f);
    FLOE_RETURN_IF_ERROR(classify_ ? engine.Classify(pooled_ids_, pooled_out_.data(), type1_)
                                   : engine.EmbedPooled(pooled_ids_, pooled_out_.data(), skip_));
  }
  if (!token_ids_.empty()) {
    FLOE_RETURN_IF_ERROR(engine.EmbedHidden(token_ids_, &token_rows_));
    if (token_rows_.size() != token_ids_.size()) {
      return InternalError("engine returned " + std::to_string(token_rows_.size()) +
                           " token matrices for " + std::to_string(token_ids_.size()) +
                           " inputs");
    }
  }
  return OkStatus();
}

void LocalReplica::Distribute(const std::vector<Slot>& batch, const std::vector<size_t>& pooled,
                              const std::vector<size_t>& per_token) {
  for (size_t k = 0; k < per_token.size(); ++k) {
    const Slot& s = batch[per_token[k]];
    s.pending->out.vectors[s.index] = std::move(token_rows_[k]);
  }
  // Each vector is written once, from the pass's buffer into the job's answer.
  const size_t width = classify_ ? labels_ : hidden_;
  for (size_t k = 0; k < pooled.size(); ++k) {
    const Slot& s = batch[pooled[k]];
    Pending& p = *s.pending;
    const float* row = pooled_out_.data() + k * width;
    if (classify_) {  // raw logits
      p.out.vectors[s.index].assign(row, row + width);
      continue;
    }
    Status st = PostprocessEmbedding(std::span<const float>(row, width), p.job->params.dimensions,
                                     p.job->params.normalize, &p.out.vectors[s.index]);
    if (!st.ok() && p.error.ok()) p.error = st.WithPrefix("input " + std::to_string(s.index));
  }
}

void LocalReplica::Loop() {
  for (;;) {
    std::vector<Slot> batch;
    std::vector<std::shared_ptr<Pending>> dropped;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [this] { return draining_ || !queue_.empty(); });
      if (queue_.empty() && draining_) {
        stopped_ = true;
        break;
      }
      batch = FormBatch(&dropped);
    }
    for (const auto& p : dropped) {
      Finish(p, p->job->cancelled.load()
                    ? CancelledError("request " + p->job->request_id + " was cancelled")
                    : DeadlineExceededError("deadline passed while request " +
                                            p->job->request_id + " was queued"));
    }
    if (batch.empty()) continue;

    // Per-token jobs ride in the same batch, in a pass of their own.
    std::vector<size_t> pooled_slots, token_slots;
    for (size_t i = 0; i < batch.size(); ++i) {
      (batch[i].pending->job->params.per_token ? token_slots : pooled_slots).push_back(i);
    }
    size_t tokens = 0;
    double forward_s = 0;
    const Status result = Forward(batch, pooled_slots, token_slots, &tokens, &forward_s);
    batches_.Observe(tokens, forward_s);
    if (result.ok()) {
      Distribute(batch, pooled_slots, token_slots);
    } else {
      FLOE_LOG(kError) << "forward pass failed: " << result.ToString();
    }

    std::vector<std::shared_ptr<Pending>> complete;
    {
      std::lock_guard<std::mutex> lock(mu_);
      std::shared_ptr<Pending> last;
      for (const auto& s : batch) {
        auto& p = s.pending;
        if (p.get() != last.get()) p->out.forward_s += forward_s;
        last = p;
        if (p->answered) continue;
        p->finished++;
        if (!result.ok() || !p->error.ok() || p->finished == p->job->inputs.size()) {
          p->answered = true;
          queued_tokens_ -= std::min<uint64_t>(queued_tokens_, p->tokens);
          if (result.ok() && p->error.ok()) served_++;
          complete.push_back(p);
          // A failed job may still sit in the queue with unbatched inputs.
          queue_.remove(p);
        }
      }
      std::erase_if(running_, [](const auto& p) { return p->answered; });
    }
    for (const auto& p : complete) Finish(p, result.ok() ? p->error : result);
  }
}

}  // namespace floe
