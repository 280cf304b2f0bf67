// NomicBERT (model_type nomic_bert: nomic-embed-text-v1 / v1.5, Snowflake's
// arctic-embed-m-long) as a graph of backend ops: word + token type 0
// embeddings, LayerNorm, then per layer (post-norm, as the checkpoints run)
//   h = LN1(h + out_proj(Attend(Wqkv h, rotary)))
//   h = LN2(h + fc2(fc11 h * silu(fc12 h)))        (SwiGLU)
// and pooling. Config and tensor names: model/nomic_config.h.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "backend/backend.h"
#include "engine/encoder.h"
#include "model/nomic_config.h"
#include "model/safetensors.h"

namespace floe {

class NomicBertEncoder : public Encoder {
 public:
  // From a folder opened by ModelFolder::Open (config.json's text parsed again).
  static StatusOr<std::unique_ptr<NomicBertEncoder>> Create(const ModelFolder& model,
                                                            Backend* backend);
  // Reads and prepares every tensor of NomicBertTensorSpecs (NOT_FOUND or
  // INVALID_ARGUMENT naming a missing or misshapen one). `backend` outlives
  // the encoder.
  static StatusOr<std::unique_ptr<NomicBertEncoder>> Create(const NomicBertConfig& config,
                                                            const WeightStore& weights,
                                                            Backend* backend);
  ~NomicBertEncoder();

  // Encoder::Forward. Every seq is checked again here (non-empty, at most
  // config.max_positions long, ids in [0, vocab_size): else INVALID_ARGUMENT
  // naming the sequence, before any work); type1_from must ask for no token
  // type 1 (the encoder embeds type 0 only).
  Status Forward(SeqSpan seqs, PoolKind pool, float* pooled_host, std::vector<float>* hidden_host,
                 std::span<const int32_t> pool_skip,
                 std::span<const int32_t> type1_from) override;
  // All sequences, one pass, no extras (tests).
  Status Forward(const std::vector<std::vector<int32_t>>& seqs, PoolKind pool, float* out);

  int hidden_size() const { return config_.hidden_size; }
  const NomicBertConfig& config() const { return config_; }

 private:
  struct Layer;
  NomicBertEncoder() = default;
  Status EnsureCapacity(int64_t tokens, int64_t seqs);

  NomicBertConfig config_;
  Backend* backend_ = nullptr;
  std::vector<float> word_;         // host [V, D]: the gather runs on the host
  std::vector<float> token_type0_;  // host [D] (zeros without a table)
  std::unique_ptr<DeviceBuffer> emb_gamma_, emb_beta_;
  std::vector<std::unique_ptr<Layer>> layers_;
  int64_t capacity_rows_ = 0, capacity_seqs_ = 0;
  std::unique_ptr<DeviceBuffer> hidden_, qkv_, context_, gate_up_, inner_, cu_, skip_, pooled_;
};

}  // namespace floe
