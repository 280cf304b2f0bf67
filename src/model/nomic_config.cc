#include "model/nomic_config.h"

#include <cmath>
#include <nlohmann/json.hpp>

#include "model/config_fields.h"

namespace floe {
using json = nlohmann::json;

bool IsNomicBertConfig(std::string_view json_text) {
  const json j = json::parse(json_text, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return false;
  auto it = j.find("model_type");
  return it != j.end() && it->is_string() && it->get<std::string>() == "nomic_bert";
}

StatusOr<NomicBertConfig> ParseNomicBertConfig(std::string_view json_text,
                                               const std::string& path) {
  const json j = json::parse(json_text, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return ConfigError(path, "not a JSON object");
  if (!IsNomicBertConfig(json_text)) return ConfigError(path, "model_type is not nomic_bert");
  NomicBertConfig c;
  FLOE_RETURN_IF_ERROR(ConfigInt(j, "n_embd", path, true, 1, &c.hidden_size));
  FLOE_RETURN_IF_ERROR(ConfigInt(j, "n_layer", path, true, 1, &c.num_layers));
  FLOE_RETURN_IF_ERROR(ConfigInt(j, "n_head", path, true, 1, &c.num_heads));
  FLOE_RETURN_IF_ERROR(ConfigInt(j, "vocab_size", path, true, 1, &c.vocab_size));
  FLOE_RETURN_IF_ERROR(ConfigInt(j, "type_vocab_size", path, false, 0, &c.type_vocab_size));
  FLOE_RETURN_IF_ERROR(ConfigInt(j, "n_positions", path, false, 1, &c.max_positions));
  if (c.hidden_size % c.num_heads != 0) {
    return ConfigError(path, "n_head " + std::to_string(c.num_heads) +
                         " does not divide n_embd " + std::to_string(c.hidden_size));
  }
  int inner = 4 * c.hidden_size;
  FLOE_RETURN_IF_ERROR(ConfigInt(j, "n_inner", path, false, 1, &inner));
  c.intermediate_size = (inner + 255) / 256 * 256;  // NomicBertGatedMLP's multiple_of
  double eps = c.layer_norm_eps;
  FLOE_RETURN_IF_ERROR(ConfigNumber(j, "layer_norm_epsilon", path, &eps));
  if (!(eps > 0)) return ConfigError(path, "\"layer_norm_epsilon\" must be > 0");
  c.layer_norm_eps = static_cast<float>(eps);

  std::string act = "swiglu";
  if (auto it = j.find("activation_function"); it != j.end() && it->is_string()) {
    act = it->get<std::string>();
  }
  if (act != "swiglu") {
    return UnimplementedError(path + ": \"activation_function\": '" + act +
                              "' is not supported (swiglu)");
  }
  for (const char* key : {"prenorm", "parallel_block", "causal", "use_rms_norm"}) {
    FLOE_RETURN_IF_ERROR(ConfigMustBeFalse(j, key, path));
  }
  if (auto it = j.find("rotary_emb_scale_base"); it != j.end() && !it->is_null()) {
    return UnimplementedError(path + ": \"rotary_emb_scale_base\": " + it->dump() +
                              " (XPos) is not supported");
  }
  FLOE_RETURN_IF_ERROR(ConfigNumber(j, "rotary_scaling_factor", path, &c.rotary_scaling_factor));
  if (c.rotary_scaling_factor != 0.0 && !(c.rotary_scaling_factor >= 1.0)) {
    return UnimplementedError(path + ": \"rotary_scaling_factor\": " +
                              std::to_string(c.rotary_scaling_factor) +
                              " is not supported (dynamic NTK needs a factor >= 1)");
  }
  FLOE_RETURN_IF_ERROR(
      ConfigInt(j, "max_trained_positions", path, false, 1, &c.max_trained_positions));
  int multiple = 1;
  FLOE_RETURN_IF_ERROR(ConfigInt(j, "pad_vocab_size_multiple", path, false, 1, &multiple));
  c.vocab_size = (c.vocab_size + multiple - 1) / multiple * multiple;
  double fraction = 0.0;
  FLOE_RETURN_IF_ERROR(ConfigNumber(j, "rotary_emb_fraction", path, &fraction));
  if (!(fraction > 0.0) || fraction > 1.0) {
    return UnimplementedError(path +
                              ": \"rotary_emb_fraction\": " + std::to_string(fraction) +
                              " is not supported (rotary only, 0 < fraction <= 1)");
  }
  c.rotary_dims = static_cast<int>(c.head_size() * fraction);
  if (c.rotary_dims < 2 || c.rotary_dims % 2 != 0) {
    return ConfigError(path, "rotary dims " + std::to_string(c.rotary_dims) + " are not even");
  }
  if (c.rotary_scaling_factor > 0 && c.rotary_dims <= 2) {
    return UnimplementedError(path + ": \"rotary_scaling_factor\" with 2 rotary dims");
  }
  FLOE_RETURN_IF_ERROR(ConfigNumber(j, "rotary_emb_base", path, &c.rotary_base));
  if (!(c.rotary_base > 1.0)) return ConfigError(path, "\"rotary_emb_base\" must be > 1");
  FLOE_RETURN_IF_ERROR(ConfigBool(j, "rotary_emb_interleaved", path, &c.rotary_interleaved));
  FLOE_RETURN_IF_ERROR(ConfigBool(j, "qkv_proj_bias", path, &c.qkv_bias));
  FLOE_RETURN_IF_ERROR(ConfigBool(j, "mlp_fc1_bias", path, &c.fc1_bias));
  FLOE_RETURN_IF_ERROR(ConfigBool(j, "mlp_fc2_bias", path, &c.fc2_bias));
  return c;
}

std::vector<NomicTensorSpec> NomicBertTensorSpecs(const NomicBertConfig& c) {
  const int64_t D = c.hidden_size, I = c.intermediate_size;
  std::vector<NomicTensorSpec> specs = {
      {"embeddings.word_embeddings.weight", {c.vocab_size, D}},
      {"emb_ln.weight", {D}},
      {"emb_ln.bias", {D}},
  };
  if (c.type_vocab_size > 0) {
    specs.push_back({"embeddings.token_type_embeddings.weight", {c.type_vocab_size, D}});
  }
  for (int i = 0; i < c.num_layers; ++i) {
    const std::string p = "encoder.layers." + std::to_string(i) + ".";
    specs.push_back({p + "attn.Wqkv.weight", {3 * D, D}});
    if (c.qkv_bias) specs.push_back({p + "attn.Wqkv.bias", {3 * D}});
    specs.push_back({p + "attn.out_proj.weight", {D, D}});
    if (c.qkv_bias) specs.push_back({p + "attn.out_proj.bias", {D}});
    specs.push_back({p + "norm1.weight", {D}});
    specs.push_back({p + "norm1.bias", {D}});
    for (const char* fc : {"mlp.fc11", "mlp.fc12"}) {
      specs.push_back({p + fc + ".weight", {I, D}});
      if (c.fc1_bias) specs.push_back({p + fc + ".bias", {I}});
    }
    specs.push_back({p + "mlp.fc2.weight", {D, I}});
    if (c.fc2_bias) specs.push_back({p + "mlp.fc2.bias", {D}});
    specs.push_back({p + "norm2.weight", {D}});
    specs.push_back({p + "norm2.bias", {D}});
  }
  return specs;
}

StatusOr<BertConfig> NomicBertCommonConfig(std::string_view json_text, const std::string& path) {
  FLOE_ASSIGN_OR_RETURN(NomicBertConfig n, ParseNomicBertConfig(json_text, path));
  BertConfig c;
  c.model_type = "nomic_bert";
  c.hidden_size = n.hidden_size;
  c.num_hidden_layers = n.num_layers;
  c.num_attention_heads = n.num_heads;
  c.intermediate_size = n.intermediate_size;
  c.vocab_size = n.vocab_size;
  c.max_position_embeddings = n.max_positions;
  c.type_vocab_size = 1;
  c.layer_norm_eps = n.layer_norm_eps;
  return c;
}

Status CheckNomicBertWeights(std::string_view json_text, const WeightStore& weights,
                             const std::string& path) {
  FLOE_ASSIGN_OR_RETURN(NomicBertConfig n, ParseNomicBertConfig(json_text, path));
  return CheckTensors(weights, NomicBertTensorSpecs(n), "nomic_bert");
}

}  // namespace floe
