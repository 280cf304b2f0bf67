#include "replica/local_replica.h"

#include <algorithm>

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
    : embedder_(std::move(embedder)), options_(std::move(options)) {
  if (options_.max_batch_tokens == 0) options_.max_batch_tokens = 16384;
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
  if (!p->job->type1_from.empty() && p->job->type1_from.size() != p->job->inputs.size()) {
    p->done(InvalidArgumentError("type1_from has " + std::to_string(p->job->type1_from.size()) +
                                 " entries for " + std::to_string(p->job->inputs.size()) +
                                 " inputs"));
    return;
  }
  if (p->job->params.per_token && embedder_->info().task == "classify") {
    p->done(FailedPreconditionError(
        "the model is a classifier: it has scores, not per-token embeddings"));
    return;
  }
  if (p->job->params.pool_skip < 0) {  // would fail the whole batch it rides in
    p->done(InvalidArgumentError("pool_skip must be >= 0, got " +
                                 std::to_string(p->job->params.pool_skip)));
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

void LocalReplica::Finish(const std::shared_ptr<Pending>& p, Status status) {
  // Caller has set p->answered under mu_.
  if (status.ok()) {
    p->out.per_token = p->job->params.per_token;
    p->out.dimension = p->out.per_token  ? embedder_->info().hidden_size
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
  const size_t budget = options_.max_batch_tokens;
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

Status LocalReplica::RunPerToken(
    const std::vector<Slot>& batch, const std::vector<size_t>& slots,
    std::vector<TokenVectors>* rows, size_t* tokens) {
  std::vector<std::vector<int32_t>> ids;
  ids.reserve(slots.size());
  for (size_t slot : slots) {
    ids.push_back(batch[slot].pending->job->inputs[batch[slot].index]);
    *tokens += ids.back().size();
  }
  auto r = embedder_->EmbedAllTokens(ids);
  if (!r.ok()) return r.status();
  if (r->size() != ids.size()) {
    return InternalError("engine returned " + std::to_string(r->size()) + " token matrices for " +
                         std::to_string(ids.size()) + " inputs");
  }
  *rows = std::move(r).value();
  return OkStatus();
}

void LocalReplica::Loop() {
  std::vector<std::vector<int32_t>> ids;
  std::vector<int32_t> skip;
  std::vector<int32_t> type1;
  const bool classify = embedder_->info().task == "classify";
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
    ids.clear();
    skip.clear();
    type1.clear();
    size_t tokens = 0;
    bool any_skip = false, any_type1 = false;
    for (size_t slot : pooled_slots) {
      const Slot& s = batch[slot];
      const EmbedJob& job = *s.pending->job;
      ids.push_back(job.inputs[s.index]);
      tokens += ids.back().size();
      skip.push_back(job.params.pool_skip);
      any_skip = any_skip || skip.back() != 0;
      const int32_t len = static_cast<int32_t>(ids.back().size());
      type1.push_back(job.type1_from.empty() ? len : job.type1_from[s.index]);
      any_type1 = any_type1 || type1.back() < len;
    }
    if (!any_skip) skip.clear();
    if (!any_type1) type1.clear();
    EmbedParams raw;
    raw.normalize = false;
    raw.dimensions = 0;
    const auto t0 = Clock::now();
    // A classifier's logits go back as they are; embeddings get postprocessed.
    StatusOr<std::vector<std::vector<float>>> result = std::vector<std::vector<float>>();
    if (!pooled_slots.empty()) {
      result = classify ? embedder_->Classify(ids, type1) : embedder_->EmbedTokens(ids, raw, skip);
    }
    std::vector<TokenVectors> token_rows;
    if (result.ok() && !token_slots.empty()) {
      if (Status st = RunPerToken(batch, token_slots, &token_rows, &tokens); !st.ok()) result = st;
    }
    const double forward_s = Seconds(Clock::now() - t0);
    batches_.Observe(tokens, forward_s);

    if (result.ok() && result->size() != pooled_slots.size()) {
      result = InternalError("engine returned " + std::to_string(result->size()) +
                             " vectors for " + std::to_string(pooled_slots.size()) + " inputs");
    }
    if (result.ok()) {
      for (size_t k = 0; k < token_slots.size(); ++k) {
        const Slot& s = batch[token_slots[k]];
        s.pending->out.vectors[s.index] = std::move(token_rows[k].values);
      }
      for (size_t k = 0; k < pooled_slots.size(); ++k) {
        const size_t i = pooled_slots[k];
        Pending& p = *batch[i].pending;
        auto& pooled = (*result)[k];
        if (classify) {
          p.out.vectors[batch[i].index] = std::move(pooled);
          continue;
        }
        Status s = PostprocessEmbedding(std::span<const float>(pooled.data(), pooled.size()),
                                        p.job->params.dimensions, p.job->params.normalize,
                                        &p.out.vectors[batch[i].index]);
        if (!s.ok() && p.error.ok()) {
          p.error = s.WithPrefix("input " + std::to_string(batch[i].index));
        }
      }
    } else {
      FLOE_LOG(kError) << "forward pass failed: " << result.status().ToString();
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
    for (const auto& p : complete) Finish(p, result.ok() ? p->error : result.status());
  }
}

}  // namespace floe
