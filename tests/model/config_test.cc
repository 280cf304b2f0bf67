#include "model/config.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "test_util.h"

namespace floe {
namespace {

using namespace floe::testing_util;
using json = nlohmann::json;

json TinyConfig() {
  return json::parse(R"({
    "model_type": "bert", "hidden_size": 32, "num_hidden_layers": 2,
    "num_attention_heads": 2, "intermediate_size": 64, "vocab_size": 100,
    "max_position_embeddings": 512, "type_vocab_size": 2, "layer_norm_eps": 1e-12,
    "hidden_act": "gelu", "position_embedding_type": "absolute", "pad_token_id": 0})");
}

StatusOr<BertConfig> Parse(const json& j) {
  return ParseBertConfig(j.dump(), "cfg.json");
}

void ExpectError(const StatusOr<BertConfig>& r, StatusCode code,
                 const std::string& needle) {
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), code) << r.status().ToString();
  EXPECT_NE(r.status().message().find(needle), std::string::npos) << r.status().message();
  EXPECT_NE(r.status().message().find("cfg.json"), std::string::npos)
      << r.status().message();
}

TEST(BertConfigTest, ParsesAllFields) {
  json j = TinyConfig();
  j["layer_norm_eps"] = 1e-5;
  j["type_vocab_size"] = 1;
  j["pad_token_id"] = 3;
  auto r = Parse(j);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->model_type, "bert");
  EXPECT_EQ(r->hidden_size, 32);
  EXPECT_EQ(r->num_hidden_layers, 2);
  EXPECT_EQ(r->num_attention_heads, 2);
  EXPECT_EQ(r->intermediate_size, 64);
  EXPECT_EQ(r->vocab_size, 100);
  EXPECT_EQ(r->max_position_embeddings, 512);
  EXPECT_EQ(r->type_vocab_size, 1);
  EXPECT_FLOAT_EQ(r->layer_norm_eps, 1e-5f);
  EXPECT_EQ(r->hidden_act, HiddenAct::kGeluErf);
  EXPECT_EQ(r->pad_token_id, 3);
}

TEST(BertConfigTest, DefaultsOptionalFields) {
  json j = TinyConfig();
  for (const char* k : {"max_position_embeddings", "type_vocab_size", "layer_norm_eps",
                        "hidden_act", "position_embedding_type", "pad_token_id"}) {
    j.erase(k);
  }
  j["pad_token_id"] = nullptr;
  auto r = Parse(j);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->max_position_embeddings, 512);
  EXPECT_EQ(r->type_vocab_size, 2);
  EXPECT_EQ(r->hidden_act, HiddenAct::kGeluErf);
}

TEST(BertConfigTest, MapsActivations) {
  const std::pair<const char*, HiddenAct> cases[] = {
      {"gelu", HiddenAct::kGeluErf},
      {"gelu_python", HiddenAct::kGeluErf},
      {"gelu_new", HiddenAct::kGeluTanh},
      {"gelu_pytorch_tanh", HiddenAct::kGeluTanh},
      {"relu", HiddenAct::kRelu}};
  for (const auto& [name, act] : cases) {
    json j = TinyConfig();
    j["hidden_act"] = name;
    auto r = Parse(j);
    ASSERT_TRUE(r.ok()) << name << ": " << r.status().ToString();
    EXPECT_EQ(r->hidden_act, act) << name;
  }
}

TEST(BertConfigTest, RejectsUnsupportedModelTypeNamingIt) {
  json j = TinyConfig();
  j["model_type"] = "deberta-v2";
  ExpectError(Parse(j), StatusCode::kUnimplemented,
              "model_type 'deberta-v2' is not supported (supported: bert, xlm-roberta, "
              "roberta, camembert, nomic_bert");
}

// The RoBERTa family: BERT's graph with positions from pad_token_id + 1.
TEST(BertConfigTest, RobertaFamilyOffsetsPositionsByPadPlusOne) {
  for (const char* type : {"xlm-roberta", "roberta", "camembert"}) {
    json j = TinyConfig();
    j["model_type"] = type;
    j["max_position_embeddings"] = 8194;
    j["type_vocab_size"] = 1;
    j["pad_token_id"] = 1;
    auto r = Parse(j);
    ASSERT_TRUE(r.ok()) << type << ": " << r.status().ToString();
    EXPECT_EQ(r->model_type, type);
    EXPECT_EQ(r->position_offset, 2) << type;
    EXPECT_EQ(r->max_tokens(), 8192) << type;
    EXPECT_EQ(r->type_vocab_size, 1);
    EXPECT_FALSE(r->classifier());
    j.erase("pad_token_id");  // RobertaConfig's default: 1
    EXPECT_EQ(Parse(j)->position_offset, 2) << type;
    j["pad_token_id"] = 5;
    EXPECT_EQ(Parse(j)->position_offset, 6) << type;
  }
  json j = TinyConfig();
  EXPECT_EQ(Parse(j)->position_offset, 0);
  EXPECT_EQ(Parse(j)->max_tokens(), 512);
  j["model_type"] = "xlm-roberta";
  j["max_position_embeddings"] = 2;
  j["pad_token_id"] = 1;
  ExpectError(Parse(j), StatusCode::kInvalidArgument, "leaves no position");
  j.erase("model_type");
  j["architectures"] = {"XLMRobertaModel"};
  j["max_position_embeddings"] = 514;
  EXPECT_EQ(Parse(j)->model_type, "xlm-roberta");
}

TEST(BertConfigTest, SequenceClassificationGivesTheHeadAndLabels) {
  json j = TinyConfig();
  j["architectures"] = {"BertForSequenceClassification"};
  auto r = Parse(j);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->head, ClassifierHead::kBertPooler);
  EXPECT_EQ(r->num_labels, 2);  // transformers' default without id2label
  EXPECT_EQ(r->labels, (std::vector<std::string>{"LABEL_0", "LABEL_1"}));
  j["id2label"] = {{"0", "LABEL_0"}};
  EXPECT_EQ(Parse(j)->num_labels, 1);
  j["id2label"] = {{"2", "neutral"}, {"0", "negative"}, {"1", "positive"}};
  r = Parse(j);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->num_labels, 3);
  EXPECT_EQ(r->labels, (std::vector<std::string>{"negative", "positive", "neutral"}));
  j["id2label"] = {{"0", "a"}, {"2", "c"}};
  ExpectError(Parse(j), StatusCode::kInvalidArgument, "id2label");
  j["id2label"] = {{"x", "a"}};
  ExpectError(Parse(j), StatusCode::kInvalidArgument, "id2label entry \"x\"");
  j.erase("id2label");
  j["num_labels"] = 1;
  EXPECT_EQ(Parse(j)->num_labels, 1);

  j["model_type"] = "xlm-roberta";
  j["architectures"] = {"XLMRobertaForSequenceClassification"};
  EXPECT_EQ(Parse(j)->head, ClassifierHead::kRobertaHead);
  j["architectures"] = {"XLMRobertaForMaskedLM"};  // run as the bare encoder
  EXPECT_FALSE(Parse(j)->classifier());
}

TEST(BertConfigTest, RefusesHeadsAndDecoderOptionsItDoesNotRunNamingThem) {
  json j = TinyConfig();
  j["architectures"] = {"BertForTokenClassification"};
  ExpectError(Parse(j), StatusCode::kUnimplemented, "BertForTokenClassification");
  j["architectures"] = {"BertModel"};
  j["is_decoder"] = true;
  ExpectError(Parse(j), StatusCode::kUnimplemented, "\"is_decoder\"");
  j["is_decoder"] = false;
  j["add_cross_attention"] = true;
  ExpectError(Parse(j), StatusCode::kUnimplemented, "\"add_cross_attention\"");
}

TEST(BertConfigTest, AcceptsMissingModelTypeForBertArchitectures) {
  json j = TinyConfig();
  j.erase("model_type");
  j["architectures"] = {"BertModel"};
  EXPECT_TRUE(Parse(j).ok());
  j.erase("architectures");
  ExpectError(Parse(j), StatusCode::kInvalidArgument, "model_type");
}

TEST(BertConfigTest, RejectsUnsupportedActivationNamingIt) {
  json j = TinyConfig();
  j["hidden_act"] = "silu";
  ExpectError(Parse(j), StatusCode::kUnimplemented, "hidden_act 'silu'");
}

TEST(BertConfigTest, RejectsRelativePositionEmbeddings) {
  json j = TinyConfig();
  j["position_embedding_type"] = "relative_key";
  ExpectError(Parse(j), StatusCode::kUnimplemented,
              "position_embedding_type 'relative_key'");
}

TEST(BertConfigTest, RejectsHiddenNotDivisibleByHeads) {
  json j = TinyConfig();
  j["num_attention_heads"] = 5;
  ExpectError(Parse(j), StatusCode::kInvalidArgument,
              "not a multiple of num_attention_heads");
}

TEST(BertConfigTest, RejectsMissingOrBadSizes) {
  for (const char* k : {"hidden_size", "num_hidden_layers", "num_attention_heads",
                        "intermediate_size", "vocab_size"}) {
    json j = TinyConfig();
    j.erase(k);
    ExpectError(Parse(j), StatusCode::kInvalidArgument, k);
    j[k] = 0;
    ExpectError(Parse(j), StatusCode::kInvalidArgument, k);
    j[k] = -4;
    ExpectError(Parse(j), StatusCode::kInvalidArgument, k);
    j[k] = "32";
    ExpectError(Parse(j), StatusCode::kInvalidArgument, k);
    j[k] = 1e12;
    ExpectError(Parse(j), StatusCode::kInvalidArgument, k);
    j[k] = 3.5;
    ExpectError(Parse(j), StatusCode::kInvalidArgument, k);
  }
  json j = TinyConfig();
  j["layer_norm_eps"] = -1;
  ExpectError(Parse(j), StatusCode::kInvalidArgument, "layer_norm_eps");
}

TEST(BertConfigTest, RejectsInvalidJson) {
  ExpectError(ParseBertConfig("{not json", "cfg.json"), StatusCode::kInvalidArgument,
              "not valid JSON");
  ExpectError(ParseBertConfig("[1]", "cfg.json"), StatusCode::kInvalidArgument,
              "not a JSON object");
}

// --- sentence-transformers files -----------------------------------------

BertConfig TinyBert() { return *Parse(TinyConfig()); }

void WriteJson(const std::string& path, const json& j) { WriteFile(path, j.dump(2)); }

json Modules(bool normalize, const std::string& pooling_path = "1_Pooling") {
  json m = json::array();
  m.push_back({{"idx", 0},
               {"name", "0"},
               {"path", ""},
               {"type", "sentence_transformers.models.Transformer"}});
  m.push_back({{"idx", 1},
               {"name", "1"},
               {"path", pooling_path},
               {"type", "sentence_transformers.models.Pooling"}});
  if (normalize) {
    m.push_back({{"idx", 2},
                 {"name", "2"},
                 {"path", "2_Normalize"},
                 {"type", "sentence_transformers.models.Normalize"}});
  }
  return m;
}

json Pooling(const std::string& mode_key) {
  json p = {{"word_embedding_dimension", 32},
            {"pooling_mode_cls_token", false},
            {"pooling_mode_mean_tokens", false},
            {"pooling_mode_max_tokens", false},
            {"pooling_mode_mean_sqrt_len_tokens", false},
            {"pooling_mode_weightedmean_tokens", false},
            {"pooling_mode_lasttoken", false}};
  p[mode_key] = true;
  return p;
}

TEST(SentenceTransformersConfigTest, DefaultsWhenFilesAreMissing) {
  TempDir dir;
  auto r = LoadSentenceTransformersConfig(dir.path(), TinyBert());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->pooling, PoolingMode::kCls);
  EXPECT_TRUE(r->normalize);
  EXPECT_TRUE(r->prompts.empty());
  EXPECT_EQ(r->default_prompt_name, "");
  EXPECT_EQ(r->max_seq_length, 512);
}

TEST(SentenceTransformersConfigTest, ReadsEachPoolingMode) {
  const std::pair<const char*, PoolingMode> cases[] = {
      {"pooling_mode_cls_token", PoolingMode::kCls},
      {"pooling_mode_mean_tokens", PoolingMode::kMean},
      {"pooling_mode_max_tokens", PoolingMode::kMax},
      {"pooling_mode_lasttoken", PoolingMode::kLastToken}};
  for (const auto& [key, mode] : cases) {
    TempDir dir;
    WriteJson(dir.File("modules.json"), Modules(false, "pool"));
    std::filesystem::create_directory(dir.File("pool"));
    WriteJson(dir.File("pool/config.json"), Pooling(key));
    auto r = LoadSentenceTransformersConfig(dir.path(), TinyBert());
    ASSERT_TRUE(r.ok()) << key << ": " << r.status().ToString();
    EXPECT_EQ(r->pooling, mode) << key;
    EXPECT_FALSE(r->normalize);
  }
}

TEST(SentenceTransformersConfigTest, RejectsUnsupportedPoolingNamingIt) {
  for (const char* key :
       {"pooling_mode_mean_sqrt_len_tokens", "pooling_mode_weightedmean_tokens"}) {
    TempDir dir;
    WriteJson(dir.File("modules.json"), Modules(true));
    std::filesystem::create_directory(dir.File("1_Pooling"));
    WriteJson(dir.File("1_Pooling/config.json"), Pooling(key));
    auto r = LoadSentenceTransformersConfig(dir.path(), TinyBert());
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), StatusCode::kUnimplemented);
    EXPECT_NE(r.status().message().find(key), std::string::npos) << r.status().message();
  }
}

TEST(SentenceTransformersConfigTest, RejectsCombinedPoolingModes) {
  TempDir dir;
  WriteJson(dir.File("modules.json"), Modules(true));
  std::filesystem::create_directory(dir.File("1_Pooling"));
  json p = Pooling("pooling_mode_cls_token");
  p["pooling_mode_mean_tokens"] = true;
  WriteJson(dir.File("1_Pooling/config.json"), p);
  auto r = LoadSentenceTransformersConfig(dir.path(), TinyBert());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnimplemented);
}

TEST(SentenceTransformersConfigTest, RejectsUnknownModuleNamingIt) {
  TempDir dir;
  json m = Modules(true);
  m.push_back({{"idx", 3},
               {"name", "3"},
               {"path", "3_Dense"},
               {"type", "sentence_transformers.models.Dense"}});
  WriteJson(dir.File("modules.json"), m);
  auto r = LoadSentenceTransformersConfig(dir.path(), TinyBert());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnimplemented);
  EXPECT_NE(r.status().message().find("sentence_transformers.models.Dense"),
            std::string::npos);
}

TEST(SentenceTransformersConfigTest, RejectsPoolingPathOutsideFolder) {
  TempDir dir;
  WriteJson(dir.File("modules.json"), Modules(true, "../elsewhere"));
  EXPECT_FALSE(LoadSentenceTransformersConfig(dir.path(), TinyBert()).ok());
}

TEST(SentenceTransformersConfigTest, ReadsPromptsAndDefaultPrompt) {
  TempDir dir;
  WriteJson(dir.File("config_sentence_transformers.json"),
            {{"prompts", {{"query", "query: "}, {"passage", "passage: "}}},
             {"default_prompt_name", "passage"}});
  auto r = LoadSentenceTransformersConfig(dir.path(), TinyBert());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->prompts.size(), 2u);
  EXPECT_EQ(r->prompts.at("query"), "query: ");
  EXPECT_EQ(r->default_prompt_name, "passage");

  WriteJson(dir.File("config_sentence_transformers.json"),
            {{"prompts", {{"query", "query: "}}}, {"default_prompt_name", "nope"}});
  auto bad = LoadSentenceTransformersConfig(dir.path(), TinyBert());
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("nope"), std::string::npos);
}

// As sentence-transformers cuts: sentence_bert_config.json's max_seq_length wins
// over tokenizer_config.json's model_max_length, either way; the latter counts
// only without the former; neither passes max_position_embeddings.
TEST(SentenceTransformersConfigTest, MaxLengthIsSentenceBertsOverTokenizerConfig) {
  TempDir dir;
  WriteJson(dir.File("sentence_bert_config.json"), {{"max_seq_length", 256}});
  WriteJson(dir.File("tokenizer_config.json"), {{"model_max_length", 300}});
  EXPECT_EQ(LoadSentenceTransformersConfig(dir.path(), TinyBert())->max_seq_length, 256);
  WriteJson(dir.File("tokenizer_config.json"), {{"model_max_length", 128}});
  EXPECT_EQ(LoadSentenceTransformersConfig(dir.path(), TinyBert())->max_seq_length, 256);
  WriteJson(dir.File("sentence_bert_config.json"), {{"do_lower_case", false}});
  EXPECT_EQ(LoadSentenceTransformersConfig(dir.path(), TinyBert())->max_seq_length, 128);
  // Hugging Face writes 1e30 for "no limit": ignored.
  WriteJson(dir.File("sentence_bert_config.json"), {{"max_seq_length", 8192}});
  WriteFile(dir.File("tokenizer_config.json"),
            R"({"model_max_length": 1000000000000000019884624838656})");
  EXPECT_EQ(LoadSentenceTransformersConfig(dir.path(), TinyBert())->max_seq_length, 512);
}

// A cross-encoder folder has no Pooling module (or no modules.json): its head
// takes the first token; only the max length applies.
TEST(SentenceTransformersConfigTest, ClassifierNeedsNoPoolingAndIsNotNormalized) {
  TempDir dir;
  json m = json::array();
  m.push_back({{"idx", 0}, {"name", "0"}, {"path", ""},
               {"type", "sentence_transformers.models.Transformer"}});
  WriteJson(dir.File("modules.json"), m);
  WriteJson(dir.File("tokenizer_config.json"), {{"model_max_length", 300}});
  BertConfig c = TinyBert();
  EXPECT_FALSE(LoadSentenceTransformersConfig(dir.path(), c).ok());
  c.head = ClassifierHead::kBertPooler;
  c.num_labels = 1;
  auto r = LoadSentenceTransformersConfig(dir.path(), c);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_FALSE(r->normalize);
  EXPECT_EQ(r->max_seq_length, 300);
}

TEST(SentenceTransformersConfigTest, RejectsMalformedFilesNamingThem) {
  TempDir dir;
  WriteFile(dir.File("modules.json"), "{oops");
  auto r = LoadSentenceTransformersConfig(dir.path(), TinyBert());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("modules.json"), std::string::npos);
}

}  // namespace
}  // namespace floe
