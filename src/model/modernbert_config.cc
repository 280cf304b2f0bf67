#include "model/modernbert_config.h"

#include <nlohmann/json.hpp>

#include "model/config_fields.h"

namespace floe {
namespace {

using json = nlohmann::json;
using Fields = ConfigFields;

StatusOr<ModernBertActivation> ParseActivation(const Fields& f) {
  const std::string a = f.Text("hidden_activation");
  if (a.empty() || a == "gelu") return ModernBertActivation::kGeluErf;  // the default
  // NewGELU, PytorchGELUTanh and FastGELU are the same tanh form.
  if (a == "gelu_new" || a == "gelu_pytorch_tanh" || a == "gelu_fast") {
    return ModernBertActivation::kGeluTanh;
  }
  if (a == "silu" || a == "swish") return ModernBertActivation::kSilu;
  return f.Unsupported("hidden_activation", "'" + a + "'",
                       "gelu, gelu_new, gelu_pytorch_tanh, gelu_fast, silu, swish");
}

// One layer type's rope parameters ({"rope_type": "default", "rope_theta": x}).
Status ParseRope(const Fields& f, const json& p, const std::string& where, double* theta) {
  if (!p.is_object()) return f.Bad("\"" + where + "\" is not an object");
  if (auto t = p.find("rope_type"); t != p.end() && !t->is_null()) {
    if (!t->is_string() || t->get<std::string>() != "default") {
      return f.Unsupported(where + ".rope_type", t->dump(), "default");
    }
  }
  if (auto t = p.find("rope_theta"); t != p.end() && !t->is_null()) {
    if (!t->is_number()) return f.Bad("\"" + where + ".rope_theta\" is not a number");
    *theta = t->get<double>();
  }
  return OkStatus();
}

Status ParseLayerTypes(const Fields& f, ModernBertConfig* c) {
  c->global_layer.assign(c->num_layers, false);
  if (const json* types = f.Get("layer_types")) {
    if (!types->is_array() || static_cast<int>(types->size()) != c->num_layers) {
      return f.Bad("\"layer_types\" must list one type per layer (" +
                   std::to_string(c->num_layers) + ")");
    }
    for (int i = 0; i < c->num_layers; ++i) {
      const json& t = (*types)[i];
      const std::string s = t.is_string() ? t.get<std::string>() : t.dump();
      if (s != "full_attention" && s != "sliding_attention") {
        return f.Unsupported("layer_types[" + std::to_string(i) + "]", "'" + s + "'",
                             "full_attention, sliding_attention");
      }
      c->global_layer[i] = s == "full_attention";
    }
    return OkStatus();
  }
  int every = 3;
  FLOE_RETURN_IF_ERROR(f.Int("global_attn_every_n_layers", false, 1, &every));
  for (int i = 0; i < c->num_layers; ++i) c->global_layer[i] = i % every == 0;
  return OkStatus();
}

// rope_parameters (per layer type, or one flat dict for both) over the older
// global_rope_theta / local_rope_theta, as transformers' setdefault does.
Status ParseRotary(const Fields& f, ModernBertConfig* c) {
  FLOE_RETURN_IF_ERROR(f.Real("global_rope_theta", &c->global_rope_theta));
  FLOE_RETURN_IF_ERROR(f.Real("local_rope_theta", &c->local_rope_theta));
  if (const json* s = f.Get("rope_scaling")) {
    FLOE_RETURN_IF_ERROR(ParseRope(f, *s, "rope_scaling", &c->global_rope_theta));
    FLOE_RETURN_IF_ERROR(ParseRope(f, *s, "rope_scaling", &c->local_rope_theta));
  }
  if (const json* p = f.Get("rope_parameters")) {
    if (!p->is_object()) return f.Bad("\"rope_parameters\" is not an object");
    if (p->contains("rope_type") || p->contains("rope_theta")) {
      FLOE_RETURN_IF_ERROR(ParseRope(f, *p, "rope_parameters", &c->global_rope_theta));
      FLOE_RETURN_IF_ERROR(ParseRope(f, *p, "rope_parameters", &c->local_rope_theta));
    } else {
      if (auto g = p->find("full_attention"); g != p->end() && !g->is_null()) {
        FLOE_RETURN_IF_ERROR(
            ParseRope(f, *g, "rope_parameters.full_attention", &c->global_rope_theta));
      }
      if (auto l = p->find("sliding_attention"); l != p->end() && !l->is_null()) {
        FLOE_RETURN_IF_ERROR(
            ParseRope(f, *l, "rope_parameters.sliding_attention", &c->local_rope_theta));
      }
    }
  }
  if (!(c->global_rope_theta > 1.0) || !(c->local_rope_theta > 1.0)) {
    return f.Bad("rope thetas must be > 1");
  }
  return OkStatus();
}

Status ParseArchitectures(const Fields& f) {
  const json* a = f.Get("architectures");
  if (a == nullptr || !a->is_array() || a->empty()) return OkStatus();
  const std::string name = (*a)[0].is_string() ? (*a)[0].get<std::string>() : (*a)[0].dump();
  if (name == "ModernBertModel" || name == "ModernBertForMaskedLM") return OkStatus();
  return f.Unsupported("architectures", "'" + name + "'",
                       "ModernBertModel, ModernBertForMaskedLM: the encoder and pooling; "
                       "ModernBERT's classification heads are not implemented");
}

}  // namespace

StatusOr<ModernBertConfig> ParseModernBertConfig(std::string_view json_text,
                                                 const std::string& path) {
  const json j = json::parse(json_text, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return InvalidArgumentError(path + ": not a JSON object");
  const Fields f(j, path);
  if (j.value("model_type", std::string()) != "modernbert") {
    return f.Bad("model_type is not modernbert");
  }
  ModernBertConfig c;
  FLOE_RETURN_IF_ERROR(f.Int("hidden_size", true, 1, &c.hidden_size));
  FLOE_RETURN_IF_ERROR(f.Int("num_hidden_layers", true, 1, &c.num_layers));
  FLOE_RETURN_IF_ERROR(f.Int("num_attention_heads", true, 1, &c.num_heads));
  FLOE_RETURN_IF_ERROR(f.Int("intermediate_size", true, 1, &c.intermediate_size));
  FLOE_RETURN_IF_ERROR(f.Int("vocab_size", true, 1, &c.vocab_size));
  FLOE_RETURN_IF_ERROR(f.Int("max_position_embeddings", false, 1, &c.max_positions));
  if (c.hidden_size % c.num_heads != 0) {
    return f.Bad("num_attention_heads " + std::to_string(c.num_heads) +
                 " does not divide hidden_size " + std::to_string(c.hidden_size));
  }
  if (c.head_size() % 2 != 0) return f.Bad("the head size must be even (rotary)");
  int head_dim = c.head_size();
  FLOE_RETURN_IF_ERROR(f.Int("head_dim", false, 1, &head_dim));
  if (head_dim != c.head_size()) {
    return f.Unsupported("head_dim", std::to_string(head_dim),
                         "hidden_size / num_attention_heads = " +
                             std::to_string(c.head_size()));
  }
  double eps = c.norm_eps;
  FLOE_RETURN_IF_ERROR(f.Real("norm_eps", &eps));
  if (!(eps > 0)) return f.Bad("\"norm_eps\" must be > 0");
  c.norm_eps = static_cast<float>(eps);
  FLOE_RETURN_IF_ERROR(f.Flag("norm_bias", &c.norm_bias));
  FLOE_RETURN_IF_ERROR(f.Flag("attention_bias", &c.attention_bias));
  FLOE_RETURN_IF_ERROR(f.Flag("mlp_bias", &c.mlp_bias));
  FLOE_ASSIGN_OR_RETURN(c.activation, ParseActivation(f));
  int local_attention = 128;
  FLOE_RETURN_IF_ERROR(f.Int("local_attention", false, 1, &local_attention));
  c.local_window_half = local_attention / 2;
  FLOE_RETURN_IF_ERROR(ParseLayerTypes(f, &c));
  FLOE_RETURN_IF_ERROR(ParseRotary(f, &c));
  FLOE_RETURN_IF_ERROR(ParseArchitectures(f));
  return c;
}

std::vector<TensorSpec> ModernBertTensorSpecs(const ModernBertConfig& c) {
  const int64_t D = c.hidden_size, I = c.intermediate_size;
  const std::string& m = c.prefix;
  std::vector<TensorSpec> specs = {{m + "embeddings.tok_embeddings.weight", {c.vocab_size, D}}};
  auto norm = [&](const std::string& name) {
    specs.push_back({name + ".weight", {D}});
    if (c.norm_bias) specs.push_back({name + ".bias", {D}});
  };
  auto linear = [&](const std::string& name, int64_t out, int64_t in, bool bias) {
    specs.push_back({name + ".weight", {out, in}});
    if (bias) specs.push_back({name + ".bias", {out}});
  };
  norm(m + "embeddings.norm");
  for (int i = 0; i < c.num_layers; ++i) {
    const std::string p = m + "layers." + std::to_string(i) + ".";
    if (i > 0) norm(p + "attn_norm");
    linear(p + "attn.Wqkv", 3 * D, D, c.attention_bias);
    linear(p + "attn.Wo", D, D, c.attention_bias);
    norm(p + "mlp_norm");
    linear(p + "mlp.Wi", 2 * I, D, c.mlp_bias);
    linear(p + "mlp.Wo", D, I, c.mlp_bias);
  }
  norm(m + "final_norm");
  return specs;
}

void ResolveModernBertPrefix(const WeightStore& weights, ModernBertConfig* c) {
  c->prefix = weights.Find("embeddings.tok_embeddings.weight") == nullptr &&
                      weights.Find("model.embeddings.tok_embeddings.weight") != nullptr
                  ? "model."
                  : "";
}

StatusOr<BertConfig> ModernBertCommonConfig(std::string_view json_text,
                                            const std::string& path) {
  FLOE_ASSIGN_OR_RETURN(ModernBertConfig m, ParseModernBertConfig(json_text, path));
  BertConfig c;
  c.model_type = "modernbert";
  c.hidden_size = m.hidden_size;
  c.num_hidden_layers = m.num_layers;
  c.num_attention_heads = m.num_heads;
  c.intermediate_size = m.intermediate_size;
  c.vocab_size = m.vocab_size;
  c.max_position_embeddings = m.max_positions;
  c.type_vocab_size = 1;  // no token types: the pair template's type 1 is refused
  c.layer_norm_eps = m.norm_eps;
  return c;
}

Status CheckModernBertWeights(std::string_view json_text, const WeightStore& weights,
                              const std::string& path) {
  FLOE_ASSIGN_OR_RETURN(ModernBertConfig m, ParseModernBertConfig(json_text, path));
  ResolveModernBertPrefix(weights, &m);
  return CheckTensors(weights, ModernBertTensorSpecs(m), "modernbert");
}

}  // namespace floe
