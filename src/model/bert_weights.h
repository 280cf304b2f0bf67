// The tensors a BERT-graph encoder (BERT and the RoBERTa family) reads, with
// the shapes its config implies: the one table of their names, used by the
// checks here and by the engine that loads them.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"
#include "model/config.h"
#include "model/safetensors.h"

namespace floe {

// Every tensor of the graph. Embeddings and the head once; the layer ones per
// layer. Bare names: the weight store finds them with or without the
// checkpoint's `bert.` / `roberta.` prefix.
enum class BertTensor {
  // embeddings.*
  kWord, kPosition, kTokenType, kEmbNormWeight, kEmbNormBias,
  // encoder.layer.<i>.*
  kQueryWeight, kQueryBias, kKeyWeight, kKeyBias, kValueWeight, kValueBias,
  kAttnOutWeight, kAttnOutBias, kAttnNormWeight, kAttnNormBias,
  kFfnInWeight, kFfnInBias, kFfnOutWeight, kFfnOutBias, kOutNormWeight, kOutNormBias,
  // The classifier head (config.head): dense [D, D] + tanh, then out [L, D].
  kHeadDenseWeight, kHeadDenseBias, kHeadOutWeight, kHeadOutBias,
};

struct BertTensorSpec {
  std::string name;  // bare name, e.g. "encoder.layer.0.attention.self.query.weight"
  std::vector<int64_t> shape;  // as stored: Linear weights are [out, in]
};

// Name and shape of one tensor; `layer` only matters for the layer tensors.
// The head tensors need config.classifier().
BertTensorSpec BertTensorFor(const BertConfig& config, BertTensor tensor, int layer = 0);

// Every tensor the encoder needs (embeddings, then each layer, then the
// classifier head when the config has one); never the embedding models'
// unused pooler.
std::vector<BertTensorSpec> BertTensorSpecs(const BertConfig& config);

// Checks that every tensor of BertTensorSpecs exists in `weights` (bare or
// prefixed; LayerNorm gamma/beta accepted) with the expected shape.
// NOT_FOUND names the first missing tensor (and how many more are missing);
// INVALID_ARGUMENT names a tensor whose shape disagrees with config.json.
Status CheckBertWeights(const WeightStore& weights, const BertConfig& config);

// Loads one tensor as float32, checked against its spec.
StatusOr<std::vector<float>> LoadBertTensor(const WeightStore& weights, const BertConfig& config,
                                            BertTensor tensor, int layer = 0);

}  // namespace floe
