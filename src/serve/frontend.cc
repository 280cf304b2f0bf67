#include "serve/frontend.h"

#include <algorithm>

namespace floe {

namespace {
double Since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}
}  // namespace

Frontend::Frontend(const ServeOptions& options, std::shared_ptr<Embedder> embedder,
                   std::shared_ptr<ReplicaSet> replicas, Metrics* metrics)
    : options_(options),
      embedder_(std::move(embedder)),
      replicas_(std::move(replicas)),
      metrics_(metrics),
      model_name_(options.model_name()),
      pool_(options.tokenizer_threads > 0 ? options.tokenizer_threads : 0) {
  const ModelInfo& info = embedder_->info();
  max_input_tokens_ = info.max_tokens;
  if (options_.max_input_tokens > 0 &&
      (max_input_tokens_ <= 0 || options_.max_input_tokens < max_input_tokens_)) {
    max_input_tokens_ = options_.max_input_tokens;
  }
  vocab_size_ = info.vocab_size > 0 ? static_cast<size_t>(info.vocab_size) : 0;
}

Frontend::~Frontend() = default;

Status Frontend::CheckApiKey(std::string_view presented) const {
  if (options_.api_key.empty()) return OkStatus();
  if (presented.substr(0, 7) == "Bearer " || presented.substr(0, 7) == "bearer ") {
    presented.remove_prefix(7);
  }
  // Compare in constant time for a given length.
  const std::string& key = options_.api_key;
  unsigned diff = presented.size() != key.size();
  for (size_t i = 0; i < key.size(); ++i) {
    diff |= static_cast<unsigned>(key[i]) ^
            static_cast<unsigned>(i < presented.size() ? presented[i] : 0);
  }
  if (diff == 0) return OkStatus();
  return UnauthenticatedError(presented.empty()
                                  ? "missing API key (--api-key is set: send "
                                    "'Authorization: Bearer KEY')"
                                  : "invalid API key");
}

Status Frontend::CheckModel(std::string_view name) const {
  if (name.empty() || name == model_name_) return OkStatus();
  return NotFoundError("model " + Quoted(name) + " is not served here; this server serves '" +
                       model_name_ + "'");
}

Status Frontend::Validate(const EmbedSpec& spec) const {
  FLOE_RETURN_IF_ERROR(CheckModel(spec.model));
  const size_t n = spec.use_token_ids ? spec.token_ids.size() : spec.texts.size();
  if (n == 0) return InvalidArgumentError("input must not be empty");
  if (n > static_cast<size_t>(options_.max_client_batch_size)) {
    return InvalidArgumentError("request has " + std::to_string(n) + " inputs, over the limit of " +
                                std::to_string(options_.max_client_batch_size) +
                                " (--max-client-batch-size)");
  }
  const ModelInfo& info = embedder_->info();
  if (spec.params.dimensions < 0 || spec.params.dimensions > info.hidden_size) {
    return InvalidArgumentError("dimensions must be between 1 and " +
                                std::to_string(info.hidden_size) + " for this model, got " +
                                std::to_string(spec.params.dimensions));
  }
  if (!spec.pair_texts.empty()) {
    if (spec.use_token_ids || spec.pair_texts.size() != spec.texts.size()) {
      return InvalidArgumentError("text pairs need as many second texts as first ones, got " +
                                  std::to_string(spec.texts.size()) + " and " +
                                  std::to_string(spec.pair_texts.size()));
    }
    if (!spec.params.prompt_name.empty()) {
      return InvalidArgumentError("prompt_name does not apply to text pairs");
    }
  }
  if (!spec.truncation.empty() && spec.truncation.size() != n) {
    return InvalidArgumentError("truncation has " + std::to_string(spec.truncation.size()) +
                                " entries for " + std::to_string(n) + " inputs");
  }
  if (spec.per_token && (!spec.pair_texts.empty() || info.task == "classify")) {
    return FailedPreconditionError("per-token embeddings need an embedding model and single "
                                   "texts");
  }
  if (spec.params.truncate_left && !spec.use_token_ids && !info.include_prompt) {
    auto skip = embedder_->PromptTokensExcluded(spec.params);
    if (skip.ok() && *skip > 0) {
      return InvalidArgumentError(
          "truncation_direction 'left' would cut the prompt, which this model's pooling "
          "leaves out (include_prompt false); use 'right'");
    }
  }
  if (!spec.params.prompt_name.empty() &&
      std::find(info.prompt_names.begin(), info.prompt_names.end(), spec.params.prompt_name) ==
          info.prompt_names.end()) {
    std::string known;
    for (const auto& p : info.prompt_names) known += (known.empty() ? "" : ", ") + p;
    return InvalidArgumentError("unknown prompt_name " + Quoted(spec.params.prompt_name) +
                                "; this model has: " + (known.empty() ? "none" : known));
  }
  return OkStatus();
}

Status Frontend::FitLength(size_t index, std::vector<int32_t>* ids, bool truncate,
                           bool left) const {
  if (ids->empty()) {
    return InvalidArgumentError("input " + std::to_string(index) + " has no token ids");
  }
  if (max_input_tokens_ > 0 && ids->size() > static_cast<size_t>(max_input_tokens_)) {
    if (!truncate) {
      return InvalidArgumentError("input " + std::to_string(index) + " has " +
                                  std::to_string(ids->size()) + " tokens, over the limit of " +
                                  std::to_string(max_input_tokens_) +
                                  " (--max-input-tokens / the model's max length; "
                                  "truncate=true cuts it instead)");
    }
    if (left) {  // [CLS] stays first, the tail (with [SEP]) stays
      ids->erase(ids->begin() + 1, ids->end() - (max_input_tokens_ - 1));
      return OkStatus();
    }
    const int32_t last = ids->back();  // [SEP] stays last
    ids->resize(max_input_tokens_);
    ids->back() = last;
  }
  return OkStatus();
}

Status Frontend::CheckPerTokenSize(const std::vector<std::vector<int32_t>>& ids) const {
  size_t tokens = 0;
  for (const auto& v : ids) tokens += v.size();
  if (tokens <= options_.engine.max_batch_tokens) return OkStatus();
  return OutOfRangeError("the inputs have " + std::to_string(tokens) +
                         " tokens in all, over the limit of " +
                         std::to_string(options_.engine.max_batch_tokens) +
                         " for per-token embeddings (--max-batch-tokens): the answer holds one "
                         "vector per token; send fewer or shorter inputs");
}

Status Frontend::TokenizeOne(const EmbedSpec& spec, size_t i, std::vector<int32_t>* ids,
                             int32_t* type1) const {
  EmbedParams params = spec.params;
  if (!spec.truncation.empty()) {
    params.truncate = spec.truncation[i].truncate;
    params.truncate_left = spec.truncation[i].left;
  }
  // Texts and pairs are cut to --max-input-tokens where they are tokenized
  // (so a pair keeps both texts); refusals name the flag (FitLength).
  if (params.truncate && max_input_tokens_ > 0) params.max_tokens = max_input_tokens_;
  if (spec.use_token_ids) {
    *ids = spec.token_ids[i];
    for (int32_t id : *ids) {
      if (id < 0 || (vocab_size_ > 0 && static_cast<size_t>(id) >= vocab_size_)) {
        return InvalidArgumentError("input " + std::to_string(i) + " has token id " +
                                    std::to_string(id) + " outside the vocabulary [0, " +
                                    std::to_string(vocab_size_) + ")");
      }
    }
  } else if (!spec.pair_texts.empty()) {
    auto r = embedder_->TokenizePair(spec.texts[i], spec.pair_texts[i], params);
    if (!r.ok()) return r.status().WithPrefix("input " + std::to_string(i));
    *ids = std::move(r->ids);
    *type1 = r->type1_from;
  } else {
    auto r = embedder_->Tokenize(spec.texts[i], params);
    if (!r.ok()) return r.status().WithPrefix("input " + std::to_string(i));
    *ids = std::move(r).value();
  }
  return FitLength(i, ids, params.truncate, params.truncate_left);
}

Status Frontend::TokenizeRange(const EmbedSpec& spec, size_t begin, size_t end,
                               std::vector<std::vector<int32_t>>* out,
                               std::vector<int32_t>* type1) const {
  for (size_t i = begin; i < end; ++i) {
    int32_t t1 = 0;
    FLOE_RETURN_IF_ERROR(TokenizeOne(spec, i, &(*out)[i], &t1));
    if (type1 != nullptr && !spec.pair_texts.empty()) (*type1)[i] = t1;
  }
  return OkStatus();
}

std::shared_ptr<EmbedJob> Frontend::Embed(EmbedSpec spec, EmbedDone done) {
  return Start(std::move(spec), /*classify=*/false, std::move(done));
}

std::shared_ptr<EmbedJob> Frontend::Classify(EmbedSpec spec, EmbedDone done) {
  return Start(std::move(spec), /*classify=*/true, std::move(done));
}

std::shared_ptr<EmbedJob> Frontend::Rerank(std::string query, EmbedSpec spec, EmbedDone done) {
  const ModelInfo& info = embedder_->info();
  if (info.task == "classify" && info.num_labels != 1) {
    done(FailedPreconditionError("model '" + model_name_ + "' is a classifier with " +
                                 std::to_string(info.num_labels) +
                                 " labels, not a reranker (one label): use predict"));
    return nullptr;
  }
  spec.pair_texts = std::move(spec.texts);
  spec.texts.assign(spec.pair_texts.size(), query);
  return Start(std::move(spec), /*classify=*/true, std::move(done));
}

std::shared_ptr<EmbedJob> Frontend::Start(EmbedSpec spec, bool classify, EmbedDone done) {
  if (draining_) {
    done(UnavailableError("server is shutting down"));
    return nullptr;
  }
  const int64_t now_in_flight = in_flight_.fetch_add(1) + 1;
  if (now_in_flight > options_.max_concurrent_requests) {
    in_flight_.fetch_sub(1);
    done(ResourceExhaustedError("too many concurrent requests: limit is " +
                                std::to_string(options_.max_concurrent_requests) +
                                " (--max-concurrent-requests)"));
    return nullptr;
  }
  metrics_->in_flight.fetch_add(1);
  // From here on every path ends in `finish`, which releases the slot.
  EmbedDone finish = [this, done = std::move(done)](StatusOr<EmbedReply> r) {
    in_flight_.fetch_sub(1);
    metrics_->in_flight.fetch_sub(1);
    done(std::move(r));
  };
  const bool is_classifier = embedder_->info().task == "classify";
  if (classify != is_classifier) {
    finish(FailedPreconditionError(
        is_classifier ? "model '" + model_name_ +
                            "' is a classifier (a ...ForSequenceClassification folder) and "
                            "gives scores, not embeddings: use rerank or predict"
                      : "model '" + model_name_ +
                            "' is an embedding model, not a reranker or classifier: serve a "
                            "...ForSequenceClassification folder to rerank or predict"));
    return nullptr;
  }
  if (Status s = Validate(spec); !s.ok()) {
    finish(std::move(s));
    return nullptr;
  }
  // Text gets the prompt prepended; pooling may have to leave it out again.
  StatusOr<int32_t> pool_skip = spec.use_token_ids || classify
                                     ? StatusOr<int32_t>(0)
                                     : embedder_->PromptTokensExcluded(spec.params);
  if (!pool_skip.ok()) {
    finish(pool_skip.status());
    return nullptr;
  }
  auto job = std::make_shared<EmbedJob>();
  job->request_id = spec.request_id.empty() ? "floe-" + std::to_string(next_id_.fetch_add(1))
                                            : spec.request_id;
  job->params.dimensions = spec.params.dimensions;
  job->params.normalize = spec.params.normalize;
  job->params.pool_skip = spec.per_token ? 0 : *pool_skip;
  job->params.per_token = spec.per_token;
  job->priority = spec.priority;
  job->deadline = spec.deadline;
  {
    std::lock_guard<std::mutex> lock(jobs_mu_);
    jobs_[job->request_id] = job;
  }

  // Tokenize on the pool in chunks; the last chunk to finish submits.
  struct Shared {
    EmbedSpec spec;
    std::vector<std::vector<int32_t>> ids;
    std::vector<int32_t> type1;  // pairs only
    std::atomic<size_t> remaining{0};
    std::mutex mu;
    Status error;  // GUARDED_BY(mu)
    Clock::time_point start = Clock::now();
  };
  auto shared = std::make_shared<Shared>();
  const size_t n = spec.use_token_ids ? spec.token_ids.size() : spec.texts.size();
  shared->spec = std::move(spec);
  shared->ids.resize(n);
  if (!shared->spec.pair_texts.empty()) shared->type1.resize(n);
  const size_t chunks = std::min(n, std::max<size_t>(1, pool_.size()));
  const size_t per = (n + chunks - 1) / chunks;
  const size_t tasks = (n + per - 1) / per;
  shared->remaining = tasks;
  auto done_ptr = std::make_shared<EmbedDone>(std::move(finish));
  for (size_t t = 0; t < tasks; ++t) {
    const size_t begin = t * per, end = std::min(n, begin + per);
    pool_.Submit([this, shared, job, done_ptr, begin, end] {
      Status s = job->cancelled
                     ? OkStatus()
                     : TokenizeRange(shared->spec, begin, end, &shared->ids, &shared->type1);
      if (!s.ok()) {
        std::lock_guard<std::mutex> lock(shared->mu);
        if (shared->error.ok()) shared->error = std::move(s);
      }
      if (shared->remaining.fetch_sub(1) != 1) return;
      const double tokenize_s = Since(shared->start);
      metrics_->tokenize_seconds.Observe(tokenize_s);
      Status error;
      {
        std::lock_guard<std::mutex> lock(shared->mu);
        error = shared->error;
      }
      if (error.ok() && shared->spec.per_token) error = CheckPerTokenSize(shared->ids);
      if (error.ok() && job->cancelled) {
        error = CancelledError("request " + job->request_id + " was cancelled");
      }
      if (!error.ok()) {
        Forget(job);
        (*done_ptr)(std::move(error));
        return;
      }
      job->inputs = std::move(shared->ids);
      job->type1_from = std::move(shared->type1);
      job->enqueued = Clock::now();
      Submit(job, std::move(*done_ptr), tokenize_s);
    });
  }
  return job;
}

void Frontend::Submit(std::shared_ptr<EmbedJob> job, EmbedDone done, double tokenize_s) {
  const size_t tokens = job->total_tokens();
  metrics_->input_tokens.fetch_add(tokens);
  replicas_->Submit(job, [this, job, tokens, tokenize_s,
                          done = std::move(done)](StatusOr<EmbedOutput> r) {
    Forget(job);
    if (!r.ok()) {
      done(r.status());
      return;
    }
    metrics_->queue_wait_seconds.Observe(r->queue_wait_s);
    metrics_->embeddings.fetch_add(r->vectors.size());
    EmbedReply reply;
    reply.request_id = job->request_id;
    reply.dimension = r->dimension;
    reply.per_token = r->per_token;
    reply.prompt_tokens = tokens;
    reply.tokenize_s = tokenize_s;
    reply.queue_s = r->queue_wait_s;
    reply.inference_s = r->forward_s;
    reply.vectors = std::move(r->vectors);
    done(std::move(reply));
  });
}

void Frontend::Forget(const std::shared_ptr<EmbedJob>& job) {
  std::lock_guard<std::mutex> lock(jobs_mu_);
  auto it = jobs_.find(job->request_id);
  if (it != jobs_.end()) {
    auto held = it->second.lock();
    if (!held || held == job) jobs_.erase(it);
  }
}

void Frontend::Cancel(const std::shared_ptr<EmbedJob>& job) {
  if (!job) return;
  job->cancelled = true;
  replicas_->Cancel(job->request_id);
}

bool Frontend::Abort(const std::string& request_id) {
  std::shared_ptr<EmbedJob> job;
  {
    std::lock_guard<std::mutex> lock(jobs_mu_);
    auto it = jobs_.find(request_id);
    if (it != jobs_.end()) job = it->second.lock();
  }
  if (!job) return false;
  Cancel(job);
  return true;
}

void Frontend::Tokenize(std::vector<std::string> texts, EmbedParams params,
                        const std::string& model, TokenizeDone done) {
  EmbedSpec spec;
  spec.model = model;
  spec.texts = std::move(texts);
  spec.params = std::move(params);
  if (Status s = Validate(spec); !s.ok()) {
    done(std::move(s));
    return;
  }
  auto shared = std::make_shared<EmbedSpec>(std::move(spec));
  pool_.Submit([this, shared, done = std::move(done)] {
    std::vector<std::vector<int32_t>> ids(shared->texts.size());
    Status s = TokenizeRange(*shared, 0, ids.size(), &ids);
    if (!s.ok()) {
      done(std::move(s));
    } else {
      done(std::move(ids));
    }
  });
}

}  // namespace floe
