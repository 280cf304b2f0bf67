// NomicBERT (model_type nomic_bert: nomic-embed-text-v1 / v1.5, Snowflake's
// arctic-embed-m-long) on the shared post-norm rotary graph
// (engine/gated_rotary_encoder.h): word + token type 0 embeddings, LayerNorm,
// then per layer
//   h = LN1(h + out_proj(Attend(Wqkv h, rotary)))
//   h = LN2(h + fc2(fc11 h * silu(fc12 h)))        (SwiGLU)
// and pooling; dynamic NTK scaling of the rotary base for sequences longer
// than max_trained_positions when rotary_scaling_factor is set. Config and
// tensor names: model/nomic_config.h.
#pragma once

#include <memory>

#include "backend/backend.h"
#include "engine/gated_rotary_encoder.h"
#include "model/nomic_config.h"
#include "model/safetensors.h"

namespace floe {

struct ModelFolder;

// The graph's settings for a NomicBERT config.
GatedRotaryConfig NomicBertGraphConfig(const NomicBertConfig& config);

class NomicBertEncoder {
 public:
  // From a folder opened by ModelFolder::Open (config.json's text parsed again).
  static StatusOr<std::unique_ptr<GatedRotaryEncoder>> Create(const ModelFolder& model,
                                                              Backend* backend);
  // Reads and prepares every tensor of NomicBertTensorSpecs (NOT_FOUND or
  // INVALID_ARGUMENT naming a missing or misshapen one). `backend` and
  // `weights` outlive the call; `backend` outlives the encoder.
  static StatusOr<std::unique_ptr<GatedRotaryEncoder>> Create(const NomicBertConfig& config,
                                                              const WeightStore& weights,
                                                              Backend* backend);
};

}  // namespace floe
