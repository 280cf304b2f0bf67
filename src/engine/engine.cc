#include "engine/engine.h"

#include <algorithm>
#include <cstdlib>
#include <string>

#include "backend/backend.h"
#include "core/log.h"
#include "engine/bert_encoder.h"

namespace floe {

Engine::~Engine() = default;

namespace {

PoolKind PoolKindFor(PoolingMode m) {
  switch (m) {
    case PoolingMode::kCls: return PoolKind::kCls;
    case PoolingMode::kMean: return PoolKind::kMean;
    case PoolingMode::kMax: return PoolKind::kMax;
    case PoolingMode::kLastToken: return PoolKind::kLastToken;
  }
  return PoolKind::kCls;
}

class EngineImpl : public Engine {
 public:
  EngineImpl(std::unique_ptr<Backend> backend, std::unique_ptr<BertEncoder> encoder,
             PoolKind pool, size_t max_batch_tokens)
      : backend_(std::move(backend)),
        encoder_(std::move(encoder)),
        pool_(pool),
        max_batch_tokens_(max_batch_tokens) {}

  ~EngineImpl() override {
    encoder_.reset();  // its buffers belong to the backend
  }

  Status EmbedPooled(const std::vector<std::vector<int32_t>>& seqs, float* out,
                     std::span<const int32_t> pool_skip) override {
    const BertConfig& c = encoder_->config();
    if (!pool_skip.empty() && pool_skip.size() != seqs.size()) {
      return InvalidArgumentError("pool_skip has " + std::to_string(pool_skip.size()) +
                                  " entries for " + std::to_string(seqs.size()) + " sequences");
    }
    for (size_t i = 0; i < pool_skip.size(); ++i) {
      if (pool_skip[i] < 0) {
        return InvalidArgumentError("sequence " + std::to_string(i) + ": pool_skip " +
                                    std::to_string(pool_skip[i]) + " is negative");
      }
    }
    for (size_t i = 0; i < seqs.size(); ++i) {
      const auto& s = seqs[i];
      if (s.empty()) {
        return InvalidArgumentError("sequence " + std::to_string(i) + " is empty");
      }
      if (s.size() > static_cast<size_t>(c.max_position_embeddings)) {
        return InvalidArgumentError("sequence " + std::to_string(i) + " has " +
                                    std::to_string(s.size()) + " tokens, more than the model's " +
                                    std::to_string(c.max_position_embeddings) + " positions");
      }
      for (size_t j = 0; j < s.size(); ++j) {
        if (s[j] < 0 || s[j] >= c.vocab_size) {
          return InvalidArgumentError("sequence " + std::to_string(i) + ", token " +
                                      std::to_string(j) + ": id " + std::to_string(s[j]) +
                                      " is outside the vocabulary [0, " +
                                      std::to_string(c.vocab_size) + ")");
        }
      }
    }
    // Greedy passes in request order, each within the token budget; a
    // sequence over the budget on its own still runs (alone).
    const int hidden = c.hidden_size;
    std::vector<const std::vector<int32_t>*> pass;
    size_t first = 0, tokens = 0;
    for (size_t i = 0; i <= seqs.size(); ++i) {
      const bool flush = i == seqs.size() ||
                         (!pass.empty() && tokens + seqs[i].size() > max_batch_tokens_);
      if (flush && !pass.empty()) {
        const auto skip = pool_skip.empty() ? pool_skip : pool_skip.subspan(first, pass.size());
        FLOE_RETURN_IF_ERROR(encoder_->Forward(pass, pool_, out + first * hidden, nullptr, skip));
        pass.clear();
        tokens = 0;
        first = i;
      }
      if (i == seqs.size()) break;
      pass.push_back(&seqs[i]);
      tokens += seqs[i].size();
    }
    return OkStatus();
  }

  int hidden_size() const override { return encoder_->config().hidden_size; }
  std::string device() const override { return backend_->device(); }
  std::string dtype() const override {
    return std::string(ComputeTypeName(backend_->compute_type()));
  }

 private:
  std::unique_ptr<Backend> backend_;
  std::unique_ptr<BertEncoder> encoder_;
  PoolKind pool_;
  size_t max_batch_tokens_;
};

}  // namespace

StatusOr<std::unique_ptr<Engine>> Engine::Create(const ModelFolder& model,
                                                 const EngineOptions& options) {
  BackendOptions bo;
  bo.device = options.device;
  FLOE_ASSIGN_OR_RETURN(bo.compute_type, ParseComputeType(options.dtype));
  bo.num_threads = options.num_threads;
  if (options.num_threads < 0) {
    return InvalidArgumentError("num_threads must be >= 0, got " +
                                std::to_string(options.num_threads));
  }
  if (options.max_batch_tokens == 0) {
    return InvalidArgumentError("max_batch_tokens must be > 0");
  }
  if (options.gpu_memory_fraction < 0 || options.gpu_memory_fraction > 1) {
    return InvalidArgumentError("gpu memory fraction must be in [0, 1], got " +
                                std::to_string(options.gpu_memory_fraction));
  }
  // GPU backends plan their scratch for a full pass and check it at load.
  bo.max_batch_tokens = static_cast<int64_t>(options.max_batch_tokens);
  bo.gpu_memory_utilization = options.gpu_memory_fraction;
  if (model.config.model_type != "bert") {
    return UnimplementedError(model.path + ": model_type \"" + model.config.model_type +
                              "\" is not supported (bert only)");
  }
  FLOE_ASSIGN_OR_RETURN(std::unique_ptr<Backend> backend, CreateBackend(bo));
  FLOE_ASSIGN_OR_RETURN(std::unique_ptr<BertEncoder> encoder,
                        BertEncoder::Create(model, backend.get()));
  return std::unique_ptr<Engine>(new EngineImpl(std::move(backend), std::move(encoder),
                                                PoolKindFor(model.st.pooling),
                                                options.max_batch_tokens));
}

}  // namespace floe
