// The BERT encoder graph on a Backend, built from the checkpoint's weight
// names (embeddings.*, encoder.layer.<i>.*), run on packed batches.
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
#include "core/status.h"
#include "model/config.h"

namespace floe {

class BertEncoder {
 public:
  // Loads and prepares every weight on `backend` (which must outlive the
  // encoder). Errors name the tensor.
  static StatusOr<std::unique_ptr<BertEncoder>> Create(const ModelFolder& model,
                                                       Backend* backend);
  ~BertEncoder();
  BertEncoder(const BertEncoder&) = delete;
  BertEncoder& operator=(const BertEncoder&) = delete;

  // One forward pass over `seqs` packed back to back. Ids must have been
  // checked (non-empty, <= max positions, in vocabulary). Writes B x D pooled
  // floats to pooled_host; when hidden_host is not null, also the last hidden
  // state [T, D] (rows in packing order). pool_skip: empty, or per sequence
  // the leading tokens pooling leaves out (PackedBatch::pool_skip_host). Not
  // thread-safe.
  Status Forward(std::span<const std::vector<int32_t>* const> seqs, PoolKind pool,
                 float* pooled_host, std::vector<float>* hidden_host = nullptr,
                 std::span<const int32_t> pool_skip = {});

  const BertConfig& config() const { return config_; }

 private:
  struct Layer;
  BertEncoder() = default;
  Status EnsureCapacity(int64_t tokens, int64_t seqs);

  // FLOE_PROFILE=1: wall time per stage, logged when the encoder is destroyed
  // (stages: embed, qkv, attention, attn_out, ln, ffn_in, ffn_out, pool).
  bool profile_ = false;
  double stage_seconds_[8] = {};
  int64_t profiled_tokens_ = 0;

  BertConfig config_;
  Backend* backend_ = nullptr;
  std::unique_ptr<DeviceBuffer> word_, position_, token_type0_, emb_gamma_, emb_beta_;
  std::vector<std::unique_ptr<Layer>> layers_;
  // Activations, grown to the largest pass seen (rows padded per RoundUpRows).
  int64_t capacity_rows_ = 0;
  int64_t capacity_seqs_ = 0;
  std::unique_ptr<DeviceBuffer> ids_, cu_seqlens_, pool_skip_, hidden_, qkv_, context_,
      intermediate_, pooled_;
};

}  // namespace floe
