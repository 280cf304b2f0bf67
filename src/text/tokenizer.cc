// Loaders: tokenizer.json, or vocab.txt + tokenizer_config.json. Both end in
// BertOptions for the one BertTokenizer implementation.
#include "text/tokenizer.h"

#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <unordered_map>

#include "core/log.h"
#include "text/added_tokens.h"
#include "text/bert_tokenizer.h"
#include "text/post_processor.h"
#include "text/unigram_tokenizer.h"

namespace floe {
namespace {

using nlohmann::json;
using text::AddedToken;
using text::ParseAddedToken;
using text::BertOptions;

StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return NotFoundError("cannot open " + path);
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return DataLossError("cannot read " + path);
  return ss.str();
}

std::string TypeOf(const json& j) {
  if (j.is_object() && j.contains("type") && j["type"].is_string()) {
    return j["type"].get<std::string>();
  }
  return "(no type)";
}

Status ParseNormalizer(const json& j, const std::string& name, BertOptions* opt) {
  if (j.is_null()) {
    opt->clean_text = opt->handle_chinese_chars = opt->strip_accents = opt->lowercase =
        false;
    return OkStatus();
  }
  const std::string type = TypeOf(j);
  if (type != "BertNormalizer") {
    return UnimplementedError(name + ": normalizer '" + type +
                              "' is not supported (only BertNormalizer)");
  }
  opt->clean_text = j.value("clean_text", true);
  opt->handle_chinese_chars = j.value("handle_chinese_chars", true);
  opt->lowercase = j.value("lowercase", true);
  const json& sa = j.contains("strip_accents") ? j["strip_accents"] : json();
  opt->strip_accents = sa.is_boolean() ? sa.get<bool>() : opt->lowercase;
  return OkStatus();
}

Status ParsePreTokenizer(const json& j, const std::string& name) {
  const std::string type = j.is_null() ? "null" : TypeOf(j);
  if (type != "BertPreTokenizer") {
    return UnimplementedError(name + ": pre_tokenizer '" + type +
                              "' is not supported (only BertPreTokenizer)");
  }
  return OkStatus();
}

Status ParseModel(const json& j, const std::string& name, BertOptions* opt) {
  const std::string type = TypeOf(j);
  if (type != "WordPiece") {
    return UnimplementedError(name + ": tokenizer model '" + type +
                              "' is not supported (only WordPiece)");
  }
  if (!j.contains("vocab") || !j["vocab"].is_object()) {
    return InvalidArgumentError(name + ": WordPiece model without a vocab object");
  }
  opt->vocab.reserve(j["vocab"].size());
  for (const auto& [token, id] : j["vocab"].items()) {
    if (!id.is_number_integer()) {
      return InvalidArgumentError(name + ": vocab id of '" + token + "' is not an integer");
    }
    opt->vocab.emplace_back(token, id.get<int32_t>());
  }
  opt->unk_token = j.value("unk_token", std::string("[UNK]"));
  opt->continuing_subword_prefix = j.value("continuing_subword_prefix", std::string("##"));
  opt->max_input_chars_per_word = j.value("max_input_chars_per_word", size_t{100});
  return OkStatus();
}

// tokenizer.json's "decoder": null or WordPiece; others make Decode
// UNIMPLEMENTED (encoding does not need them).
void ParseDecoder(const json& j, BertOptions* opt) {
  if (j.is_null()) {
    opt->decoder = BertOptions::Decoder::kNone;
  } else if (TypeOf(j) == "WordPiece") {
    opt->decoder = BertOptions::Decoder::kWordPiece;
    opt->decoder_prefix = j.value("prefix", std::string("##"));
    opt->decoder_cleanup = j.value("cleanup", true);
  } else {
    opt->decoder = BertOptions::Decoder::kUnsupported;
    opt->decoder_type = TypeOf(j);
  }
}

// Id of `token`: an added token's, else the vocab's; -1 when absent.
int32_t LookupId(const BertOptions& opt, const std::string& token) {
  for (const AddedToken& t : opt.added_tokens) {
    if (t.content == token) return t.id;
  }
  for (const auto& [tok, id] : opt.vocab) {
    if (tok == token) return id;
  }
  return -1;
}

Status ParsePostProcessor(const json& j, const std::string& name, BertOptions* opt) {
  FLOE_ASSIGN_OR_RETURN(opt->post, text::PostProcessor::Parse(j, name, [&](const std::string& t) {
                          return LookupId(*opt, t);
                        }));
  opt->prefix_ids = opt->post.SinglePrefix();
  opt->suffix_ids = opt->post.SingleSuffix();
  if (!opt->prefix_ids.empty()) opt->cls_id = opt->prefix_ids.front();
  if (!opt->suffix_ids.empty()) opt->sep_id = opt->suffix_ids.back();
  return OkStatus();
}

// When the template has no [CLS]/[SEP], still report them when the vocab has them.
void FillDefaults(BertOptions* opt, int32_t pad_from_padding) {
  if (opt->cls_id < 0) opt->cls_id = LookupId(*opt, "[CLS]");
  if (opt->sep_id < 0) opt->sep_id = LookupId(*opt, "[SEP]");
  if (pad_from_padding >= 0) {
    opt->pad_id = pad_from_padding;
  } else {
    const int32_t pad = LookupId(*opt, "[PAD]");
    opt->pad_id = pad >= 0 ? pad : 0;
  }
}

StatusOr<std::unique_ptr<Tokenizer>> FromJsonImpl(std::string_view json_text,
                                                  const std::string& name) {
  json j = json::parse(json_text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    return InvalidArgumentError(name + ": not valid JSON");
  }
  if (!j.contains("model")) return InvalidArgumentError(name + ": no \"model\"");
  if (TypeOf(j["model"]) == "Unigram" || TypeOf(j["model"]) == "BPE") {
    return text::UnigramTokenizerFromJson(j, name);
  }
  BertOptions opt;
  FLOE_RETURN_IF_ERROR(ParseModel(j["model"], name, &opt));
  FLOE_RETURN_IF_ERROR(
      ParseNormalizer(j.contains("normalizer") ? j["normalizer"] : json(), name, &opt));
  FLOE_RETURN_IF_ERROR(
      ParsePreTokenizer(j.contains("pre_tokenizer") ? j["pre_tokenizer"] : json(), name));
  if (j.contains("added_tokens") && j["added_tokens"].is_array()) {
    for (const json& t : j["added_tokens"]) opt.added_tokens.push_back(ParseAddedToken(t));
  }
  FLOE_RETURN_IF_ERROR(ParsePostProcessor(
      j.contains("post_processor") ? j["post_processor"] : json(), name, &opt));
  ParseDecoder(j.contains("decoder") ? j["decoder"] : json(), &opt);
  int32_t pad = -1;
  if (j.contains("padding") && j["padding"].is_object()) {
    pad = j["padding"].value("pad_id", -1);
  }
  FillDefaults(&opt, pad);
  return text::BertTokenizer::Create(std::move(opt), name);
}

// A special token in tokenizer_config.json / special_tokens_map.json: a string
// or {"content": ..., "lstrip": ...}.
bool ReadSpecial(const json& v, AddedToken* out) {
  if (v.is_string()) {
    out->content = v.get<std::string>();
    return true;
  }
  if (v.is_object() && v.contains("content") && v["content"].is_string()) {
    out->content = v["content"].get<std::string>();
    out->lstrip = v.value("lstrip", false);
    out->rstrip = v.value("rstrip", false);
    out->single_word = v.value("single_word", false);
    out->normalized = v.value("normalized", false);
    return true;
  }
  return false;
}

StatusOr<json> ReadJsonIfExists(const std::filesystem::path& path) {
  if (!std::filesystem::exists(path)) return json();
  FLOE_ASSIGN_OR_RETURN(std::string s, ReadFile(path.string()));
  json j = json::parse(s, nullptr, false);
  if (j.is_discarded()) return InvalidArgumentError(path.string() + ": not valid JSON");
  return j;
}

// The slow BertTokenizer's files, converted as transformers' BertConverter does.
StatusOr<std::unique_ptr<Tokenizer>> FromVocabTxt(const std::filesystem::path& folder) {
  const std::string vocab_path = (folder / "vocab.txt").string();
  FLOE_ASSIGN_OR_RETURN(std::string vocab_text, ReadFile(vocab_path));
  FLOE_ASSIGN_OR_RETURN(json config, ReadJsonIfExists(folder / "tokenizer_config.json"));
  FLOE_ASSIGN_OR_RETURN(json special_map, ReadJsonIfExists(folder / "special_tokens_map.json"));
  FLOE_ASSIGN_OR_RETURN(json added_json, ReadJsonIfExists(folder / "added_tokens.json"));
  if (!config.is_object()) {
    LogOnce(LogLevel::kInfo, "tokenizer_config:" + folder.string(),
            folder.string() + ": no tokenizer_config.json; BERT defaults (lowercase)");
    config = json::object();
  }
  if (config.contains("tokenizer_class") && config["tokenizer_class"].is_string()) {
    const std::string cls = config["tokenizer_class"].get<std::string>();
    // BERT's WordPiece tokenizer under its own and its derivatives' names.
    if (cls.find("Bert") == std::string::npos && cls.find("Electra") == std::string::npos) {
      return UnimplementedError(folder.string() + ": tokenizer_class '" + cls +
                                "' without tokenizer.json is not supported (only BERT's "
                                "vocab.txt)");
    }
  }

  BertOptions opt;
  opt.decoder = BertOptions::Decoder::kWordPiece;  // BertConverter's WordPiece(prefix="##")
  int32_t line_no = 0;
  size_t pos = 0;
  while (pos < vocab_text.size()) {
    size_t nl = vocab_text.find('\n', pos);
    if (nl == std::string::npos) nl = vocab_text.size();
    std::string token = vocab_text.substr(pos, nl - pos);
    if (!token.empty() && token.back() == '\r') token.pop_back();
    opt.vocab.emplace_back(std::move(token), line_no++);
    pos = nl + 1;
  }

  auto flag = [&](const char* key, bool def) {
    return config.contains(key) && config[key].is_boolean() ? config[key].get<bool>() : def;
  };
  opt.lowercase = flag("do_lower_case", true);
  opt.handle_chinese_chars = flag("tokenize_chinese_chars", true);
  opt.strip_accents = flag("strip_accents", opt.lowercase);
  opt.clean_text = true;

  auto special = [&](const char* key, const char* def) {
    AddedToken t;
    t.special = true;
    if (!(config.contains(key) && ReadSpecial(config[key], &t)) &&
        !(special_map.is_object() && special_map.contains(key) &&
          ReadSpecial(special_map[key], &t))) {
      t.content = def;
    }
    return t;
  };
  const char* const keys[][2] = {{"unk_token", "[UNK]"}, {"sep_token", "[SEP]"},
                                 {"pad_token", "[PAD]"}, {"cls_token", "[CLS]"},
                                 {"mask_token", "[MASK]"}};
  std::map<std::string, AddedToken> specials;
  for (const auto& kv : keys) specials[kv[0]] = special(kv[0], kv[1]);
  opt.unk_token = specials["unk_token"].content;

  // The vocab's id for a token (last line wins, as a Python dict).
  std::unordered_map<std::string, int32_t> vocab_ids;
  for (const auto& [tok, id] : opt.vocab) vocab_ids[tok] = id;

  auto add = [&](AddedToken t) {
    if (t.content.empty()) return;
    for (const AddedToken& e : opt.added_tokens) {
      if (e.content == t.content) return;
    }
    if (t.id < 0) {
      auto it = vocab_ids.find(t.content);
      if (it == vocab_ids.end()) return;  // not in the vocab: cannot map it
      t.id = it->second;
    }
    opt.added_tokens.push_back(std::move(t));
  };
  // Newer transformers write every added token with its flags here.
  if (config.contains("added_tokens_decoder") && config["added_tokens_decoder"].is_object()) {
    for (const auto& [id, t] : config["added_tokens_decoder"].items()) {
      AddedToken a = ParseAddedToken(t);
      a.id = std::stoi(id);
      add(std::move(a));
    }
  }
  for (const auto& kv : keys) add(specials[kv[0]]);
  for (const json* src : {&config, &special_map}) {
    if (src->is_object() && src->contains("additional_special_tokens") &&
        (*src)["additional_special_tokens"].is_array()) {
      for (const json& v : (*src)["additional_special_tokens"]) {
        AddedToken t;
        t.special = true;
        if (ReadSpecial(v, &t)) add(std::move(t));
      }
    }
  }
  if (added_json.is_object()) {
    for (const auto& [content, id] : added_json.items()) {
      if (!id.is_number_integer()) continue;
      AddedToken t;
      t.content = content;
      t.id = id.get<int32_t>();
      t.normalized = true;
      add(std::move(t));
    }
  }

  auto id_of = [&](const std::string& key) {
    auto it = vocab_ids.find(specials[key].content);
    return it == vocab_ids.end() ? -1 : it->second;
  };
  opt.cls_id = id_of("cls_token");
  opt.sep_id = id_of("sep_token");
  const int32_t pad = id_of("pad_token");
  opt.pad_id = pad >= 0 ? pad : 0;
  if (opt.cls_id < 0 || opt.sep_id < 0) {
    return InvalidArgumentError(vocab_path + ": cls/sep token not in the vocabulary");
  }
  const json bert_processing = {{"type", "BertProcessing"},
                                 {"cls", {specials["cls_token"].content, opt.cls_id}},
                                 {"sep", {specials["sep_token"].content, opt.sep_id}}};
  FLOE_RETURN_IF_ERROR(ParsePostProcessor(bert_processing, vocab_path, &opt));
  return text::BertTokenizer::Create(std::move(opt), vocab_path);
}

}  // namespace

StatusOr<std::unique_ptr<Tokenizer>> Tokenizer::FromJson(std::string_view json_text,
                                                         const std::string& name) {
  try {
    return FromJsonImpl(json_text, name);
  } catch (const nlohmann::json::exception& e) {
    return InvalidArgumentError(name + ": " + e.what());
  }
}

StatusOr<std::unique_ptr<Tokenizer>> Tokenizer::FromFolder(const std::string& folder) {
  const std::filesystem::path dir(folder);
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) {
    return NotFoundError(folder + ": not a directory");
  }
  const std::filesystem::path json_path = dir / "tokenizer.json";
  if (std::filesystem::exists(json_path, ec)) {
    FLOE_ASSIGN_OR_RETURN(std::string text, ReadFile(json_path.string()));
    return FromJson(text, json_path.string());
  }
  if (!std::filesystem::exists(dir / "vocab.txt", ec)) {
    return NotFoundError(folder + ": neither tokenizer.json nor vocab.txt");
  }
  LogOnce(LogLevel::kInfo, "vocab_txt:" + folder,
          folder + ": no tokenizer.json; using vocab.txt + tokenizer_config.json");
  try {
    return FromVocabTxt(dir);
  } catch (const nlohmann::json::exception& e) {
    return InvalidArgumentError(folder + ": " + e.what());
  } catch (const std::exception& e) {
    return InvalidArgumentError(folder + ": " + e.what());
  }
}

}  // namespace floe
