// The protocol-neutral part of serving: admission (--max-concurrent-requests),
// model-name and api-key checks, validation, tokenization on a thread pool,
// and hand-off of token ids to the ReplicaSet. gRPC services and HTTP routes
// translate their wire formats to an EmbedSpec and back; nothing here knows of
// either. Nothing here blocks: results arrive through callbacks.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/thread_pool.h"
#include "floe/embedder.h"
#include "replica/replica_set.h"
#include "serve/metrics.h"
#include "serve/options.h"

namespace floe {

struct EmbedSpec {
  std::string request_id;  // "" = one is generated
  std::string model;       // "" = the served model
  std::vector<std::string> texts;
  std::vector<std::vector<int32_t>> token_ids;
  bool use_token_ids = false;
  EmbedParams params;  // prompt_name, dimensions (0 = full), normalize, truncate
  // Classify only: when non-empty, input i is the text pair (texts[i],
  // pair_texts[i]), tokenized with the model's pair template (no prompt).
  std::vector<std::string> pair_texts;
  // Empty, or one per input: its own truncate and truncation direction
  // (tei.v1 RerankStream's per-message fields), in place of params'.
  struct Truncation {
    bool truncate = true;
    bool left = false;
  };
  std::vector<Truncation> truncation;
  // Embed only: every token's vector instead of a pooled one (TEI's
  // embed_all). The request's tokens in all may not pass --max-batch-tokens
  // (OUT_OF_RANGE: the answer would be too large).
  bool per_token = false;
  int priority = 0;
  Clock::time_point deadline = Clock::time_point::max();
};

struct EmbedReply {
  std::string request_id;
  // Embed: one vector per input. Classify: num_labels raw logits per input.
  // Rerank: one raw logit per text. per_token: input i's token matrix, its
  // tokens x dimension floats token by token.
  std::vector<std::vector<float>> vectors;
  int dimension = 0;
  bool per_token = false;
  size_t prompt_tokens = 0;
  // Where the time went (TEI's x-*-time headers): tokenizing (from Embed to
  // the hand-off to a replica), waiting in the replica's queue, and the
  // forward passes the request rode in.
  double tokenize_s = 0;
  double queue_s = 0;
  double inference_s = 0;
};

using EmbedDone = std::function<void(StatusOr<EmbedReply>)>;
using TokenizeDone = std::function<void(StatusOr<std::vector<std::vector<int32_t>>>)>;

class Frontend {
 public:
  // `embedder` is used for Tokenize and info() only (thread-safe calls).
  Frontend(const ServeOptions& options, std::shared_ptr<Embedder> embedder,
           std::shared_ptr<ReplicaSet> replicas, Metrics* metrics);
  ~Frontend();
  Frontend(const Frontend&) = delete;
  Frontend& operator=(const Frontend&) = delete;

  // Thread-safe, never blocks. `done` runs exactly once: inline for requests
  // rejected up front (limits, validation), else from a pool or replica
  // thread. Returns the job (nullptr when rejected up front) so a transport
  // can Cancel it when its client goes away.
  // FAILED_PRECONDITION on a classifier model.
  std::shared_ptr<EmbedJob> Embed(EmbedSpec spec, EmbedDone done);
  // Classifier models (ModelInfo::task "classify"): raw logits, num_labels per
  // input, of spec's texts, token ids or text pairs (pair_texts); no sigmoid
  // or softmax (serve/scores.h has them). FAILED_PRECONDITION on an
  // embedding model. Same limits and callbacks as Embed.
  std::shared_ptr<EmbedJob> Classify(EmbedSpec spec, EmbedDone done);
  // Cross-encoder scores: one raw logit per (query, spec.texts[i]) pair.
  // FAILED_PRECONDITION unless the model is a reranker (a classifier with
  // one label).
  std::shared_ptr<EmbedJob> Rerank(std::string query, EmbedSpec spec, EmbedDone done);
  void Cancel(const std::shared_ptr<EmbedJob>& job);
  // Cancels the in-flight request with this id. False when none.
  bool Abort(const std::string& request_id);

  // Token ids as Embed would use them; runs on the pool.
  void Tokenize(std::vector<std::string> texts, EmbedParams params, const std::string& model,
                TokenizeDone done);

  // `presented` is the Authorization value ("Bearer KEY" or "KEY").
  Status CheckApiKey(std::string_view presented) const;
  Status CheckModel(std::string_view name) const;

  // Runs `fn` on the tokenizer pool: tokenizer work a transport must not do
  // on its own threads (TEI's /tokenize and /decode call embedder() there).
  void Post(std::function<void()> fn) { pool_.Submit(std::move(fn)); }
  // Thread-safe calls only (Tokenize*, Decode, info).
  const Embedder& embedder() const { return *embedder_; }
  const ModelInfo& model_info() const { return embedder_->info(); }
  const std::string& model_name() const { return model_name_; }
  const ServeOptions& options() const { return options_; }
  ReplicaSet& replicas() { return *replicas_; }
  int max_input_tokens() const { return max_input_tokens_; }
  size_t tokenizer_threads() const { return pool_.size(); }
  size_t vocab_size() const { return vocab_size_; }
  Metrics& metrics() { return *metrics_; }

  // After this, new requests get UNAVAILABLE; in-flight ones finish.
  void StartDrain() { draining_ = true; }
  bool draining() const { return draining_; }
  bool ready() const { return !draining_ && replicas_->healthy(); }

 private:
  std::shared_ptr<EmbedJob> Start(EmbedSpec spec, bool classify, EmbedDone done);
  Status Validate(const EmbedSpec& spec) const;
  // Tokenizes inputs [begin, end) of `spec` into `out` (and, for pairs, where
  // each one's token type 1 starts into `type1`).
  Status TokenizeRange(const EmbedSpec& spec, size_t begin, size_t end,
                       std::vector<std::vector<int32_t>>* out,
                       std::vector<int32_t>* type1 = nullptr) const;
  Status TokenizeOne(const EmbedSpec& spec, size_t i, std::vector<int32_t>* ids,
                     int32_t* type1) const;
  Status FitLength(size_t index, std::vector<int32_t>* ids, bool truncate,
                   bool left = false) const;
  // Refuses a per-token request whose answer would pass --max-batch-tokens.
  Status CheckPerTokenSize(const std::vector<std::vector<int32_t>>& ids) const;
  void Submit(std::shared_ptr<EmbedJob> job, EmbedDone done, double tokenize_s);
  void Forget(const std::shared_ptr<EmbedJob>& job);

  const ServeOptions options_;
  std::shared_ptr<Embedder> embedder_;
  std::shared_ptr<ReplicaSet> replicas_;
  Metrics* metrics_;
  std::string model_name_;
  int max_input_tokens_ = 0;
  size_t vocab_size_ = 0;  // ModelInfo::vocab_size; 0 = ids not range-checked
  std::atomic<bool> draining_{false};
  std::atomic<int64_t> in_flight_{0};
  std::atomic<uint64_t> next_id_{0};

  std::mutex jobs_mu_;
  std::unordered_map<std::string, std::weak_ptr<EmbedJob>> jobs_;  // GUARDED_BY(jobs_mu_)

  ThreadPool pool_;  // last: its threads stop before the rest goes
};

}  // namespace floe
