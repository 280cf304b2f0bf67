#include "model/qwen3_config.h"

#include <nlohmann/json.hpp>

#include "model/config_fields.h"

namespace floe {
namespace {

using json = nlohmann::json;
using Fields = ConfigFields;

// A number > 0 in `f`'s object; absent or null keeps *out.
Status Positive(const Fields& f, const char* key, double* out) {
  double v = *out;
  FLOE_RETURN_IF_ERROR(f.Real(key, &v));
  if (!(v > 0)) return f.Bad(std::string("\"") + key + "\" is not a number > 0");
  *out = v;
  return OkStatus();
}

// rope_parameters (transformers 5) or rope_scaling (4.x): only the default
// rope type runs; its theta, where given, wins over the top-level rope_theta.
Status ParseRope(const Fields& f, const std::string& path, Qwen3Config* c) {
  double theta = c->rope_theta;
  FLOE_RETURN_IF_ERROR(Positive(f, "rope_theta", &theta));
  for (const char* key : {"rope_scaling", "rope_parameters"}) {
    const json* r = f.Get(key);
    if (r == nullptr) continue;
    if (!r->is_object()) return f.Bad(std::string("\"") + key + "\" is not an object");
    std::string type = "default";
    for (const char* t : {"rope_type", "type"}) {
      if (auto it = r->find(t); it != r->end() && it->is_string()) type = it->get<std::string>();
    }
    if (type != "default") {
      return f.Unsupported(std::string(key) + ".rope_type", "'" + type + "'", "default");
    }
    FLOE_RETURN_IF_ERROR(Positive(Fields(*r, path), "rope_theta", &theta));
  }
  if (!(theta > 1.0)) return f.Bad("rope theta must be > 1");
  c->rope_theta = theta;
  return OkStatus();
}

// Per layer window (-1: full causal attention), as Qwen3Config.__post_init__.
Status ParseLayerTypes(const Fields& f, Qwen3Config* c) {
  bool use_sliding = false;
  FLOE_RETURN_IF_ERROR(f.Flag("use_sliding_window", &use_sliding));
  int window = 0, max_window_layers = 28;
  if (use_sliding) {
    FLOE_RETURN_IF_ERROR(f.Int("sliding_window", true, 1, &window));
    FLOE_RETURN_IF_ERROR(f.Int("max_window_layers", false, 0, &max_window_layers));
  }
  c->window.assign(c->num_layers, -1);
  const json* types = f.Get("layer_types");
  if (types == nullptr) {
    for (int i = max_window_layers; use_sliding && i < c->num_layers; ++i) c->window[i] = window;
    return OkStatus();
  }
  if (!types->is_array() || types->size() != static_cast<size_t>(c->num_layers)) {
    return f.Bad("\"layer_types\" is not a list of num_hidden_layers strings");
  }
  for (int i = 0; i < c->num_layers; ++i) {
    const json& t = (*types)[i];
    const std::string name = t.is_string() ? t.get<std::string>() : t.dump();
    if (name == "sliding_attention") {
      if (!use_sliding) {
        return f.Unsupported("layer_types", "sliding_attention with use_sliding_window false",
                             "a window needs use_sliding_window and sliding_window");
      }
      c->window[i] = window;
    } else if (name != "full_attention") {
      return f.Unsupported("layer_types", "'" + name + "'",
                           "full_attention, sliding_attention");
    }
  }
  return OkStatus();
}

}  // namespace

StatusOr<Qwen3Config> ParseQwen3Config(std::string_view json_text, const std::string& path) {
  const json j = json::parse(json_text, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return InvalidArgumentError(path + ": not a JSON object");
  const Fields f(j, path);
  const json* type = f.Get("model_type");
  if (type == nullptr || *type != "qwen3") return f.Bad("model_type is not qwen3");
  Qwen3Config c;
  FLOE_RETURN_IF_ERROR(f.Int("hidden_size", true, 1, &c.hidden_size));
  FLOE_RETURN_IF_ERROR(f.Int("num_hidden_layers", true, 1, &c.num_layers));
  FLOE_RETURN_IF_ERROR(f.Int("num_attention_heads", true, 1, &c.num_heads));
  FLOE_RETURN_IF_ERROR(f.Int("intermediate_size", true, 1, &c.intermediate_size));
  FLOE_RETURN_IF_ERROR(f.Int("vocab_size", true, 1, &c.vocab_size));
  FLOE_RETURN_IF_ERROR(f.Int("max_position_embeddings", false, 1, &c.max_positions));
  c.num_kv_heads = c.num_heads;
  FLOE_RETURN_IF_ERROR(f.Int("num_key_value_heads", false, 1, &c.num_kv_heads));
  if (c.num_heads % c.num_kv_heads != 0) {
    return f.Bad("num_key_value_heads " + std::to_string(c.num_kv_heads) +
                 " does not divide num_attention_heads " + std::to_string(c.num_heads));
  }
  c.head_dim = c.hidden_size / c.num_heads;
  FLOE_RETURN_IF_ERROR(f.Int("head_dim", false, 2, &c.head_dim));
  if (c.head_dim < 2 || c.head_dim % 2 != 0) {
    return f.Bad("head_dim " + std::to_string(c.head_dim) + " is not even");
  }
  double eps = c.rms_norm_eps;
  FLOE_RETURN_IF_ERROR(Positive(f, "rms_norm_eps", &eps));
  c.rms_norm_eps = static_cast<float>(eps);

  if (const json* act = f.Get("hidden_act"); act != nullptr && *act != "silu") {
    return f.Unsupported("hidden_act", act->dump(), "silu");
  }
  bool bias = false;
  FLOE_RETURN_IF_ERROR(f.Flag("attention_bias", &bias));
  if (bias) return f.Unsupported("attention_bias", "true", "false");
  FLOE_RETURN_IF_ERROR(ParseRope(f, path, &c));
  FLOE_RETURN_IF_ERROR(ParseLayerTypes(f, &c));
  return c;
}

std::vector<TensorSpec> Qwen3TensorSpecs(const Qwen3Config& c, const std::string& prefix) {
  const int64_t D = c.hidden_size, I = c.intermediate_size, H = c.head_dim;
  const int64_t Q = int64_t{c.num_heads} * H, KV = int64_t{c.num_kv_heads} * H;
  std::vector<TensorSpec> specs = {{prefix + "embed_tokens.weight", {c.vocab_size, D}}};
  for (int i = 0; i < c.num_layers; ++i) {
    const std::string p = prefix + "layers." + std::to_string(i) + ".";
    specs.push_back({p + "input_layernorm.weight", {D}});
    specs.push_back({p + "self_attn.q_proj.weight", {Q, D}});
    specs.push_back({p + "self_attn.k_proj.weight", {KV, D}});
    specs.push_back({p + "self_attn.v_proj.weight", {KV, D}});
    specs.push_back({p + "self_attn.q_norm.weight", {H}});
    specs.push_back({p + "self_attn.k_norm.weight", {H}});
    specs.push_back({p + "self_attn.o_proj.weight", {D, Q}});
    specs.push_back({p + "post_attention_layernorm.weight", {D}});
    specs.push_back({p + "mlp.gate_proj.weight", {I, D}});
    specs.push_back({p + "mlp.up_proj.weight", {I, D}});
    specs.push_back({p + "mlp.down_proj.weight", {D, I}});
  }
  specs.push_back({prefix + "norm.weight", {D}});
  return specs;
}

std::string Qwen3WeightPrefix(const WeightStore& weights) {
  if (weights.Find("embed_tokens.weight") == nullptr &&
      weights.Find("model.embed_tokens.weight") != nullptr) {
    return "model.";
  }
  return "";
}

StatusOr<BertConfig> Qwen3CommonConfig(std::string_view json_text, const std::string& path) {
  FLOE_ASSIGN_OR_RETURN(Qwen3Config q, ParseQwen3Config(json_text, path));
  BertConfig c;
  c.model_type = "qwen3";
  c.hidden_size = q.hidden_size;
  c.num_hidden_layers = q.num_layers;
  c.num_attention_heads = q.num_heads;
  c.intermediate_size = q.intermediate_size;
  c.vocab_size = q.vocab_size;
  c.max_position_embeddings = q.max_positions;
  c.type_vocab_size = 1;
  c.layer_norm_eps = q.rms_norm_eps;
  return c;
}

Status CheckQwen3Weights(std::string_view json_text, const WeightStore& weights,
                         const std::string& path) {
  FLOE_ASSIGN_OR_RETURN(Qwen3Config q, ParseQwen3Config(json_text, path));
  return CheckTensors(weights, Qwen3TensorSpecs(q, Qwen3WeightPrefix(weights)), "qwen3");
}

}  // namespace floe
