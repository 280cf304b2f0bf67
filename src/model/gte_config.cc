#include "model/gte_config.h"

#include <nlohmann/json.hpp>

#include "model/config_fields.h"

namespace floe {

using json = nlohmann::json;

namespace {

Status Refuse(const std::string& path, const char* key, const std::string& value,
              const char* supported) {
  return UnimplementedError(path + ": \"" + key + "\": " + value + " is not supported (" +
                            supported + ")");
}

}  // namespace

StatusOr<GteConfig> ParseGteConfig(std::string_view json_text, const std::string& path) {
  const json j = json::parse(json_text, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return ConfigError(path, "not a JSON object");
  std::string model_type;
  FLOE_RETURN_IF_ERROR(ConfigString(j, "model_type", path, &model_type));
  if (model_type != "new") return ConfigError(path, "model_type is not new");
  GteConfig c;
  FLOE_RETURN_IF_ERROR(ConfigInt(j, "hidden_size", path, true, 1, &c.hidden_size));
  FLOE_RETURN_IF_ERROR(ConfigInt(j, "num_hidden_layers", path, true, 1, &c.num_layers));
  FLOE_RETURN_IF_ERROR(ConfigInt(j, "num_attention_heads", path, true, 1, &c.num_heads));
  FLOE_RETURN_IF_ERROR(ConfigInt(j, "intermediate_size", path, true, 1, &c.intermediate_size));
  FLOE_RETURN_IF_ERROR(ConfigInt(j, "vocab_size", path, true, 1, &c.vocab_size));
  FLOE_RETURN_IF_ERROR(ConfigInt(j, "type_vocab_size", path, false, 0, &c.type_vocab_size));
  FLOE_RETURN_IF_ERROR(
      ConfigInt(j, "max_position_embeddings", path, false, 1, &c.max_positions));
  if (c.hidden_size % c.num_heads != 0 || c.head_size() % 2 != 0) {
    return ConfigError(path, "num_attention_heads " + std::to_string(c.num_heads) +
                                 " does not split hidden_size " +
                                 std::to_string(c.hidden_size) + " into even heads");
  }
  double eps = c.layer_norm_eps;
  FLOE_RETURN_IF_ERROR(ConfigNumber(j, "layer_norm_eps", path, &eps));
  if (!(eps > 0)) return ConfigError(path, "\"layer_norm_eps\" must be > 0");
  c.layer_norm_eps = static_cast<float>(eps);

  FLOE_RETURN_IF_ERROR(ConfigString(j, "hidden_act", path, &c.hidden_act));
  const std::string& act = c.hidden_act;
  if (act != "gelu" && act != "gelu_new" && act != "gelu_pytorch_tanh" && act != "silu" &&
      act != "swish") {
    return Refuse(path, "hidden_act", "'" + act + "'", "gelu, gelu_new, silu");
  }
  std::string pos = "rope", norm = "layer_norm";
  FLOE_RETURN_IF_ERROR(ConfigString(j, "position_embedding_type", path, &pos));
  if (pos != "rope") return Refuse(path, "position_embedding_type", "'" + pos + "'", "rope");
  FLOE_RETURN_IF_ERROR(ConfigString(j, "layer_norm_type", path, &norm));
  if (norm != "layer_norm") return Refuse(path, "layer_norm_type", "'" + norm + "'", "layer_norm");
  FLOE_RETURN_IF_ERROR(ConfigMustBeFalse(j, "logn_attention_scale", path));
  FLOE_RETURN_IF_ERROR(ConfigBool(j, "pack_qkv", path, &c.pack_qkv));
  FLOE_RETURN_IF_ERROR(ConfigNumber(j, "rope_theta", path, &c.rope_theta));
  if (!(c.rope_theta > 1.0)) return ConfigError(path, "\"rope_theta\" must be > 1");
  if (auto it = j.find("rope_scaling"); it != j.end() && !it->is_null()) {
    const json& rs = *it;
    std::string type;
    if (rs.is_object()) {
      for (const char* key : {"type", "rope_type"}) {
        if (auto t = rs.find(key); t != rs.end() && t->is_string()) type = t->get<std::string>();
      }
    }
    auto mixed = rs.is_object() ? rs.find("mixed_b") : rs.end();
    auto factor = rs.is_object() ? rs.find("factor") : rs.end();
    if (type != "ntk" || (mixed != rs.end() && !mixed->is_null()) || factor == rs.end() ||
        !factor->is_number() || factor->get<double>() < 1.0) {
      return Refuse(path, "rope_scaling", rs.dump(), "null or {type: ntk, factor >= 1}");
    }
    c.ntk_factor = factor->get<double>();
  }
  return c;
}

std::vector<TensorSpec> GteTensorSpecs(const GteConfig& c) {
  const int64_t D = c.hidden_size, I = c.intermediate_size;
  std::vector<TensorSpec> specs = {
      {"embeddings.word_embeddings.weight", {c.vocab_size, D}},
      {"embeddings.LayerNorm.weight", {D}},
      {"embeddings.LayerNorm.bias", {D}},
  };
  if (c.type_vocab_size > 0) {
    specs.push_back({"embeddings.token_type_embeddings.weight", {c.type_vocab_size, D}});
  }
  for (int i = 0; i < c.num_layers; ++i) {
    const std::string p = "encoder.layer." + std::to_string(i) + ".";
    if (c.pack_qkv) {
      specs.push_back({p + "attention.qkv_proj.weight", {3 * D, D}});
      specs.push_back({p + "attention.qkv_proj.bias", {3 * D}});
    } else {
      for (const char* n : {"q_proj", "k_proj", "v_proj"}) {
        specs.push_back({p + "attention." + n + ".weight", {D, D}});
        specs.push_back({p + "attention." + n + ".bias", {D}});
      }
    }
    specs.push_back({p + "attention.o_proj.weight", {D, D}});
    specs.push_back({p + "attention.o_proj.bias", {D}});
    specs.push_back({p + "attn_ln.weight", {D}});
    specs.push_back({p + "attn_ln.bias", {D}});
    specs.push_back({p + "mlp.up_gate_proj.weight", {2 * I, D}});
    specs.push_back({p + "mlp.down_proj.weight", {D, I}});
    specs.push_back({p + "mlp.down_proj.bias", {D}});
    specs.push_back({p + "mlp_ln.weight", {D}});
    specs.push_back({p + "mlp_ln.bias", {D}});
  }
  return specs;
}

StatusOr<BertConfig> GteCommonConfig(std::string_view json_text, const std::string& path) {
  FLOE_ASSIGN_OR_RETURN(GteConfig g, ParseGteConfig(json_text, path));
  BertConfig c;
  c.model_type = "new";
  c.hidden_size = g.hidden_size;
  c.num_hidden_layers = g.num_layers;
  c.num_attention_heads = g.num_heads;
  c.intermediate_size = g.intermediate_size;
  c.vocab_size = g.vocab_size;
  c.max_position_embeddings = g.max_positions;
  c.type_vocab_size = 1;  // the encoder embeds token type 0 only
  c.layer_norm_eps = g.layer_norm_eps;
  return c;
}

Status CheckGteWeights(std::string_view json_text, const WeightStore& weights,
                       const std::string& path) {
  FLOE_ASSIGN_OR_RETURN(GteConfig g, ParseGteConfig(json_text, path));
  return CheckTensors(weights, GteTensorSpecs(g), "new");
}

}  // namespace floe
