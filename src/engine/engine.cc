#include "engine/engine.h"

#include <algorithm>
#include <cstdlib>
#include <string>

#include "backend/backend.h"
#include "core/log.h"
#include "engine/encoder.h"

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
  EngineImpl(std::unique_ptr<Backend> backend, std::unique_ptr<Encoder> encoder,
             const BertConfig& config, PoolKind pool)
      : backend_(std::move(backend)),
        encoder_(std::move(encoder)),
        config_(config),
        pool_(pool) {}

  ~EngineImpl() override {
    encoder_.reset();  // its buffers belong to the backend
  }

  Status EmbedPooled(const std::vector<std::vector<int32_t>>& seqs, float* out,
                     std::span<const int32_t> pool_skip) override {
    FLOE_RETURN_IF_ERROR(CheckEmbedding());
    FLOE_RETURN_IF_ERROR(CheckPerSeq(seqs, pool_skip, "pool_skip"));
    FLOE_RETURN_IF_ERROR(CheckSeqs(seqs));
    const size_t hidden = static_cast<size_t>(config_.hidden_size);
    return InPasses(seqs, [&](auto pass, size_t first) {
      const auto skip = pool_skip.empty() ? pool_skip : pool_skip.subspan(first, pass.size());
      return encoder_->Forward(pass, pool_, out + first * hidden, nullptr, skip, {});
    });
  }

  Status EmbedHidden(const std::vector<std::vector<int32_t>>& seqs,
                     std::vector<std::vector<float>>* out) override {
    FLOE_RETURN_IF_ERROR(CheckEmbedding());
    FLOE_RETURN_IF_ERROR(CheckSeqs(seqs));
    const size_t hidden = static_cast<size_t>(config_.hidden_size);
    out->assign(seqs.size(), {});
    std::vector<float> pooled, rows;
    return InPasses(seqs, [&](auto pass, size_t first) {
      pooled.resize(pass.size() * hidden);
      FLOE_RETURN_IF_ERROR(encoder_->Forward(pass, pool_, pooled.data(), &rows, {}, {}));
      size_t at = 0;  // rows are in packing order: the pass's sequences back to back
      for (size_t k = 0; k < pass.size(); ++k) {
        const size_t n = pass[k]->size() * hidden;
        if (at + n > rows.size()) {
          return InternalError("the encoder returned " + std::to_string(rows.size() / hidden) +
                               " hidden rows for a pass of more tokens");
        }
        (*out)[first + k].assign(rows.begin() + at, rows.begin() + at + n);
        at += n;
      }
      return OkStatus();
    });
  }

  Status Classify(const std::vector<std::vector<int32_t>>& seqs, float* out,
                  std::span<const int32_t> type1_from) override {
    const BertConfig& c = config_;
    if (!c.classifier()) {
      return FailedPreconditionError(
          "the model is an embedding model (no ...ForSequenceClassification head in "
          "config.json's architectures): it cannot classify or rerank");
    }
    FLOE_RETURN_IF_ERROR(CheckPerSeq(seqs, type1_from, "type1_from"));
    FLOE_RETURN_IF_ERROR(CheckSeqs(seqs));
    if (c.type_vocab_size < 2) {
      for (size_t i = 0; i < type1_from.size(); ++i) {
        if (static_cast<size_t>(type1_from[i]) < seqs[i].size()) {
          return InvalidArgumentError(
              "sequence " + std::to_string(i) + ": type1_from " + std::to_string(type1_from[i]) +
              " asks for token type 1, but the model (" + c.model_type +
              ") has one token type; pass its length or no type1_from");
        }
      }
    }
    const size_t labels = static_cast<size_t>(c.num_labels);
    return InPasses(seqs, [&](auto pass, size_t first) {
      const auto types = type1_from.empty() ? type1_from : type1_from.subspan(first, pass.size());
      return encoder_->Classify(pass, out + first * labels, types);
    });
  }

  int num_labels() const override {
    return config_.classifier() ? config_.num_labels : 0;
  }

  int hidden_size() const override { return config_.hidden_size; }
  std::string device() const override { return backend_->device(); }
  std::string dtype() const override {
    return std::string(ComputeTypeName(backend_->compute_type()));
  }
  const RuntimeOptions& options() const override { return backend_->options(); }

 private:
  Status CheckEmbedding() const {
    if (!config_.classifier()) return OkStatus();
    return FailedPreconditionError(
        "the model is a classifier (a ...ForSequenceClassification head with " +
        std::to_string(num_labels()) + " labels): it gives scores, not embeddings");
  }

  // `per_seq` is empty or one non-negative entry per sequence.
  static Status CheckPerSeq(const std::vector<std::vector<int32_t>>& seqs,
                            std::span<const int32_t> per_seq, const char* what) {
    if (!per_seq.empty() && per_seq.size() != seqs.size()) {
      return InvalidArgumentError(std::string(what) + " has " + std::to_string(per_seq.size()) +
                                  " entries for " + std::to_string(seqs.size()) + " sequences");
    }
    for (size_t i = 0; i < per_seq.size(); ++i) {
      if (per_seq[i] < 0) {
        return InvalidArgumentError("sequence " + std::to_string(i) + ": " + what + " " +
                                    std::to_string(per_seq[i]) + " is negative");
      }
    }
    return OkStatus();
  }

  Status CheckSeqs(const std::vector<std::vector<int32_t>>& seqs) const {
    const BertConfig& c = config_;
    const size_t max_tokens = static_cast<size_t>(c.max_tokens());
    for (size_t i = 0; i < seqs.size(); ++i) {
      const auto& s = seqs[i];
      if (s.empty()) {
        return InvalidArgumentError("sequence " + std::to_string(i) + " is empty");
      }
      if (s.size() > max_tokens) {
        return InvalidArgumentError("sequence " + std::to_string(i) + " has " +
                                    std::to_string(s.size()) + " tokens, more than the model's " +
                                    std::to_string(max_tokens) + " positions");
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
    return OkStatus();
  }

  // Greedy passes in request order, each within the token budget; a
  // sequence over the budget on its own still runs (alone). run(pass, first)
  // gets the pass's sequences and the index of its first one.
  template <typename Run>
  Status InPasses(const std::vector<std::vector<int32_t>>& seqs, Run run) const {
    const size_t budget = options().max_batch_tokens;
    std::vector<const std::vector<int32_t>*> pass;
    size_t first = 0, tokens = 0;
    for (size_t i = 0; i <= seqs.size(); ++i) {
      const bool flush = i == seqs.size() ||
                         (!pass.empty() && tokens + seqs[i].size() > budget);
      if (flush && !pass.empty()) {
        FLOE_RETURN_IF_ERROR(
            run(std::span<const std::vector<int32_t>* const>(pass.data(), pass.size()), first));
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

  std::unique_ptr<Backend> backend_;
  std::unique_ptr<Encoder> encoder_;
  BertConfig config_;  // the common fields (model/architecture.h)
  PoolKind pool_;
};

}  // namespace

StatusOr<std::unique_ptr<Engine>> Engine::Create(const ModelFolder& model,
                                                 const RuntimeOptions& options) {
  // The passes' budget; CreateBackend checks the rest of the options.
  if (options.max_batch_tokens == 0) {
    return InvalidArgumentError("max_batch_tokens must be > 0");
  }
  FLOE_ASSIGN_OR_RETURN(std::unique_ptr<Backend> backend, CreateBackend(options));
  FLOE_ASSIGN_OR_RETURN(std::unique_ptr<Encoder> encoder, CreateEncoder(model, backend.get()));
  return std::unique_ptr<Engine>(new EngineImpl(std::move(backend), std::move(encoder),
                                                model.config, PoolKindFor(model.st.pooling)));
}

}  // namespace floe
