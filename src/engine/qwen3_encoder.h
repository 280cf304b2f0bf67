// Qwen3 (model_type qwen3: Qwen/Qwen3-Embedding-0.6B / 4B / 8B) as an
// embedder, a graph of backend ops mirroring transformers' Qwen3Model:
// embed_tokens, then per layer (pre-norm)
//   h += o_proj(Attend(qkv_proj(RMSNorm(h))))   causal, grouped KV heads,
//                                                per-head q_norm / k_norm,
//                                                rotary (half-split, theta)
//   h += down_proj(silu(gate_proj x) * up_proj x), x = RMSNorm(h)
// then the final RMSNorm and pooling (last token for Qwen3-Embedding).
// q/k/v are one fused product [q | k | v], gate/up one [gate | up].
// Config and tensor names: model/qwen3_config.h.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "engine/encoder.h"
#include "model/qwen3_config.h"
#include "model/safetensors.h"

namespace floe {

class Qwen3Encoder : public Encoder {
 public:
  // From a folder opened by ModelFolder::Open (config.json's text parsed
  // again; tensor names with or without "model.").
  static StatusOr<std::unique_ptr<Qwen3Encoder>> Create(const ModelFolder& model,
                                                        Backend* backend);
  // Reads and prepares every tensor of Qwen3TensorSpecs(config, prefix)
  // (NOT_FOUND or INVALID_ARGUMENT naming a missing or misshapen one).
  // `backend` outlives the encoder.
  static StatusOr<std::unique_ptr<Qwen3Encoder>> Create(const Qwen3Config& config,
                                                        const WeightStore& weights,
                                                        const std::string& prefix,
                                                        Backend* backend);
  ~Qwen3Encoder();

  // Encoder::Forward. Every seq is checked again here (non-empty, at most
  // config.max_positions long, ids in [0, vocab_size): else INVALID_ARGUMENT
  // naming the sequence, before any work); type1_from must ask for no token
  // type 1. A backend without RmsNorm / Attend answers UNIMPLEMENTED naming
  // the op.
  Status Forward(SeqSpan seqs, PoolKind pool, float* pooled_host, std::vector<float>* hidden_host,
                 std::span<const int32_t> pool_skip,
                 std::span<const int32_t> type1_from) override;

  const Qwen3Config& config() const { return config_; }

 private:
  struct Layer;
  Qwen3Encoder() = default;
  Status CheckSeqs(SeqSpan seqs, std::span<const int32_t> type1_from) const;
  Status EnsureCapacity(int64_t tokens, int64_t seqs);
  // h += down(silu(gate x) * up x), x = RMSNorm(h), in row chunks of
  // mlp_rows_ (the inner activations are the widest buffers).
  Status Mlp(const Layer& layer, const TensorView& h);

  Qwen3Config config_;
  Backend* backend_ = nullptr;
  std::vector<float> embed_;  // host [V, D]: the gather runs on the host
  std::unique_ptr<DeviceBuffer> final_norm_;
  std::vector<std::unique_ptr<Layer>> layers_;
  int64_t mlp_rows_ = 0;  // rows per MLP chunk (a multiple of the row granule)
  int64_t capacity_rows_ = 0, capacity_seqs_ = 0;
  std::unique_ptr<DeviceBuffer> hidden_, normed_, qkv_, context_, gate_up_, inner_;
  std::unique_ptr<DeviceBuffer> cu_, skip_, pooled_;
};

}  // namespace floe
