#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <functional>
#include <nlohmann/json.hpp>

#include "model/bert_weights.h"
#include "model/config.h"
#include "model/safetensors.h"
#include "test_util.h"

namespace floe {
namespace {

using namespace floe::testing_util;
using json = nlohmann::json;

const char kQueryPrompt[] = "Represent this sentence for searching relevant passages: ";

void ExpectFixture(const ModelFolder& m, PoolingMode pooling, DType dtype) {
  EXPECT_EQ(m.config.model_type, "bert");
  EXPECT_EQ(m.config.hidden_size, 32);
  EXPECT_EQ(m.config.num_hidden_layers, 2);
  EXPECT_EQ(m.config.num_attention_heads, 2);
  EXPECT_EQ(m.config.intermediate_size, 64);
  EXPECT_EQ(m.config.vocab_size, 30522);
  EXPECT_EQ(m.config.max_position_embeddings, 512);
  EXPECT_EQ(m.config.type_vocab_size, 2);
  EXPECT_FLOAT_EQ(m.config.layer_norm_eps, 1e-12f);
  EXPECT_EQ(m.config.hidden_act, HiddenAct::kGeluErf);
  EXPECT_EQ(m.st.pooling, pooling);
  EXPECT_TRUE(m.st.normalize);
  EXPECT_EQ(m.st.max_seq_length, 512);
  ASSERT_EQ(m.st.prompts.count("query"), 1u);
  EXPECT_EQ(m.st.prompts.at("query"), kQueryPrompt);
  EXPECT_EQ(m.st.prompts.at("document"), "");
  EXPECT_EQ(m.st.default_prompt_name, "");
  ASSERT_NE(m.weights, nullptr);
  EXPECT_EQ(m.weights->dominant_dtype(), dtype);
  EXPECT_NE(m.weights->Find("embeddings.word_embeddings.weight"), nullptr);
  EXPECT_NE(m.weights->Find("bert.embeddings.word_embeddings.weight"), nullptr);
  EXPECT_NE(m.weights->Find("encoder.layer.1.output.LayerNorm.bias"), nullptr);
  EXPECT_EQ(m.weights->Find("encoder.layer.2.output.LayerNorm.bias"), nullptr);
}

TEST(ModelFolderTest, OpensClsFixture) {
  auto r = ModelFolder::Open(FixtureModel("bert-tiny-cls"));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ExpectFixture(**r, PoolingMode::kCls, DType::kF32);
  EXPECT_EQ((*r)->weights->total_bytes(), 4049552u - 8 - 4104);
}

// tests/data/models/make_tiny_models.py's folders (transformers' classes).
TEST(ModelFolderTest, OpensXlmRobertaEmbeddingFixture) {
  auto r = ModelFolder::Open(FixtureModel("xlmr-tiny"));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const ModelFolder& m = **r;
  EXPECT_EQ(m.config.model_type, "xlm-roberta");
  EXPECT_EQ(m.config.vocab_size, 8002);
  EXPECT_EQ(m.config.type_vocab_size, 1);
  EXPECT_EQ(m.config.position_offset, 2);
  EXPECT_EQ(m.config.max_tokens(), 512);
  EXPECT_FLOAT_EQ(m.config.layer_norm_eps, 1e-5f);
  EXPECT_FALSE(m.config.classifier());
  EXPECT_EQ(m.st.pooling, PoolingMode::kMean);
  EXPECT_TRUE(m.st.normalize);
  EXPECT_EQ(m.weights->dominant_dtype(), DType::kF16);
}

TEST(ModelFolderTest, OpensCrossEncoderFixturesWithTheirHeads) {
  struct Case {
    const char* folder;
    ClassifierHead head;
    const char* dense;  // the head's dense weight, as stored
    const char* out;
  };
  const Case cases[] = {
      {"rerank-bert-tiny", ClassifierHead::kBertPooler, "bert.pooler.dense.weight",
       "classifier.weight"},
      {"rerank-xlmr-tiny", ClassifierHead::kRobertaHead, "classifier.dense.weight",
       "classifier.out_proj.weight"},
  };
  for (const Case& c : cases) {
    auto r = ModelFolder::Open(FixtureModel(c.folder));
    ASSERT_TRUE(r.ok()) << c.folder << ": " << r.status().ToString();
    const ModelFolder& m = **r;
    EXPECT_EQ(m.config.head, c.head) << c.folder;
    EXPECT_EQ(m.config.num_labels, 1) << c.folder;
    EXPECT_EQ(m.config.labels, std::vector<std::string>{"LABEL_0"}) << c.folder;
    EXPECT_FALSE(m.st.normalize) << c.folder;
    const BertTensorSpec dense = BertTensorFor(m.config, BertTensor::kHeadDenseWeight);
    const BertTensorSpec out = BertTensorFor(m.config, BertTensor::kHeadOutWeight);
    ASSERT_NE(m.weights->Find(dense.name), nullptr) << c.folder;
    EXPECT_EQ(m.weights->Find(dense.name)->name, c.dense);
    EXPECT_EQ(m.weights->Find(out.name)->name, c.out);
    EXPECT_EQ(out.shape, (std::vector<int64_t>{1, 32}));
  }
  // The XLM-R checkpoint's encoder is under roberta.
  auto r = ModelFolder::Open(FixtureModel("rerank-xlmr-tiny"));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)->weights->Find("embeddings.word_embeddings.weight")->name,
            "roberta.embeddings.word_embeddings.weight");
}

TEST(ModelFolderTest, OpensMeanBf16FixtureWithPrefix) {
  auto r = ModelFolder::Open(FixtureModel("bert-tiny-mean-bf16"));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ExpectFixture(**r, PoolingMode::kMean, DType::kBF16);
  const TensorInfo* t = (*r)->weights->Find("embeddings.LayerNorm.weight");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->name, "bert.embeddings.LayerNorm.weight");
}

TEST(ModelFolderTest, LoadFloatWidensBf16Exactly) {
  auto r = ModelFolder::Open(FixtureModel("bert-tiny-mean-bf16"));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const WeightStore& w = *(*r)->weights;
  const char* name = "encoder.layer.0.intermediate.dense.weight";
  auto v = w.LoadFloat(name, {64, 32});
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  const TensorInfo* t = w.Find(name);
  ASSERT_EQ(v->size(), 64u * 32u);
  for (size_t i = 0; i < v->size(); ++i) {
    uint16_t raw;
    std::memcpy(&raw, t->data + 2 * i, 2);
    uint32_t bits;
    std::memcpy(&bits, &(*v)[i], 4);
    ASSERT_EQ(bits, static_cast<uint32_t>(raw) << 16) << "element " << i;
  }
  auto wrong = w.LoadFloat(name, {32, 64});
  ASSERT_FALSE(wrong.ok());
  EXPECT_NE(wrong.status().message().find("[64, 32]"), std::string::npos);
  EXPECT_NE(wrong.status().message().find("expected [32, 64]"), std::string::npos);
  auto missing = w.LoadFloat("encoder.layer.9.output.dense.weight", {32, 64});
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
}

TEST(ModelFolderTest, LoadFloatReadsF32) {
  auto w = WeightStore::Open(FixtureModel("bert-tiny-cls"));
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  auto v = (*w)->LoadFloat("embeddings.LayerNorm.bias", {32});
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_EQ(std::memcmp(v->data(), (*w)->Find("embeddings.LayerNorm.bias")->data, 128),
            0);
}

// A copy of a fixture folder without its weights, for variations.
class FolderCopy {
 public:
  explicit FolderCopy(const std::string& fixture) {
    for (const auto& e : fs::directory_iterator(FixtureModel(fixture))) {
      if (e.path().filename() == "model.safetensors") continue;
      fs::copy(e.path(), fs::path(dir_.path()) / e.path().filename(),
               fs::copy_options::recursive);
    }
    auto src = SafetensorsFile::Open(FixtureModel(fixture) + "/model.safetensors");
    EXPECT_TRUE(src.ok());
    for (const auto& [name, t] : (*src)->tensors()) {
      tensors_.push_back({name, std::string(DTypeName(t.dtype)), t.shape,
                          std::string(reinterpret_cast<const char*>(t.data), t.nbytes)});
    }
  }
  std::vector<TensorBytes>& tensors() { return tensors_; }
  std::string path() const { return dir_.path(); }
  std::string File(const std::string& n) const { return dir_.File(n); }
  void WriteSingle() { WriteFile(File("model.safetensors"), BuildSafetensors(tensors_)); }
  TensorBytes* Tensor(const std::string& name) {
    for (auto& t : tensors_) {
      if (t.name == name) return &t;
    }
    return nullptr;
  }

 private:
  TempDir dir_;
  std::vector<TensorBytes> tensors_;
};

void ExpectOpenFails(const std::string& path, StatusCode code,
                     const std::vector<std::string>& needles) {
  auto r = ModelFolder::Open(path);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), code) << r.status().ToString();
  for (const auto& n : needles) {
    EXPECT_NE(r.status().message().find(n), std::string::npos)
        << "missing '" << n << "' in: " << r.status().message();
  }
}

TEST(ModelFolderTest, OpensShardedCheckpoint) {
  FolderCopy f("bert-tiny-mean-bf16");
  std::vector<TensorBytes> a, b;
  json weight_map = json::object();
  for (size_t i = 0; i < f.tensors().size(); ++i) {
    auto& t = f.tensors()[i];
    bool first = i % 2 == 0;
    (first ? a : b).push_back(t);
    weight_map[t.name] =
        first ? "model-00001-of-00002.safetensors" : "model-00002-of-00002.safetensors";
  }
  WriteFile(f.File("model-00001-of-00002.safetensors"), BuildSafetensors(a));
  WriteFile(f.File("model-00002-of-00002.safetensors"), BuildSafetensors(b));
  WriteFile(f.File("model.safetensors.index.json"),
            json{{"metadata", {{"total_size", 0}}}, {"weight_map", weight_map}}.dump());
  auto r = ModelFolder::Open(f.path());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ExpectFixture(**r, PoolingMode::kMean, DType::kBF16);
  EXPECT_EQ((*r)->weights->files().size(), 2u);

  // Same values as the single-file fixture.
  auto single = WeightStore::Open(FixtureModel("bert-tiny-mean-bf16"));
  ASSERT_TRUE(single.ok());
  for (const char* name : {"embeddings.word_embeddings.weight",
                           "encoder.layer.1.attention.self.value.bias"}) {
    const TensorInfo* x = (*r)->weights->Find(name);
    const TensorInfo* y = (*single)->Find(name);
    ASSERT_NE(x, nullptr);
    ASSERT_EQ(x->nbytes, y->nbytes);
    EXPECT_EQ(std::memcmp(x->data, y->data, x->nbytes), 0) << name;
  }
}

TEST(ModelFolderTest, RejectsShardedCheckpointWithMissingShard) {
  FolderCopy f("bert-tiny-cls");
  WriteFile(f.File("model-00001-of-00002.safetensors"), BuildSafetensors(f.tensors()));
  json weight_map = json::object();
  weight_map["embeddings.word_embeddings.weight"] = "model-00001-of-00002.safetensors";
  weight_map["pooler.dense.bias"] = "model-00002-of-00002.safetensors";
  WriteFile(f.File("model.safetensors.index.json"),
            json{{"weight_map", weight_map}}.dump());
  ExpectOpenFails(f.path(), StatusCode::kNotFound,
                  {"model-00002-of-00002.safetensors", "does not exist"});
}

TEST(ModelFolderTest, RejectsShardIndexPointingOutside) {
  FolderCopy f("bert-tiny-cls");
  json weight_map = {{"embeddings.word_embeddings.weight", "../../etc/passwd"}};
  WriteFile(f.File("model.safetensors.index.json"),
            json{{"weight_map", weight_map}}.dump());
  ExpectOpenFails(f.path(), StatusCode::kDataLoss, {"../../etc/passwd"});
}

TEST(ModelFolderTest, RejectsShardIndexNamingAbsentTensor) {
  FolderCopy f("bert-tiny-cls");
  WriteFile(f.File("shard.safetensors"), BuildSafetensors(f.tensors()));
  json weight_map = {{"embeddings.word_embeddings.weight", "shard.safetensors"},
                     {"ghost.weight", "shard.safetensors"}};
  WriteFile(f.File("model.safetensors.index.json"),
            json{{"weight_map", weight_map}}.dump());
  ExpectOpenFails(f.path(), StatusCode::kDataLoss, {"ghost.weight", "shard.safetensors"});
}

TEST(ModelFolderTest, PytorchBinOnlyAsksToConvert) {
  FolderCopy f("bert-tiny-cls");
  WriteFile(f.File("pytorch_model.bin"), "PK\x03\x04 not really a zip");
  ExpectOpenFails(f.path(), StatusCode::kNotFound, {"pytorch_model.bin", "safetensors"});
}

TEST(ModelFolderTest, NoWeightsIsNotFound) {
  FolderCopy f("bert-tiny-cls");
  ExpectOpenFails(f.path(), StatusCode::kNotFound, {"model.safetensors"});
}

TEST(ModelFolderTest, RejectsShapeMismatchAgainstConfig) {
  FolderCopy f("bert-tiny-cls");
  TensorBytes* t = f.Tensor("encoder.layer.1.intermediate.dense.weight");
  ASSERT_NE(t, nullptr);
  t->shape = {32, 64};  // transposed: same bytes, wrong shape
  f.WriteSingle();
  ExpectOpenFails(f.path(), StatusCode::kInvalidArgument,
                  {"encoder.layer.1.intermediate.dense.weight", "[32, 64]", "[64, 32]"});
}

TEST(ModelFolderTest, RejectsVocabSizeMismatchAgainstConfig) {
  FolderCopy f("bert-tiny-cls");
  std::string cfg = ReadFile(f.File("config.json"));
  json j = json::parse(cfg);
  j["vocab_size"] = 30000;
  WriteFile(f.File("config.json"), j.dump());
  f.WriteSingle();
  ExpectOpenFails(f.path(), StatusCode::kInvalidArgument,
                  {"embeddings.word_embeddings.weight", "[30522, 32]", "[30000, 32]"});
}

TEST(ModelFolderTest, RejectsMissingTensorNamingIt) {
  FolderCopy f("bert-tiny-cls");
  auto& ts = f.tensors();
  std::erase_if(ts, [](const TensorBytes& t) {
    return t.name == "encoder.layer.1.attention.self.key.bias";
  });
  f.WriteSingle();
  ExpectOpenFails(f.path(), StatusCode::kNotFound,
                  {"encoder.layer.1.attention.self.key.bias"});
}

TEST(ModelFolderTest, RejectsConfigWithMoreLayersThanWeights) {
  FolderCopy f("bert-tiny-cls");
  json j = json::parse(ReadFile(f.File("config.json")));
  j["num_hidden_layers"] = 3;
  WriteFile(f.File("config.json"), j.dump());
  f.WriteSingle();
  ExpectOpenFails(f.path(), StatusCode::kNotFound, {"encoder.layer.2.", "more"});
}

TEST(ModelFolderTest, AcceptsLegacyGammaBetaNames) {
  FolderCopy f("bert-tiny-cls");
  for (auto& t : f.tensors()) {
    auto replace_suffix = [&](const std::string& from, const std::string& to) {
      if (t.name.size() > from.size() &&
          t.name.compare(t.name.size() - from.size(), from.size(), from) == 0) {
        t.name = t.name.substr(0, t.name.size() - from.size()) + to;
      }
    };
    replace_suffix("LayerNorm.weight", "LayerNorm.gamma");
    replace_suffix("LayerNorm.bias", "LayerNorm.beta");
    t.name = "bert." + t.name;
  }
  f.WriteSingle();
  auto r = ModelFolder::Open(f.path());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const TensorInfo* t = (*r)->weights->Find("encoder.layer.0.output.LayerNorm.weight");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->name, "bert.encoder.layer.0.output.LayerNorm.gamma");
}

TEST(ModelFolderTest, RejectsCorruptWeightsNamingTheFile) {
  FolderCopy f("bert-tiny-cls");
  std::string image = BuildSafetensors(f.tensors());
  WriteFile(f.File("model.safetensors"), image.substr(0, image.size() / 2));
  ExpectOpenFails(f.path(), StatusCode::kDataLoss,
                  {f.File("model.safetensors"), "exceed"});
}

TEST(ModelFolderTest, RejectsPathThatIsNotAModelFolder) {
  ExpectOpenFails("/nonexistent/model", StatusCode::kNotFound, {"/nonexistent/model"});
  std::string file = FixtureModel("bert-tiny-cls") + "/config.json";
  ExpectOpenFails(file, StatusCode::kInvalidArgument, {file, "not a directory"});
  TempDir empty;
  ExpectOpenFails(empty.path(), StatusCode::kNotFound, {empty.path(), "config.json"});
}

TEST(ModelFolderTest, RejectsUnsupportedArchitectureNamingIt) {
  FolderCopy f("bert-tiny-cls");
  json j = json::parse(ReadFile(f.File("config.json")));
  j["model_type"] = "deberta-v2";
  WriteFile(f.File("config.json"), j.dump());
  ExpectOpenFails(f.path(), StatusCode::kUnimplemented,
                  {"deberta-v2", "supported: bert, xlm-roberta"});
}

TEST(ModelFolderTest, ListsEveryEncoderTensor) {
  BertConfig c;
  c.hidden_size = 32;
  c.num_hidden_layers = 2;
  c.num_attention_heads = 2;
  c.intermediate_size = 64;
  c.vocab_size = 30522;
  auto specs = BertTensorSpecs(c);
  EXPECT_EQ(specs.size(), 5u + 2u * 16u);
}

TEST(ModelFolderTest, CrossEncoderWithoutItsHeadNamesTheTensor) {
  FolderCopy f("rerank-xlmr-tiny");
  f.WriteSingle();
  const std::string config = ReadFile(f.File("config.json"));
  json cfg = json::parse(config);
  cfg["id2label"] = {{"0", "a"}, {"1", "b"}};  // the stored out_proj has 1 row
  WriteFile(f.File("config.json"), cfg.dump());
  ExpectOpenFails(f.path(), StatusCode::kInvalidArgument,
                  {"classifier.out_proj.weight", "[1, 32]", "[2, 32]"});
  WriteFile(f.File("config.json"), config);
  auto& t = f.tensors();
  t.erase(std::remove_if(t.begin(), t.end(),
                         [](const TensorBytes& x) { return x.name == "classifier.dense.weight"; }),
          t.end());
  f.WriteSingle();
  ExpectOpenFails(f.path(), StatusCode::kNotFound, {"'classifier.dense.weight' not found"});
}

}  // namespace
}  // namespace floe
