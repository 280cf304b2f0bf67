// GTE "new" (model_type new: gte-base-en-v1.5, gte-multilingual-base,
// arctic-embed-m-v2.0) on the shared post-norm rotary graph
// (engine/gated_rotary_encoder.h): word + token type 0 embeddings, LayerNorm,
// then per layer
//   h = attn_ln(h + o_proj(Attend(qkv_proj h, rotary)))
//   h = mlp_ln(h + down_proj(act(gate) * up)),  [up | gate] = up_gate_proj h
// with rotary over the whole head (rotate_half, rope_theta) and fixed NTK
// scaling (rope_scaling ntk, factor f: base theta * f and positions scaled by
// f^(-2 / head size), as the remote code's inv_freq / f^(2/d)). Config and
// tensor names: model/gte_config.h.
#pragma once

#include <memory>

#include "backend/backend.h"
#include "engine/gated_rotary_encoder.h"
#include "model/gte_config.h"
#include "model/safetensors.h"

namespace floe {

struct ModelFolder;

GatedRotaryConfig GteGraphConfig(const GteConfig& config);

class GteEncoder {
 public:
  static StatusOr<std::unique_ptr<GatedRotaryEncoder>> Create(const ModelFolder& model,
                                                              Backend* backend);
  // Every tensor of GteTensorSpecs (NOT_FOUND or INVALID_ARGUMENT naming a
  // missing or misshapen one).
  static StatusOr<std::unique_ptr<GatedRotaryEncoder>> Create(const GteConfig& config,
                                                              const WeightStore& weights,
                                                              Backend* backend);
};

}  // namespace floe
