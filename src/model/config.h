// What a model folder says about the model: config.json (architecture) and the
// sentence-transformers files (pooling, normalization, prompts, max length).
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/status.h"
#include "model/safetensors.h"

namespace floe {

enum class HiddenAct { kGeluErf, kGeluTanh, kRelu };
enum class PoolingMode { kCls, kMean, kMax, kLastToken };

std::string_view PoolingModeName(PoolingMode m);

// The classification head of a ...ForSequenceClassification checkpoint: on
// the first token ([CLS], <s>), dense [D, D] + tanh, then out [num_labels, D]
// (BERT: pooler.dense then classifier; RoBERTa family: classifier.dense then
// classifier.out_proj). Names in model/bert_weights.h.
enum class ClassifierHead { kNone, kBertPooler, kRobertaHead };

// BERT's config.json, and the common fields every architecture fills (see
// model/architecture.h): the layers above the engine read only these.
struct BertConfig {
  // "bert", or one of the RoBERTa family ("xlm-roberta", "roberta",
  // "camembert"): the same graph, whose position ids start at
  // pad_token_id + 1 (position_offset).
  std::string model_type = "bert";
  int hidden_size = 0;
  int num_hidden_layers = 0;
  int num_attention_heads = 0;
  int intermediate_size = 0;
  int vocab_size = 0;
  int max_position_embeddings = 512;
  int type_vocab_size = 2;
  float layer_norm_eps = 1e-12f;
  HiddenAct hidden_act = HiddenAct::kGeluErf;
  int pad_token_id = 0;
  // Position row of token t of a sequence: t + position_offset (0 for BERT,
  // pad_token_id + 1 for the RoBERTa family, as transformers'
  // create_position_ids_from_input_ids numbers unpadded input).
  int position_offset = 0;
  // architectures[0] ends in ForSequenceClassification: a cross-encoder or
  // classifier with num_labels logits (id2label's size, else num_labels,
  // else 2 as transformers defaults); labels by id (LABEL_<i> when unnamed).
  ClassifierHead head = ClassifierHead::kNone;
  int num_labels = 0;
  std::vector<std::string> labels;

  // Longest sequence the position table holds.
  int max_tokens() const { return max_position_embeddings - position_offset; }
  bool classifier() const { return head != ClassifierHead::kNone; }
};

// Parses config.json text. Unsupported model_type / hidden_act /
// position_embedding_type / is_decoder / add_cross_attention / an
// architectures head floe does not run give UNIMPLEMENTED naming the value;
// missing or
// inconsistent sizes give INVALID_ARGUMENT. `path` is for messages.
StatusOr<BertConfig> ParseBertConfig(std::string_view json_text, const std::string& path);

struct SentenceTransformersConfig {
  PoolingMode pooling = PoolingMode::kCls;
  bool normalize = true;                       // Normalize module present
  std::map<std::string, std::string> prompts;  // name -> text
  std::string default_prompt_name;             // "" = none
  int max_seq_length = 0;                      // tokens incl. specials; 0 = unknown
  // Pooling's include_prompt: false means pooling starts after the prompt's
  // tokens (mean and max over the rest, CLS takes the first token after it,
  // last-token is unchanged), as sentence-transformers masks them out.
  bool include_prompt = true;
};

// Reads modules.json, 1_Pooling/config.json (or the path modules.json names),
// config_sentence_transformers.json, sentence_bert_config.json and
// tokenizer_config.json (model_max_length). Missing files give defaults (CLS
// pooling, normalize, no prompts, max length = max_position_embeddings), each
// logged once. max_seq_length ends up min(all stated limits, max positions).
StatusOr<SentenceTransformersConfig> LoadSentenceTransformersConfig(
    const std::string& folder, const BertConfig& bert);

// A whole model folder, opened and checked: config.json parsed, the
// sentence-transformers files read, the weights mapped and every tensor the
// encoder needs checked against the config (CheckBertWeights in
// model/bert_weights.h). `path` must be a directory holding config.json.
// Other architectures (model/architecture.h) fill `config`'s common fields
// and parse their own options from `config_json`.
struct ModelFolder {
  std::string path;
  BertConfig config;
  std::string config_json;  // config.json's text
  SentenceTransformersConfig st;
  std::unique_ptr<WeightStore> weights;

  static StatusOr<std::unique_ptr<ModelFolder>> Open(const std::string& path);
};

}  // namespace floe
