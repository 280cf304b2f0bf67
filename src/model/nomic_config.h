// NomicBERT's config.json (model_type "nomic_bert", as nomic-ai/nomic-bert-2048
// and nomic-embed-text-v1 / v1.5 publish it; GPT-2-style field names) and the
// tensors its checkpoint holds. The encoder is engine/nomic_encoder.h.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "model/config.h"
#include "model/safetensors.h"

namespace floe {

struct NomicBertConfig {
  int hidden_size = 0;  // n_embd
  int num_layers = 0;   // n_layer
  int num_heads = 0;    // n_head
  int intermediate_size =
      0;  // n_inner rounded up to a multiple of 256, as the checkpoint's
  int vocab_size = 0;
  int type_vocab_size = 2;
  int max_positions = 2048;  // n_positions (rotary: no position table)
  float layer_norm_eps = 1e-12f;
  double rotary_base = 10000.0;     // rotary_emb_base
  int rotary_dims = 0;              // head size * rotary_emb_fraction
  bool rotary_interleaved = false;  // rotary_emb_interleaved
  // Absent bias flags are true, as NomicBertConfig's defaults (the published
  // checkpoints set all three false).
  bool qkv_bias = true;             // qkv_proj_bias (Wqkv and out_proj)
  bool fc1_bias = true;             // mlp_fc1_bias (fc11, fc12)
  bool fc2_bias = true;             // mlp_fc2_bias (fc2)
  // Dynamic NTK scaling (rotary_scaling_factor; 0 = none): a sequence longer
  // than max_trained_positions rotates with a larger base (see
  // GatedRotaryConfig::dynamic_ntk_factor).
  double rotary_scaling_factor = 0.0;
  int max_trained_positions = 2048;
  int head_size() const { return hidden_size / num_heads; }
};

// Parses config.json text of model_type nomic_bert. Options floe does not run
// are UNIMPLEMENTED naming the field and value: activation_function other than
// swiglu, prenorm, parallel_block, causal, use_rms_norm, rotary_emb_scale_base
// (XPos), rotary_emb_fraction <= 0 (learned positions). vocab_size is rounded
// up to pad_vocab_size_multiple, as NomicBertModel does. Missing or
// inconsistent sizes are INVALID_ARGUMENT. `path` is for messages.
StatusOr<NomicBertConfig> ParseNomicBertConfig(std::string_view json_text,
                                               const std::string& path);

// Whether config.json text names model_type nomic_bert (false for bad JSON).
bool IsNomicBertConfig(std::string_view json_text);

using NomicTensorSpec = TensorSpec;  // e.g. "encoder.layers.0.attn.Wqkv.weight"

// The one table of tensor names and shapes (embeddings, emb_ln, then each
// layer); biases only where the config has them.
std::vector<NomicTensorSpec> NomicBertTensorSpecs(const NomicBertConfig& config);

// The architecture table's entries (model/architecture.h): the common fields
// (type_vocab_size 1: the encoder embeds token type 0 only) and the check of
// every tensor of NomicBertTensorSpecs.
StatusOr<BertConfig> NomicBertCommonConfig(std::string_view json_text, const std::string& path);
Status CheckNomicBertWeights(std::string_view json_text, const WeightStore& weights,
                             const std::string& path);

}  // namespace floe
