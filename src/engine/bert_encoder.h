// The BERT encoder graph on a Backend, built from the checkpoint's weight
// names (model/bert_weights.h: embeddings.*, encoder.layer.<i>.*, the
// classifier head), run on packed batches. BERT and the RoBERTa family
// (position ids from pad_token_id + 1) share it.
//
// Shape legend: T tokens in a pass, B sequences, D hidden, I intermediate,
// N heads, H head size.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "backend/backend.h"
#include "engine/encoder.h"
#include "core/status.h"
#include "model/config.h"

namespace floe {

class BertEncoder : public Encoder {
 public:
  // Loads and prepares every weight on `backend` (which must outlive the
  // encoder). Errors name the tensor.
  static StatusOr<std::unique_ptr<BertEncoder>> Create(const ModelFolder& model,
                                                       Backend* backend);
  ~BertEncoder() override;
  BertEncoder(const BertEncoder&) = delete;
  BertEncoder& operator=(const BertEncoder&) = delete;

  // One forward pass over `seqs` packed back to back. Ids must have been
  // checked (non-empty, <= max positions, in vocabulary). Writes B x D pooled
  // floats to pooled_host; when hidden_host is not null, also the last hidden
  // state [T, D] (rows in packing order). pool_skip: empty, or per sequence
  // the leading tokens pooling leaves out (PackedBatch::pool_skip_host). Not
  // thread-safe.
  // type1_from: empty, or per sequence the index from which its tokens take
  // token type 1 (>= its length: none); needs type_vocab_size >= 2 when any
  // is below the length (the caller checks).
  Status Forward(std::span<const std::vector<int32_t>* const> seqs, PoolKind pool,
                 float* pooled_host, std::vector<float>* hidden_host = nullptr,
                 std::span<const int32_t> pool_skip = {},
                 std::span<const int32_t> type1_from = {}) override;

  // Classifier models (config().classifier()): B x num_labels raw logits to
  // logits_host: the head (dense + tanh, then out) on each sequence's first
  // token. type1_from as Forward.
  Status Classify(std::span<const std::vector<int32_t>* const> seqs, float* logits_host,
                  std::span<const int32_t> type1_from = {}) override;

  const BertConfig& config() const { return config_; }

 private:
  struct Layer;
  BertEncoder() = default;
  Status EnsureCapacity(int64_t tokens, int64_t seqs);
  // Passes whose longest sequence is over this many tokens run attention in
  // query blocks (Backend::Attend) when the backend has it.
  static constexpr int64_t kLongSequence = 2048;
  Status Attention(const PackedBatch& batch, int64_t heads, int64_t head_size,
                   float scale, const TensorView& qkv, const TensorView& context);
  bool attend_available_ = true;
  // The graph up to pooled_ (B x D on the device); T tokens.
  Status Run(std::span<const std::vector<int32_t>* const> seqs, PoolKind pool,
             std::span<const int32_t> pool_skip, std::span<const int32_t> type1_from,
             int64_t* total_tokens);

  // FLOE_PROFILE=1: wall time per stage, logged when the encoder is destroyed
  // (stages: embed, qkv, attention, attn_out, ln, ffn_in, ffn_out, pool).
  bool profile_ = false;
  double stage_seconds_[8] = {};
  int64_t profiled_tokens_ = 0;

  BertConfig config_;
  Backend* backend_ = nullptr;
  std::unique_ptr<DeviceBuffer> word_, position_, token_type_, emb_gamma_, emb_beta_;
  // Classifier head: dense on the device; tanh and the small out product
  // (num_labels x D) on the host, in float32.
  std::unique_ptr<LinearOp> head_dense_;
  std::vector<float> head_out_weight_, head_out_bias_;
  std::vector<std::unique_ptr<Layer>> layers_;
  // Activations, grown to the largest pass seen (rows padded per RoundUpRows).
  int64_t capacity_rows_ = 0;
  int64_t capacity_seqs_ = 0;
  std::unique_ptr<DeviceBuffer> ids_, cu_seqlens_, pool_skip_, type1_from_, hidden_, qkv_,
      context_, intermediate_, pooled_, head_hidden_;
};

}  // namespace floe
