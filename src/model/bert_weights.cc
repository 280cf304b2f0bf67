#include "model/bert_weights.h"

namespace floe {
namespace {

constexpr BertTensor kEmbeddingTensors[] = {BertTensor::kWord, BertTensor::kPosition,
                                            BertTensor::kTokenType, BertTensor::kEmbNormWeight,
                                            BertTensor::kEmbNormBias};
constexpr BertTensor kHeadTensors[] = {BertTensor::kHeadDenseWeight, BertTensor::kHeadDenseBias,
                                       BertTensor::kHeadOutWeight, BertTensor::kHeadOutBias};

}  // namespace

BertTensorSpec BertTensorFor(const BertConfig& c, BertTensor t, int layer) {
  using T = BertTensor;
  const int64_t h = c.hidden_size, inter = c.intermediate_size;
  const std::string l = "encoder.layer." + std::to_string(layer) + ".";
  const bool bert_head = c.head != ClassifierHead::kRobertaHead;
  switch (t) {
    case T::kWord: return {"embeddings.word_embeddings.weight", {c.vocab_size, h}};
    case T::kPosition:
      return {"embeddings.position_embeddings.weight", {c.max_position_embeddings, h}};
    case T::kTokenType: return {"embeddings.token_type_embeddings.weight", {c.type_vocab_size, h}};
    case T::kEmbNormWeight: return {"embeddings.LayerNorm.weight", {h}};
    case T::kEmbNormBias: return {"embeddings.LayerNorm.bias", {h}};
    case T::kQueryWeight: return {l + "attention.self.query.weight", {h, h}};
    case T::kQueryBias: return {l + "attention.self.query.bias", {h}};
    case T::kKeyWeight: return {l + "attention.self.key.weight", {h, h}};
    case T::kKeyBias: return {l + "attention.self.key.bias", {h}};
    case T::kValueWeight: return {l + "attention.self.value.weight", {h, h}};
    case T::kValueBias: return {l + "attention.self.value.bias", {h}};
    case T::kAttnOutWeight: return {l + "attention.output.dense.weight", {h, h}};
    case T::kAttnOutBias: return {l + "attention.output.dense.bias", {h}};
    case T::kAttnNormWeight: return {l + "attention.output.LayerNorm.weight", {h}};
    case T::kAttnNormBias: return {l + "attention.output.LayerNorm.bias", {h}};
    case T::kFfnInWeight: return {l + "intermediate.dense.weight", {inter, h}};
    case T::kFfnInBias: return {l + "intermediate.dense.bias", {inter}};
    case T::kFfnOutWeight: return {l + "output.dense.weight", {h, inter}};
    case T::kFfnOutBias: return {l + "output.dense.bias", {h}};
    case T::kOutNormWeight: return {l + "output.LayerNorm.weight", {h}};
    case T::kOutNormBias: return {l + "output.LayerNorm.bias", {h}};
    // BertForSequenceClassification: bert.pooler.dense, then classifier;
    // RobertaClassificationHead: classifier.dense, then classifier.out_proj.
    case T::kHeadDenseWeight:
      return {bert_head ? "pooler.dense.weight" : "classifier.dense.weight", {h, h}};
    case T::kHeadDenseBias:
      return {bert_head ? "pooler.dense.bias" : "classifier.dense.bias", {h}};
    case T::kHeadOutWeight:
      return {bert_head ? "classifier.weight" : "classifier.out_proj.weight", {c.num_labels, h}};
    case T::kHeadOutBias:
      return {bert_head ? "classifier.bias" : "classifier.out_proj.bias", {c.num_labels}};
  }
  return {};
}

std::vector<BertTensorSpec> BertTensorSpecs(const BertConfig& c) {
  std::vector<BertTensorSpec> specs;
  for (BertTensor t : kEmbeddingTensors) specs.push_back(BertTensorFor(c, t));
  for (int l = 0; l < c.num_hidden_layers; ++l) {
    for (int t = static_cast<int>(BertTensor::kQueryWeight);
         t <= static_cast<int>(BertTensor::kOutNormBias); ++t) {
      specs.push_back(BertTensorFor(c, static_cast<BertTensor>(t), l));
    }
  }
  if (c.classifier()) {
    for (BertTensor t : kHeadTensors) specs.push_back(BertTensorFor(c, t));
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
    const bool head = first_missing.rfind("classifier.", 0) == 0;
    const std::string prefix = config.model_type == "bert" ? "bert." : "roberta.";
    std::string msg = weights.folder() + ": tensor '" + first_missing + "'" +
                      (head ? "" : " (or '" + prefix + first_missing + "')") +
                      " not found in the weights";
    if (missing > 1)
      msg += ", nor " + std::to_string(missing - 1) + " more the encoder needs";
    return NotFoundError(msg);
  }
  return OkStatus();
}

StatusOr<std::vector<float>> LoadBertTensor(const WeightStore& weights, const BertConfig& config,
                                            BertTensor tensor, int layer) {
  const BertTensorSpec spec = BertTensorFor(config, tensor, layer);
  return weights.LoadFloat(spec.name, spec.shape);
}

}  // namespace floe
