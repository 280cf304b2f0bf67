// GTE "new"'s config.json (model_type "new", Alibaba-NLP/new-impl as
// gte-base-en-v1.5, gte-multilingual-base and Snowflake's
// arctic-embed-m-v2.0 publish it) and the tensors its checkpoint holds. The
// encoder is engine/gte_encoder.h.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "model/config.h"
#include "model/safetensors.h"

namespace floe {

struct GteConfig {
  int hidden_size = 0;
  int num_layers = 0;
  int num_heads = 0;
  int intermediate_size = 0;
  int vocab_size = 0;
  int type_vocab_size = 1;  // 0: no token type table
  int max_positions = 2048;  // max_position_embeddings
  float layer_norm_eps = 1e-12f;
  std::string hidden_act = "gelu";  // on the gate: gelu, gelu_new, gelu_pytorch_tanh, silu, swish
  double rope_theta = 10000.0;
  double ntk_factor = 1.0;  // rope_scaling {type: ntk, factor}; 1 = none
  bool pack_qkv = true;     // qkv_proj, else q_proj | k_proj | v_proj
  int head_size() const { return hidden_size / num_heads; }
};

// Parses config.json text of model_type new. UNIMPLEMENTED naming the field:
// position_embedding_type other than rope, layer_norm_type other than
// layer_norm, hidden_act other than gelu / gelu_new / gelu_pytorch_tanh /
// silu / swish, rope_scaling other than ntk (or with mixed_b, or a factor
// below 1), logn_attention_scale true. Missing or inconsistent sizes:
// INVALID_ARGUMENT. `path` is for messages.
StatusOr<GteConfig> ParseGteConfig(std::string_view json_text, const std::string& path);

// Embeddings, then per layer encoder.layer.<i>.{attention.qkv_proj (or
// q_proj, k_proj, v_proj), attention.o_proj, attn_ln, mlp.up_gate_proj (no
// bias), mlp.down_proj, mlp_ln}.
std::vector<TensorSpec> GteTensorSpecs(const GteConfig& config);

// The architecture table's entries (model/architecture.h).
StatusOr<BertConfig> GteCommonConfig(std::string_view json_text, const std::string& path);
Status CheckGteWeights(std::string_view json_text, const WeightStore& weights,
                       const std::string& path);

}  // namespace floe
