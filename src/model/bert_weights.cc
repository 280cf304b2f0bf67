#include "model/bert_weights.h"

namespace floe {
namespace {

std::string ShapeString(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ", ";
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

}  // namespace

std::vector<BertTensorSpec> BertTensorSpecs(const BertConfig& c) {
  const int64_t h = c.hidden_size, inter = c.intermediate_size;
  std::vector<BertTensorSpec> specs = {
      {"embeddings.word_embeddings.weight", {c.vocab_size, h}},
      {"embeddings.position_embeddings.weight", {c.max_position_embeddings, h}},
      {"embeddings.token_type_embeddings.weight", {c.type_vocab_size, h}},
      {"embeddings.LayerNorm.weight", {h}},
      {"embeddings.LayerNorm.bias", {h}},
  };
  for (int l = 0; l < c.num_hidden_layers; ++l) {
    const std::string p = "encoder.layer." + std::to_string(l) + ".";
    for (const char* qkv : {"query", "key", "value"}) {
      specs.push_back({p + "attention.self." + qkv + ".weight", {h, h}});
      specs.push_back({p + "attention.self." + qkv + ".bias", {h}});
    }
    specs.push_back({p + "attention.output.dense.weight", {h, h}});
    specs.push_back({p + "attention.output.dense.bias", {h}});
    specs.push_back({p + "attention.output.LayerNorm.weight", {h}});
    specs.push_back({p + "attention.output.LayerNorm.bias", {h}});
    specs.push_back({p + "intermediate.dense.weight", {inter, h}});
    specs.push_back({p + "intermediate.dense.bias", {inter}});
    specs.push_back({p + "output.dense.weight", {h, inter}});
    specs.push_back({p + "output.dense.bias", {h}});
    specs.push_back({p + "output.LayerNorm.weight", {h}});
    specs.push_back({p + "output.LayerNorm.bias", {h}});
  }
  return specs;
}

Status CheckBertWeights(const WeightStore& weights, const BertConfig& config) {
  std::string first_missing;
  int missing = 0;
  for (const BertTensorSpec& spec : BertTensorSpecs(config)) {
    const TensorInfo* t = weights.Find(spec.name);
    if (t == nullptr) {
      if (missing++ == 0) first_missing = spec.name;
      continue;
    }
    if (t->shape != spec.shape) {
      return InvalidArgumentError(weights.folder() + ": tensor '" + t->name +
                                  "' has shape " + ShapeString(t->shape) +
                                  " but config.json implies " + ShapeString(spec.shape));
    }
  }
  if (missing > 0) {
    std::string msg = weights.folder() + ": tensor '" + first_missing + "' (or 'bert." +
                      first_missing + "') not found in the weights";
    if (missing > 1)
      msg += ", nor " + std::to_string(missing - 1) + " more the encoder needs";
    return NotFoundError(msg);
  }
  return OkStatus();
}

}  // namespace floe
