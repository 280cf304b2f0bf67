// Architectures other than BERT's family, by config.json's model_type: how
// their config.json becomes the fields every layer reads (BertConfig's
// common part) and how their weights are checked at open. One line per
// architecture in model/architecture.cc; the encoder that runs it is chosen
// in engine/architectures.cc.
#pragma once

#include <string>
#include <string_view>

#include "core/status.h"
#include "model/config.h"
#include "model/safetensors.h"

namespace floe {

struct ArchitectureSpec {
  std::string_view model_type;
  // config.json text -> BertConfig with at least model_type, hidden_size,
  // num_hidden_layers, num_attention_heads, intermediate_size, vocab_size,
  // max_position_embeddings (the longest input: max_tokens()), type_vocab_size
  // (0 or 1 when the model has no second segment) and, for classifiers, head,
  // num_labels and labels. Options floe does not run: UNIMPLEMENTED naming
  // them; bad sizes INVALID_ARGUMENT. `path` is for messages.
  StatusOr<BertConfig> (*parse)(std::string_view json_text, const std::string& path);
  // Every tensor the encoder will read is present with its shape (errors
  // name the tensor).
  Status (*check_weights)(std::string_view json_text, const WeightStore& weights,
                          const std::string& path);
};

// Null for BERT's family and for unknown types (ParseBertConfig then names
// what is supported).
const ArchitectureSpec* FindArchitecture(std::string_view model_type);

// "bert, xlm-roberta, roberta, camembert, nomic_bert, ...": for messages.
std::string SupportedModelTypes();

// config.json's model_type ("" when absent or the text is not JSON).
std::string ModelTypeOf(std::string_view json_text);

}  // namespace floe
