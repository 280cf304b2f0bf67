#include "engine/gte_encoder.h"

#include <cmath>
#include <string>

#include "model/config.h"

namespace floe {

GatedRotaryConfig GteGraphConfig(const GteConfig& g) {
  GatedRotaryConfig c;
  c.name = "new";
  c.hidden_size = g.hidden_size;
  c.num_layers = g.num_layers;
  c.num_heads = g.num_heads;
  c.intermediate_size = g.intermediate_size;
  c.vocab_size = g.vocab_size;
  c.max_positions = g.max_positions;
  c.layer_norm_eps = g.layer_norm_eps;
  c.gate_activation = g.hidden_act == "gelu"   ? Activation::kGeluErf
                      : g.hidden_act == "silu" || g.hidden_act == "swish"
                          ? Activation::kSilu
                          : Activation::kGeluTanh;
  c.rotary.rotary_dims = g.head_size();
  c.rotary.layout = RotaryLayout::kHalfSplit;
  // inv_freq_i = (theta f)^(-2i/d) / f^(2/d): base theta f, positions * f^(-2/d).
  c.rotary.base = g.rope_theta * g.ntk_factor;
  c.rotary.position_scale = std::pow(g.ntk_factor, -2.0 / g.head_size());
  c.qkv_bias = c.out_bias = c.down_bias = true;
  c.gate_up_bias = false;
  return c;
}

StatusOr<std::unique_ptr<GatedRotaryEncoder>> GteEncoder::Create(const GteConfig& g,
                                                                 const WeightStore& w,
                                                                 Backend* backend) {
  const std::vector<TensorSpec> specs = GteTensorSpecs(g);
  auto load = [&](const std::string& name) -> StatusOr<std::vector<float>> {
    for (const TensorSpec& s : specs) {
      if (s.name == name) return w.LoadFloat(name, s.shape);
    }
    return InternalError("new: no tensor spec for " + name);
  };
  const int64_t D = g.hidden_size, I = g.intermediate_size;
  // Canonical names (GatedRotaryTensors) -> the checkpoint's.
  auto get = [&](const std::string& name) -> StatusOr<std::vector<float>> {
    if (name == "word") return load("embeddings.word_embeddings.weight");
    if (name == "type0") {
      std::vector<float> row(D, 0.f);
      if (g.type_vocab_size > 0) {
        FLOE_ASSIGN_OR_RETURN(std::vector<float> tt,
                              load("embeddings.token_type_embeddings.weight"));
        std::copy(tt.begin(), tt.begin() + D, row.begin());
      }
      return row;
    }
    if (name == "emb_ln.weight") return load("embeddings.LayerNorm.weight");
    if (name == "emb_ln.bias") return load("embeddings.LayerNorm.bias");
    const size_t dot = name.find('.');
    const std::string p = "encoder.layer." + name.substr(0, dot) + ".";
    const std::string rest = name.substr(dot + 1);
    const size_t dot2 = rest.find('.');
    const std::string part = rest.substr(0, dot2), kind = rest.substr(dot2 + 1);
    if (part == "qkv") {
      if (g.pack_qkv) return load(p + "attention.qkv_proj." + kind);
      std::vector<float> all;
      for (const char* n : {"q_proj.", "k_proj.", "v_proj."}) {
        FLOE_ASSIGN_OR_RETURN(std::vector<float> t, load(p + "attention." + n + kind));
        all.insert(all.end(), t.begin(), t.end());
      }
      return all;
    }
    if (part == "out") return load(p + "attention.o_proj." + kind);
    if (part == "ln1") return load(p + "attn_ln." + kind);
    if (part == "ln2") return load(p + "mlp_ln." + kind);
    if (part == "down") return load(p + "mlp.down_proj." + kind);
    if (part == "gate_up" && kind == "weight") {  // [up | gate] rows -> [gate | up]
      FLOE_ASSIGN_OR_RETURN(std::vector<float> ug, load(p + "mlp.up_gate_proj.weight"));
      std::vector<float> gu(ug.begin() + I * D, ug.end());
      gu.insert(gu.end(), ug.begin(), ug.begin() + I * D);
      return gu;
    }
    return InternalError("new: no tensor for " + name);
  };
  return GatedRotaryEncoder::Create(GteGraphConfig(g), get, backend);
}

StatusOr<std::unique_ptr<GatedRotaryEncoder>> GteEncoder::Create(const ModelFolder& model,
                                                                 Backend* backend) {
  FLOE_ASSIGN_OR_RETURN(GteConfig c, ParseGteConfig(model.config_json, model.path + "/config.json"));
  return Create(c, *model.weights, backend);
}

}  // namespace floe
