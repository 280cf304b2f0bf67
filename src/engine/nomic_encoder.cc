#include "engine/nomic_encoder.h"

#include <string>

#include "model/config.h"

namespace floe {

GatedRotaryConfig NomicBertGraphConfig(const NomicBertConfig& n) {
  GatedRotaryConfig c;
  c.name = "nomic_bert";
  c.hidden_size = n.hidden_size;
  c.num_layers = n.num_layers;
  c.num_heads = n.num_heads;
  c.intermediate_size = n.intermediate_size;
  c.vocab_size = n.vocab_size;
  c.max_positions = n.max_positions;
  c.layer_norm_eps = n.layer_norm_eps;
  c.gate_activation = Activation::kSilu;
  c.rotary.rotary_dims = n.rotary_dims;
  c.rotary.base = n.rotary_base;
  c.rotary.layout = n.rotary_interleaved ? RotaryLayout::kInterleaved : RotaryLayout::kHalfSplit;
  c.dynamic_ntk_factor = n.rotary_scaling_factor;
  c.ntk_trained_positions = n.max_trained_positions;
  c.qkv_bias = c.out_bias = n.qkv_bias;
  c.gate_up_bias = n.fc1_bias;
  c.down_bias = n.fc2_bias;
  return c;
}

StatusOr<std::unique_ptr<GatedRotaryEncoder>> NomicBertEncoder::Create(
    const NomicBertConfig& n, const WeightStore& w, Backend* backend) {
  const std::vector<NomicTensorSpec> specs = NomicBertTensorSpecs(n);
  auto load = [&](const std::string& name) -> StatusOr<std::vector<float>> {
    for (const NomicTensorSpec& s : specs) {
      if (s.name == name) return w.LoadFloat(name, s.shape);
    }
    return InternalError("nomic_bert: no tensor spec for " + name);
  };
  // Canonical names (GatedRotaryTensors) -> the checkpoint's.
  auto get = [&](const std::string& name) -> StatusOr<std::vector<float>> {
    if (name == "word") return load("embeddings.word_embeddings.weight");
    if (name == "type0") {
      std::vector<float> row(n.hidden_size, 0.f);
      if (n.type_vocab_size > 0) {
        FLOE_ASSIGN_OR_RETURN(std::vector<float> tt,
                              load("embeddings.token_type_embeddings.weight"));
        std::copy(tt.begin(), tt.begin() + n.hidden_size, row.begin());
      }
      return row;
    }
    if (name.rfind("emb_ln.", 0) == 0) return load(name);
    const size_t dot = name.find('.');
    const std::string p = "encoder.layers." + name.substr(0, dot) + ".";
    const std::string rest = name.substr(dot + 1);
    const size_t dot2 = rest.find('.');
    const std::string part = rest.substr(0, dot2), kind = rest.substr(dot2 + 1);
    if (part == "qkv") return load(p + "attn.Wqkv." + kind);
    if (part == "out") return load(p + "attn.out_proj." + kind);
    if (part == "ln1") return load(p + "norm1." + kind);
    if (part == "ln2") return load(p + "norm2." + kind);
    if (part == "down") return load(p + "mlp.fc2." + kind);
    if (part == "gate_up") {  // fc12 is the gate, fc11 the up projection
      FLOE_ASSIGN_OR_RETURN(std::vector<float> gate, load(p + "mlp.fc12." + kind));
      FLOE_ASSIGN_OR_RETURN(std::vector<float> up, load(p + "mlp.fc11." + kind));
      gate.insert(gate.end(), up.begin(), up.end());
      return gate;
    }
    return InternalError("nomic_bert: no tensor for " + name);
  };
  return GatedRotaryEncoder::Create(NomicBertGraphConfig(n), get, backend);
}

StatusOr<std::unique_ptr<GatedRotaryEncoder>> NomicBertEncoder::Create(const ModelFolder& model,
                                                                       Backend* backend) {
  FLOE_ASSIGN_OR_RETURN(NomicBertConfig c,
                        ParseNomicBertConfig(model.config_json, model.path + "/config.json"));
  return Create(c, *model.weights, backend);
}

}  // namespace floe
