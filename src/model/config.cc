#include "model/config.h"

#include "model/architecture.h"

#include <cmath>
#include <filesystem>
#include <limits>
#include <nlohmann/json.hpp>
#include <vector>

#include "core/log.h"
#include "model/bert_weights.h"
#include "model/json_file.h"

namespace floe {
namespace {

using json = nlohmann::json;
namespace fs = std::filesystem;

// tokenizer_config.json often says model_max_length = 1e30 ("no limit").
constexpr double kSaneMaxLength = 1 << 20;

std::string Join(const std::string& folder, const std::string& name) {
  return (fs::path(folder) / name).string();
}

StatusOr<json> ParseJson(std::string_view text, const std::string& path) {
  try {
    return json::parse(text);
  } catch (const json::exception& e) {
    return InvalidArgumentError(path + ": not valid JSON: " + e.what());
  }
}

// Reads and parses `path`; std::nullopt when the file does not exist.
StatusOr<std::optional<json>> ReadJsonIfPresent(const std::string& path) {
  if (!PathIsFile(path)) return std::optional<json>();
  FLOE_ASSIGN_OR_RETURN(std::string text, ReadTextFile(path));
  FLOE_ASSIGN_OR_RETURN(json j, ParseJson(text, path));
  return std::optional<json>(std::move(j));
}

// An integer field (an integral float is accepted). `required`: absence is an
// error; otherwise `*out` keeps its default. Values must be >= min_value.
Status GetInt(const json& j, const char* key, const std::string& path, bool required,
              int min_value, int* out) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) {
    if (required) return InvalidArgumentError(path + ": missing \"" + key + "\"");
    return OkStatus();
  }
  double v;
  if (it->is_number_integer()) {
    v = it->is_number_unsigned() ? static_cast<double>(it->get<uint64_t>())
                                 : static_cast<double>(it->get<int64_t>());
  } else if (it->is_number_float()) {
    v = it->get<double>();
    if (v != std::floor(v)) {
      return InvalidArgumentError(path + ": \"" + key + "\" is not an integer");
    }
  } else {
    return InvalidArgumentError(path + ": \"" + key + "\" is not a number");
  }
  if (v < min_value || v > std::numeric_limits<int>::max()) {
    return InvalidArgumentError(path + ": \"" + key + "\" = " + it->dump() +
                                " is out of range (at least " +
                                std::to_string(min_value) + ")");
  }
  *out = static_cast<int>(v);
  return OkStatus();
}

// A string field, or `fallback` when absent or null.
StatusOr<std::string> GetString(const json& j, const char* key, const std::string& path,
                                const std::string& fallback) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return fallback;
  if (!it->is_string()) {
    return InvalidArgumentError(path + ": \"" + key + "\" is not a string");
  }
  return it->get<std::string>();
}

Status ReadPoolingConfig(const std::string& path, const BertConfig& bert,
                         SentenceTransformersConfig* st) {
  FLOE_ASSIGN_OR_RETURN(std::optional<json> pj, ReadJsonIfPresent(path));
  if (!pj) {
    LogOnce(LogLevel::kWarn, "pooling-default:" + path,
            path + " not found; using CLS pooling (the floe default)");
    st->pooling = PoolingMode::kCls;
    return OkStatus();
  }
  const json& j = *pj;
  if (!j.is_object()) return InvalidArgumentError(path + ": not a JSON object");
  int dim = bert.hidden_size;
  FLOE_RETURN_IF_ERROR(GetInt(j, "word_embedding_dimension", path, false, 1, &dim));
  if (dim != bert.hidden_size) {
    return InvalidArgumentError(
        path + ": word_embedding_dimension " + std::to_string(dim) +
        " differs from config.json's hidden_size " + std::to_string(bert.hidden_size));
  }
  if (auto it = j.find("include_prompt"); it != j.end() && it->is_boolean()) {
    st->include_prompt = it->get<bool>();
  }

  struct Mode {
    const char* key;
    const char* short_name;
    std::optional<PoolingMode> mode;  // nullopt: not supported
  };
  static const Mode kModes[] = {
      {"pooling_mode_cls_token", "cls", PoolingMode::kCls},
      {"pooling_mode_mean_tokens", "mean", PoolingMode::kMean},
      {"pooling_mode_max_tokens", "max", PoolingMode::kMax},
      {"pooling_mode_lasttoken", "lasttoken", PoolingMode::kLastToken},
      {"pooling_mode_mean_sqrt_len_tokens", "mean_sqrt_len_tokens", std::nullopt},
      {"pooling_mode_weightedmean_tokens", "weightedmean", std::nullopt},
  };
  std::vector<const Mode*> on;
  for (const Mode& m : kModes) {
    auto it = j.find(m.key);
    if (it != j.end() && it->is_boolean() && it->get<bool>()) on.push_back(&m);
  }
  // Newer sentence-transformers may also write "pooling_mode": "mean".
  if (on.empty()) {
    FLOE_ASSIGN_OR_RETURN(std::string mode, GetString(j, "pooling_mode", path, ""));
    for (const Mode& m : kModes) {
      if (!mode.empty() && mode == m.short_name) on.push_back(&m);
    }
    if (!mode.empty() && on.empty()) {
      return UnimplementedError(
          path + ": pooling mode '" + mode +
          "' is not supported (supported: cls, mean, max, lasttoken)");
    }
  }
  if (on.empty()) return InvalidArgumentError(path + ": no pooling mode is enabled");
  for (const Mode* m : on) {
    if (!m->mode) {
      return UnimplementedError(
          path + ": " + m->key +
          " is not supported (supported: cls, mean, max, lasttoken)");
    }
  }
  if (on.size() > 1) {
    return UnimplementedError(path + ": several pooling modes at once (" + on[0]->key +
                              ", " + on[1]->key + ") are not supported");
  }
  st->pooling = *on[0]->mode;
  return OkStatus();
}


bool IsRobertaFamily(const std::string& model_type) {
  return model_type == "xlm-roberta" || model_type == "roberta" || model_type == "camembert";
}

bool EndsWith(const std::string& s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(),
                                                suffix.data(), suffix.size()) == 0;
}

// The head from "architectures" (the first entry): ...ForSequenceClassification
// is a classifier; ...Model and the pre-training heads (ForMaskedLM,
// ForPreTraining) are run as bare encoders; other task heads are refused.
Status ParseHead(const json& j, const std::string& path,
                 const std::vector<std::string>& architectures, bool roberta, BertConfig* c) {
  if (architectures.empty()) return OkStatus();
  const std::string& arch = architectures.front();
  if (!EndsWith(arch, "ForSequenceClassification")) {
    for (const char* task : {"ForTokenClassification", "ForQuestionAnswering",
                             "ForMultipleChoice", "ForCausalLM", "ForNextSentencePrediction"}) {
      if (EndsWith(arch, task)) {
        return UnimplementedError(path + ": architecture '" + arch +
                                  "' is not supported (supported: the bare encoder, e.g. " +
                                  (roberta ? "XLMRobertaModel" : "BertModel") +
                                  ", and ...ForSequenceClassification)");
      }
    }
    return OkStatus();
  }
  c->head = roberta ? ClassifierHead::kRobertaHead : ClassifierHead::kBertPooler;
  std::map<int, std::string> by_id;
  if (auto it = j.find("id2label"); it != j.end() && !it->is_null()) {
    if (!it->is_object()) return InvalidArgumentError(path + ": \"id2label\" is not an object");
    for (auto e = it->begin(); e != it->end(); ++e) {
      int id = -1;
      try {
        size_t used = 0;
        id = std::stoi(e.key(), &used);
        if (used != e.key().size()) id = -1;
      } catch (const std::exception&) {
        id = -1;
      }
      if (id < 0 || !e.value().is_string()) {
        return InvalidArgumentError(path + ": id2label entry \"" + e.key() +
                                    "\" is not a label id (0, 1, ...) with a string name");
      }
      by_id[id] = e.value().get<std::string>();
    }
  }
  int num_labels = by_id.empty() ? 2 : static_cast<int>(by_id.size());
  if (by_id.empty()) FLOE_RETURN_IF_ERROR(GetInt(j, "num_labels", path, false, 1, &num_labels));
  if (!by_id.empty() && by_id.rbegin()->first != num_labels - 1) {
    return InvalidArgumentError(path + ": id2label's ids are not 0 .. " +
                                std::to_string(num_labels - 1));
  }
  c->num_labels = num_labels;
  for (int i = 0; i < num_labels; ++i) {
    auto it = by_id.find(i);
    c->labels.push_back(it != by_id.end() ? it->second : "LABEL_" + std::to_string(i));
  }
  return OkStatus();
}

// Max length, as sentence-transformers cuts: sentence_bert_config.json's
// max_seq_length when stated (it wins over tokenizer_config.json), else
// tokenizer_config.json's model_max_length; never past the position table.
// Fills st->max_seq_length and returns *st.
StatusOr<SentenceTransformersConfig> LoadMaxLength(const std::string& folder,
                                                   const BertConfig& bert,
                                                   SentenceTransformersConfig* st) {
  int max_len = bert.max_tokens();
  const std::string sbert_path = Join(folder, "sentence_bert_config.json");
  FLOE_ASSIGN_OR_RETURN(std::optional<json> sbert, ReadJsonIfPresent(sbert_path));
  int sbert_len = 0;
  if (sbert) {
    if (!sbert->is_object())
      return InvalidArgumentError(sbert_path + ": not a JSON object");
    FLOE_RETURN_IF_ERROR(GetInt(*sbert, "max_seq_length", sbert_path, false, 1, &sbert_len));
    if (sbert_len > 0) max_len = std::min(max_len, sbert_len);
  }
  const std::string tok_path = Join(folder, "tokenizer_config.json");
  FLOE_ASSIGN_OR_RETURN(std::optional<json> tok, ReadJsonIfPresent(tok_path));
  if (sbert_len <= 0 && tok && tok->is_object()) {
    auto it = tok->find("model_max_length");
    if (it != tok->end() && it->is_number()) {
      double v = it->get<double>();
      if (v >= 1 && v <= kSaneMaxLength) max_len = std::min(max_len, static_cast<int>(v));
    }
  }
  if (!sbert && !tok) {
    LogOnce(LogLevel::kInfo, "maxlen-default:" + folder,
            folder +
                ": no sentence_bert_config.json or tokenizer_config.json; max length " +
                std::to_string(max_len) + " (the position table)");
  }
  st->max_seq_length = max_len;
  return *st;
}

}  // namespace

std::string_view PoolingModeName(PoolingMode m) {
  switch (m) {
    case PoolingMode::kCls:
      return "cls";
    case PoolingMode::kMean:
      return "mean";
    case PoolingMode::kMax:
      return "max";
    case PoolingMode::kLastToken:
      return "lasttoken";
  }
  return "?";
}

StatusOr<BertConfig> ParseBertConfig(std::string_view json_text,
                                     const std::string& path) {
  FLOE_ASSIGN_OR_RETURN(json j, ParseJson(json_text, path));
  if (!j.is_object()) return InvalidArgumentError(path + ": not a JSON object");
  BertConfig c;

  std::string model_type;
  FLOE_ASSIGN_OR_RETURN(model_type, GetString(j, "model_type", path, ""));
  std::vector<std::string> architectures;
  if (auto it = j.find("architectures"); it != j.end() && it->is_array()) {
    for (const json& a : *it) {
      if (a.is_string()) architectures.push_back(a.get<std::string>());
    }
  }
  if (model_type.empty()) {
    // Old configs may lack model_type; trust "architectures" then.
    for (const std::string& a : architectures) {
      if (a.rfind("Bert", 0) == 0) model_type = "bert";
      if (a.rfind("XLMRoberta", 0) == 0) model_type = "xlm-roberta";
      if (a.rfind("Roberta", 0) == 0) model_type = "roberta";
      if (a.rfind("Camembert", 0) == 0) model_type = "camembert";
    }
    if (model_type.empty()) {
      return InvalidArgumentError(path + ": no \"model_type\" (supported: " +
                                  SupportedModelTypes() + ")");
    }
  }
  const bool roberta = IsRobertaFamily(model_type);
  if (model_type != "bert" && !roberta) {
    return UnimplementedError(path + ": model_type '" + model_type +
                              "' is not supported (supported: " + SupportedModelTypes() +
                              ")");
  }
  c.model_type = model_type;

  FLOE_RETURN_IF_ERROR(GetInt(j, "hidden_size", path, true, 1, &c.hidden_size));
  FLOE_RETURN_IF_ERROR(
      GetInt(j, "num_hidden_layers", path, true, 1, &c.num_hidden_layers));
  FLOE_RETURN_IF_ERROR(
      GetInt(j, "num_attention_heads", path, true, 1, &c.num_attention_heads));
  FLOE_RETURN_IF_ERROR(
      GetInt(j, "intermediate_size", path, true, 1, &c.intermediate_size));
  FLOE_RETURN_IF_ERROR(GetInt(j, "vocab_size", path, true, 1, &c.vocab_size));
  FLOE_RETURN_IF_ERROR(
      GetInt(j, "max_position_embeddings", path, false, 1, &c.max_position_embeddings));
  if (roberta) c.pad_token_id = 1;  // transformers' RobertaConfig default
  FLOE_RETURN_IF_ERROR(GetInt(j, "type_vocab_size", path, false, 1, &c.type_vocab_size));
  FLOE_RETURN_IF_ERROR(GetInt(j, "pad_token_id", path, false, 0, &c.pad_token_id));
  if (roberta) c.position_offset = c.pad_token_id + 1;
  if (c.max_tokens() < 1) {
    return InvalidArgumentError(
        path + ": max_position_embeddings " + std::to_string(c.max_position_embeddings) +
        " leaves no position after the " + std::to_string(c.position_offset) +
        " that model_type '" + model_type + "' reserves (pad_token_id + 1)");
  }
  if (c.hidden_size % c.num_attention_heads != 0) {
    return InvalidArgumentError(path + ": hidden_size " + std::to_string(c.hidden_size) +
                                " is not a multiple of num_attention_heads " +
                                std::to_string(c.num_attention_heads));
  }
  if (c.pad_token_id >= c.vocab_size) {
    return InvalidArgumentError(
        path + ": pad_token_id " + std::to_string(c.pad_token_id) +
        " is outside the vocabulary (" + std::to_string(c.vocab_size) + ")");
  }

  if (auto it = j.find("layer_norm_eps"); it != j.end() && !it->is_null()) {
    if (!it->is_number()) {
      return InvalidArgumentError(path + ": \"layer_norm_eps\" is not a number");
    }
    double eps = it->get<double>();
    if (!(eps > 0 && eps < 1)) {
      return InvalidArgumentError(path + ": layer_norm_eps " + it->dump() +
                                  " is out of range (0, 1)");
    }
    c.layer_norm_eps = static_cast<float>(eps);
  }

  FLOE_ASSIGN_OR_RETURN(std::string act, GetString(j, "hidden_act", path, "gelu"));
  if (act == "gelu" || act == "gelu_python") {
    c.hidden_act = HiddenAct::kGeluErf;
  } else if (act == "gelu_new" || act == "gelu_pytorch_tanh" || act == "gelu_fast") {
    c.hidden_act = HiddenAct::kGeluTanh;
  } else if (act == "relu") {
    c.hidden_act = HiddenAct::kRelu;
  } else {
    return UnimplementedError(path + ": hidden_act '" + act +
                              "' is not supported (supported: gelu, gelu_new, relu)");
  }

  FLOE_ASSIGN_OR_RETURN(std::string pos,
                        GetString(j, "position_embedding_type", path, "absolute"));
  if (pos != "absolute") {
    return UnimplementedError(path + ": position_embedding_type '" + pos +
                              "' is not supported (supported: absolute)");
  }
  for (const char* key : {"is_decoder", "add_cross_attention"}) {
    if (auto it = j.find(key); it != j.end() && it->is_boolean() && it->get<bool>()) {
      return UnimplementedError(path + ": \"" + key +
                                "\": true is not supported (floe runs encoders only)");
    }
  }
  FLOE_RETURN_IF_ERROR(ParseHead(j, path, architectures, roberta, &c));
  return c;
}

StatusOr<SentenceTransformersConfig> LoadSentenceTransformersConfig(
    const std::string& folder, const BertConfig& bert) {
  SentenceTransformersConfig st;
  if (bert.classifier()) {
    // A cross-encoder: its head takes the first token; no pooling, no
    // normalization, no prompts. Only the max length below applies.
    st.normalize = false;
    return LoadMaxLength(folder, bert, &st);
  }

  // modules.json: the pipeline. Only Transformer -> Pooling -> [Normalize].
  const std::string modules_path = Join(folder, "modules.json");
  FLOE_ASSIGN_OR_RETURN(std::optional<json> modules, ReadJsonIfPresent(modules_path));
  std::string pooling_dir = "1_Pooling";
  if (!modules) {
    LogOnce(LogLevel::kInfo, "modules-default:" + folder,
            folder +
                ": no modules.json; using CLS pooling (unless 1_Pooling/config.json "
                "says otherwise) and L2 normalization, the floe defaults");
    st.normalize = true;
  } else {
    if (!modules->is_array())
      return InvalidArgumentError(modules_path + ": not a JSON array");
    st.normalize = false;
    bool have_pooling = false;
    for (const json& m : *modules) {
      if (!m.is_object())
        return InvalidArgumentError(modules_path + ": entry is not an object");
      FLOE_ASSIGN_OR_RETURN(std::string type, GetString(m, "type", modules_path, ""));
      FLOE_ASSIGN_OR_RETURN(std::string mpath, GetString(m, "path", modules_path, ""));
      std::string_view kind = type;
      if (auto dot = kind.rfind('.'); dot != std::string_view::npos)
        kind.remove_prefix(dot + 1);
      if (kind == "Transformer") {
        continue;
      } else if (kind == "Pooling") {
        fs::path p(mpath);
        for (const auto& part : p) {
          if (part == "..") {
            return InvalidArgumentError(modules_path + ": Pooling path '" + mpath +
                                        "' leaves the model folder");
          }
        }
        if (p.is_absolute()) {
          return InvalidArgumentError(modules_path + ": Pooling path '" + mpath +
                                      "' must be relative");
        }
        pooling_dir = mpath;
        have_pooling = true;
      } else if (kind == "Normalize") {
        st.normalize = true;
      } else {
        return UnimplementedError(modules_path + ": module '" + type + "' (path '" +
                                  mpath +
                                  "') is not supported (supported: Transformer, Pooling, "
                                  "Normalize)");
      }
    }
    if (!have_pooling) {
      return UnimplementedError(
          modules_path + ": no Pooling module; floe needs one sentence vector per text");
    }
  }
  FLOE_RETURN_IF_ERROR(ReadPoolingConfig(
      (fs::path(folder) / pooling_dir / "config.json").string(), bert, &st));

  // Prompts.
  const std::string cst_path = Join(folder, "config_sentence_transformers.json");
  FLOE_ASSIGN_OR_RETURN(std::optional<json> cst, ReadJsonIfPresent(cst_path));
  if (!cst) {
    LogOnce(LogLevel::kInfo, "prompts-default:" + folder,
            folder + ": no config_sentence_transformers.json; no prompts");
  } else {
    if (!cst->is_object()) return InvalidArgumentError(cst_path + ": not a JSON object");
    if (auto it = cst->find("prompts"); it != cst->end() && !it->is_null()) {
      if (!it->is_object())
        return InvalidArgumentError(cst_path + ": \"prompts\" is not an object");
      for (auto p = it->begin(); p != it->end(); ++p) {
        if (!p.value().is_string()) {
          return InvalidArgumentError(cst_path + ": prompt '" + p.key() +
                                      "' is not a string");
        }
        st.prompts[p.key()] = p.value().get<std::string>();
      }
    }
    FLOE_ASSIGN_OR_RETURN(st.default_prompt_name,
                          GetString(*cst, "default_prompt_name", cst_path, ""));
    if (!st.default_prompt_name.empty() && !st.prompts.count(st.default_prompt_name)) {
      return InvalidArgumentError(cst_path + ": default_prompt_name '" +
                                  st.default_prompt_name + "' is not among the prompts");
    }
  }

  FLOE_RETURN_IF_ERROR(LoadMaxLength(folder, bert, &st).status());
  return st;
}

StatusOr<std::unique_ptr<ModelFolder>> ModelFolder::Open(const std::string& path) {
  std::error_code ec;
  if (!fs::exists(path, ec))
    return NotFoundError("model folder '" + path + "' does not exist");
  if (!PathIsDirectory(path)) {
    return InvalidArgumentError("model folder '" + path + "' is not a directory");
  }
  const std::string config_path = Join(path, "config.json");
  if (!PathIsFile(config_path)) {
    return NotFoundError("model folder '" + path +
                         "' has no config.json (is it a Hugging Face model folder?)");
  }
  auto folder = std::make_unique<ModelFolder>();
  folder->path = path;
  FLOE_ASSIGN_OR_RETURN(std::string text, ReadTextFile(config_path));
  const ArchitectureSpec* arch = FindArchitecture(ModelTypeOf(text));
  if (arch != nullptr) {
    FLOE_ASSIGN_OR_RETURN(folder->config, arch->parse(text, config_path));
  } else {
    FLOE_ASSIGN_OR_RETURN(folder->config, ParseBertConfig(text, config_path));
  }
  FLOE_ASSIGN_OR_RETURN(folder->st, LoadSentenceTransformersConfig(path, folder->config));
  FLOE_ASSIGN_OR_RETURN(folder->weights, WeightStore::Open(path));
  if (arch != nullptr) {
    FLOE_RETURN_IF_ERROR(arch->check_weights(text, *folder->weights, config_path));
  } else {
    FLOE_RETURN_IF_ERROR(CheckBertWeights(*folder->weights, folder->config));
  }
  folder->config_json = std::move(text);
  const BertConfig& c = folder->config;
  const std::string task =
      c.classifier() ? "classifier head, " + std::to_string(c.num_labels) + " labels"
                     : "pooling " + std::string(PoolingModeName(folder->st.pooling)) +
                           (folder->st.normalize ? ", normalized" : "");
  FLOE_LOG(kInfo) << "model " << path << ": " << c.model_type << ", " << c.num_hidden_layers
                  << " layers, hidden " << c.hidden_size << ", " << c.num_attention_heads
                  << " heads, " << DTypeName(folder->weights->dominant_dtype())
                  << " weights (" << folder->weights->total_bytes() / (1 << 20)
                  << " MiB), " << task << ", max length " << folder->st.max_seq_length;
  return folder;
}

}  // namespace floe
