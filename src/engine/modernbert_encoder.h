// ModernBERT (model_type modernbert: ModernBERT-base/-large, modernbert-embed-base,
// gte-modernbert-base) as a graph of backend ops, as transformers'
// ModernBertModel computes it:
//   h = LN_emb(tok_embeddings[ids])
//   per layer i (pre-norm; layer 0 has no attn_norm):
//     h += Wo(Attend(Wqkv(attn_norm(h)), rotary theta_i, window_i))
//     h += mlp.Wo(act(a) * g), [a | g] = Wi(mlp_norm(h))          (GeGLU)
//   h = final_norm(h), then pooling.
// Global layers attend the whole sequence with global_rope_theta; local ones
// attend |i - j| <= local_attention / 2 with local_rope_theta. Config and
// tensor names: model/modernbert_config.h. CPU only (the CUDA backend lacks
// Attend and GatedActivation): other backends are UNIMPLEMENTED at Create.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "backend/backend.h"
#include "engine/encoder.h"
#include "model/modernbert_config.h"
#include "model/safetensors.h"

namespace floe {

class ModernBertEncoder : public Encoder {
 public:
  // From a folder opened by ModelFolder::Open (config.json's text parsed again).
  static StatusOr<std::unique_ptr<ModernBertEncoder>> Create(const ModelFolder& model,
                                                             Backend* backend);
  // Reads and prepares every tensor of ModernBertTensorSpecs (config.prefix
  // resolved here). `backend` outlives the encoder.
  static StatusOr<std::unique_ptr<ModernBertEncoder>> Create(ModernBertConfig config,
                                                             const WeightStore& weights,
                                                             Backend* backend);
  ~ModernBertEncoder() override;
  ModernBertEncoder(const ModernBertEncoder&) = delete;
  ModernBertEncoder& operator=(const ModernBertEncoder&) = delete;

  // Encoder::Forward. Sequences are checked again (non-empty, at most
  // max_positions long, ids in the vocabulary: else INVALID_ARGUMENT naming
  // the sequence, before any work); type1_from must ask for no token type 1
  // (ModernBERT has no token types).
  Status Forward(SeqSpan seqs, PoolKind pool, float* pooled_host, std::vector<float>* hidden_host,
                 std::span<const int32_t> pool_skip,
                 std::span<const int32_t> type1_from) override;

  const ModernBertConfig& config() const { return config_; }

 private:
  struct Layer;
  ModernBertEncoder() = default;
  Status EnsureCapacity(int64_t tokens, int64_t seqs);
  // dst = LayerNorm(src) (norm weights w, b).
  // dst = LayerNorm(src) with w, b; src and dst: [rows, D] activations.
  Status NormInto(const TensorView& src, DeviceBuffer& w, DeviceBuffer& b,
                  const TensorView& dst);

  ModernBertConfig config_;
  Backend* backend_ = nullptr;
  std::vector<float> word_;  // host [V, D]: the gather runs on the host
  std::unique_ptr<DeviceBuffer> emb_w_, emb_b_, final_w_, final_b_;
  std::vector<std::unique_ptr<Layer>> layers_;
  std::vector<float> host_rows_;  // staging for NormInto's copy
  int64_t capacity_rows_ = 0, capacity_seqs_ = 0;
  std::unique_ptr<DeviceBuffer> hidden_, normed_, qkv_, context_, gate_up_, inner_, cu_, skip_,
      pooled_;
};

}  // namespace floe
