// Qwen3's config.json (model_type "qwen3", as Qwen/Qwen3-Embedding-0.6B / 4B /
// 8B publish it and transformers' Qwen3Config writes it) and the tensors its
// checkpoint holds. The encoder is engine/qwen3_encoder.h.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "model/config.h"
#include "model/safetensors.h"

namespace floe {

struct Qwen3Config {
  int hidden_size = 0;
  int num_layers = 0;
  int num_heads = 0;
  int num_kv_heads = 0;  // num_key_value_heads (absent: num_heads)
  int head_dim = 0;      // absent: hidden_size / num_heads
  int intermediate_size = 0;
  int vocab_size = 0;
  int max_positions = 32768;  // max_position_embeddings
  float rms_norm_eps = 1e-6f;
  double rope_theta = 10000.0;  // rope_parameters.rope_theta, else rope_theta
  // Per layer: -1 for full (causal) attention, else the sliding window W of
  // "sliding_attention" layers (token i sees i - W + 1 .. i, as transformers'
  // sliding_window_overlay).
  std::vector<int> window;
};

// Parses config.json text of model_type qwen3. UNIMPLEMENTED naming the field:
// attention_bias true, hidden_act other than silu, a rope type other than
// "default" (rope_scaling / rope_parameters), a layer type other than
// full_attention / sliding_attention. Sliding layers follow layer_types when
// given, else use_sliding_window with max_window_layers, as Qwen3Config.
// Missing or inconsistent sizes are INVALID_ARGUMENT. `path` is for messages.
StatusOr<Qwen3Config> ParseQwen3Config(std::string_view json_text, const std::string& path);

// The tensors the encoder reads, by their bare names ("embed_tokens.weight",
// "layers.0.self_attn.q_proj.weight", "norm.weight") with `prefix` in front
// ("" as Qwen3Model and the sentence-transformers folders save them,
// "model." as Qwen3ForCausalLM does).
std::vector<TensorSpec> Qwen3TensorSpecs(const Qwen3Config& config, const std::string& prefix);

// "" or "model.": whichever names embed_tokens.weight in `weights` ("" when
// neither does; the check then names the missing tensor).
std::string Qwen3WeightPrefix(const WeightStore& weights);

// The architecture table's entries (model/architecture.h): the common fields
// (type_vocab_size 1) and the check of every tensor of Qwen3TensorSpecs.
StatusOr<BertConfig> Qwen3CommonConfig(std::string_view json_text, const std::string& path);
Status CheckQwen3Weights(std::string_view json_text, const WeightStore& weights,
                         const std::string& path);

}  // namespace floe
