// ModernBERT's config.json (model_type "modernbert", as answerdotai/ModernBERT-base,
// nomic-ai/modernbert-embed-base and Alibaba-NLP/gte-modernbert-base publish it,
// and as transformers 5 saves it: layer_types and rope_parameters) and the
// tensors its checkpoint holds. The encoder is engine/modernbert_encoder.h.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "model/config.h"
#include "model/safetensors.h"

namespace floe {

enum class ModernBertActivation { kGeluErf, kGeluTanh, kSilu };

struct ModernBertConfig {
  int hidden_size = 0;
  int num_layers = 0;
  int num_heads = 0;
  int intermediate_size = 0;  // the GeGLU's inner size (Wi has 2x rows)
  int vocab_size = 0;
  int max_positions = 8192;  // max_position_embeddings (rotary: no table)
  float norm_eps = 1e-5f;
  bool norm_bias = false;       // LayerNorms carry a bias
  bool attention_bias = false;  // Wqkv and attn.Wo
  bool mlp_bias = false;        // Wi and mlp.Wo
  ModernBertActivation activation = ModernBertActivation::kGeluErf;  // hidden_activation
  // Per layer: true for full (global) attention, false for the sliding window
  // (layer_types, else layer i is global iff i % global_attn_every_n_layers == 0).
  std::vector<bool> global_layer;
  double global_rope_theta = 160000.0;
  double local_rope_theta = 10000.0;
  // Sliding-window layers: a token attends tokens within local_attention / 2
  // on each side (transformers' |i - j| <= sliding_window).
  int local_window_half = 64;
  // Weight names' prefix: "model." for ModernBertForMaskedLM checkpoints,
  // "" for ModernBertModel (set by ResolveModernBertPrefix).
  std::string prefix;
  int head_size() const { return hidden_size / num_heads; }
};

// Parses config.json text of model_type modernbert. Options floe does not run
// are UNIMPLEMENTED naming the field and value: hidden_activation other than
// gelu / gelu_new / gelu_pytorch_tanh / gelu_fast / silu / swish, a rope_type
// other than default (rope_scaling), a layer type other than full_attention /
// sliding_attention, head_dim other than hidden_size / num_attention_heads,
// and architectures other than ModernBertModel / ModernBertForMaskedLM (the
// classifier, token-classification, QA and multiple-choice heads).
// Dropouts, deterministic_flash_attn, reference_compile, sparse_prediction,
// repad_logits_with_grad and the MLM decoder options do not change an
// embedding and are ignored. Missing or inconsistent sizes are
// INVALID_ARGUMENT. `path` is for messages.
StatusOr<ModernBertConfig> ParseModernBertConfig(std::string_view json_text,
                                                 const std::string& path);

// The one table of tensor names (with config.prefix) and shapes: embeddings,
// each layer (no attn_norm on layer 0, as transformers' Identity), final_norm;
// biases only where the config has them.
std::vector<TensorSpec> ModernBertTensorSpecs(const ModernBertConfig& config);

// Sets config->prefix to "" or "model." by where the embeddings are found.
void ResolveModernBertPrefix(const WeightStore& weights, ModernBertConfig* config);

// The architecture table's entries (model/architecture.h).
StatusOr<BertConfig> ModernBertCommonConfig(std::string_view json_text, const std::string& path);
Status CheckModernBertWeights(std::string_view json_text, const WeightStore& weights,
                              const std::string& path);

}  // namespace floe
