// What a model folder says about the model: config.json (architecture) and the
// sentence-transformers files (pooling, normalization, prompts, max length).
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>

#include "core/status.h"
#include "model/safetensors.h"

namespace floe {

enum class HiddenAct { kGeluErf, kGeluTanh, kRelu };
enum class PoolingMode { kCls, kMean, kMax, kLastToken };

std::string_view PoolingModeName(PoolingMode m);

struct BertConfig {
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
};

// Parses config.json text. Unsupported model_type / hidden_act /
// position_embedding_type give UNIMPLEMENTED naming the value; missing or
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
struct ModelFolder {
  std::string path;
  BertConfig config;
  SentenceTransformersConfig st;
  std::unique_ptr<WeightStore> weights;

  static StatusOr<std::unique_ptr<ModelFolder>> Open(const std::string& path);
};

}  // namespace floe
