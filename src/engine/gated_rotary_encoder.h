// The graph NomicBERT (engine/nomic_encoder.h) and GTE "new"
// (engine/gte_encoder.h) share: a post-norm encoder with rotary attention and
// a gated FFN. Word + token type 0 embeddings, LayerNorm, then per layer
//   h = LN1(h + out(Attend(qkv h, rotary)))
//   h = LN2(h + down(act(gate h) * up h))
// and pooling. Each architecture maps its config.json to a
// GatedRotaryConfig and its checkpoint's tensors to the canonical names of
// GatedRotaryTensors.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "backend/ops.h"
#include "engine/encoder.h"

namespace floe {

struct GatedRotaryConfig {
  std::string name;  // the model_type, for messages
  int hidden_size = 0;
  int num_layers = 0;
  int num_heads = 0;
  int intermediate_size = 0;
  int vocab_size = 0;
  int max_positions = 0;  // the longest sequence
  float layer_norm_eps = 1e-12f;
  Activation gate_activation = Activation::kSilu;
  // dims, base, layout, position_scale (fixed NTK scaling is base and scale).
  RotarySpec rotary;
  // Dynamic NTK scaling (NomicBERT's rotary_scaling_factor): a sequence of
  // n > ntk_trained_positions tokens rotates with base
  //   base * (factor * n / trained - (factor - 1)) ^ (dims / (dims - 2)).
  // 0: none.
  double dynamic_ntk_factor = 0.0;
  int ntk_trained_positions = 0;
  bool qkv_bias = false, out_bias = false, gate_up_bias = false, down_bias = false;
  int head_size() const { return hidden_size / num_heads; }
};

// The rotary base a sequence of `length` tokens uses (dynamic NTK above).
double GatedRotaryBase(const GatedRotaryConfig& c, int64_t length);

// Canonical tensors, host float32, row-major [out, in] for weights:
//   "word" [V, D], "type0" [D] (token type 0's row; zeros without a table),
//   "emb_ln.weight", "emb_ln.bias" [D]; per layer i, "<i>.<name>" with name
//   qkv.weight [3D, D] (Q | K | V), qkv.bias, out.weight [D, D], out.bias,
//   ln1.weight, ln1.bias, gate_up.weight [2I, D] (gate rows first, then up),
//   gate_up.bias, down.weight [D, I], down.bias, ln2.weight, ln2.bias.
// Biases are asked for only where the config has them.
using GatedRotaryTensors = std::function<StatusOr<std::vector<float>>(const std::string& name)>;

class GatedRotaryEncoder : public Encoder {
 public:
  // Reads every tensor through `tensors` (errors as it returns them).
  // `backend` outlives the encoder.
  static StatusOr<std::unique_ptr<GatedRotaryEncoder>> Create(const GatedRotaryConfig& config,
                                                              const GatedRotaryTensors& tensors,
                                                              Backend* backend);
  ~GatedRotaryEncoder() override;

  // Encoder::Forward. Every seq is checked again here (non-empty, at most
  // max_positions long, ids in [0, vocab_size): else INVALID_ARGUMENT naming
  // the sequence, before any work); type1_from must ask for no token type 1.
  Status Forward(SeqSpan seqs, PoolKind pool, float* pooled_host, std::vector<float>* hidden_host,
                 std::span<const int32_t> pool_skip,
                 std::span<const int32_t> type1_from) override;

  int hidden_size() const { return config_.hidden_size; }
  const GatedRotaryConfig& graph_config() const { return config_; }

 protected:
  GatedRotaryEncoder() = default;

 private:
  struct Layer;
  Status EnsureCapacity(int64_t tokens, int64_t seqs);
  Status Check(SeqSpan seqs, std::span<const int32_t> type1_from) const;
  // Attention of every sequence; one call per sequence when their rotary
  // bases differ (dynamic NTK).
  Status AttendAll(SeqSpan seqs, const PackedPass& pass, const AttentionSpec& attn,
                   const std::vector<double>& bases);

  GatedRotaryConfig config_;
  Backend* backend_ = nullptr;
  std::vector<float> word_;         // host [V, D]: the gather runs on the host
  std::vector<float> token_type0_;  // host [D]
  std::unique_ptr<DeviceBuffer> emb_gamma_, emb_beta_;
  std::vector<std::unique_ptr<Layer>> layers_;
  int64_t capacity_rows_ = 0, capacity_seqs_ = 0;
  std::unique_ptr<DeviceBuffer> hidden_, qkv_, context_, gate_up_, inner_, cu_, cu1_, skip_,
      pooled_;
};

}  // namespace floe
