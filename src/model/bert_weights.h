// The tensors a BERT encoder reads, with the shapes its config implies.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"
#include "model/config.h"
#include "model/safetensors.h"

namespace floe {

struct BertTensorSpec {
  std::string name;  // bare name, e.g. "encoder.layer.0.attention.self.query.weight"
  std::vector<int64_t> shape;  // as stored: Linear weights are [out, in]
};

// Every tensor the encoder needs (embeddings, then each layer); no pooler.
std::vector<BertTensorSpec> BertTensorSpecs(const BertConfig& config);

// Checks that every tensor of BertTensorSpecs exists in `weights` (bare or
// `bert.`-prefixed; LayerNorm gamma/beta accepted) with the expected shape.
// NOT_FOUND names the first missing tensor (and how many more are missing);
// INVALID_ARGUMENT names a tensor whose shape disagrees with config.json.
Status CheckBertWeights(const WeightStore& weights, const BertConfig& config);

}  // namespace floe
