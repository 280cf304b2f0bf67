// The embedding engine: token ids in, pooled vectors (or a classifier's
// logits) out, on one device.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/status.h"
#include "floe/runtime_options.h"
#include "model/config.h"

namespace floe {

class Engine {
 public:
  // Prepares weights once (packed for the GEMM library) on a backend created
  // with `options` as they are (CreateBackend). Errors name the option or
  // tensor: unknown device or dtype, negative threads, max_batch_tokens 0 or
  // a GPU share outside [0, 1] is INVALID_ARGUMENT, a dtype the device does
  // not implement UNIMPLEMENTED, CUDA without a CUDA build or a GPU
  // FAILED_PRECONDITION, a missing or misshapen tensor the weight store's
  // error. `model` is only read during Create.
  static StatusOr<std::unique_ptr<Engine>> Create(const ModelFolder& model,
                                                  const RuntimeOptions& options);
  virtual ~Engine();

  // Pooled, NOT normalized vectors: out has seqs.size() * hidden_size()
  // floats, row i for seqs[i]. Each seq is token ids incl. [CLS]/[SEP];
  // non-empty; length <= the position table (max_position_embeddings less
  // the RoBERTa family's pad_token_id + 1); ids in [0, vocab_size)
  // (else INVALID_ARGUMENT naming the index, and nothing is computed).
  // Splits into forward passes of <= max_batch_tokens tokens (a single
  // sequence longer than max_batch_tokens still runs alone). pool_skip is
  // empty or has one entry per seq: the leading tokens that pooling leaves
  // out (a prompt, when the folder's pooling has include_prompt false; see
  // Backend::Pool); a negative entry is INVALID_ARGUMENT. Not thread-safe:
  // one caller at a time.
  // FAILED_PRECONDITION on a classifier model (num_labels() > 0).
  virtual Status EmbedPooled(const std::vector<std::vector<int32_t>>& seqs, float* out,
                             std::span<const int32_t> pool_skip = {}) = 0;
  // The last hidden state of every token (TEI's embed_all): out gets
  // seqs.size() entries, out[i] seqs[i].size() * hidden_size() floats, token
  // by token (after the final norm where the model has one; not pooled, not
  // normalized). Checks and passes as EmbedPooled; FAILED_PRECONDITION on a
  // classifier model.
  virtual Status EmbedHidden(const std::vector<std::vector<int32_t>>& seqs,
                             std::vector<std::vector<float>>* out) = 0;
  // Classifier models (config.json's ...ForSequenceClassification): raw
  // logits, out has seqs.size() * num_labels() floats, row i for seqs[i].
  // Checks and passes as EmbedPooled. type1_from is empty (every token type
  // 0) or has one entry per seq: tokens at index >= it take token type 1
  // (>= the length: none; negative is INVALID_ARGUMENT, and so is type 1 on
  // a model with one token type). FAILED_PRECONDITION on an embedding model.
  virtual Status Classify(const std::vector<std::vector<int32_t>>& seqs, float* out,
                          std::span<const int32_t> type1_from = {}) = 0;
  // Logits per input of a classifier; 0 for an embedding model.
  virtual int num_labels() const = 0;
  virtual int hidden_size() const = 0;
  // The backend's device ("cuda:0" for options "cuda") and compute dtype.
  virtual std::string device() const = 0;
  virtual std::string dtype() const = 0;
  // The options the engine's backend was created with: Create's, unchanged.
  virtual const RuntimeOptions& options() const = 0;
};

}  // namespace floe
