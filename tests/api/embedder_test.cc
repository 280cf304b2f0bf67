// The public in-process API, text to vector, against the float64 golden files.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "api/shared_engine.h"
#include "common/test_util.h"
#include "floe/embedder.h"

namespace floe {
namespace {

const std::string kData = FLOE_TEST_DATA;

using test::Cosine;
using test::ReadJsonl;

std::vector<EmbedInput> GoldenInputs(const std::vector<nlohmann::json>& golden) {
  std::vector<EmbedInput> inputs;
  for (const auto& g : golden) {
    EmbedInput in;
    in.text = g["text"].get<std::string>();
    if (g.contains("prompt_name")) in.params.prompt_name = g["prompt_name"].get<std::string>();
    if (g.contains("dimensions")) in.params.dimensions = g["dimensions"].get<int>();
    inputs.push_back(in);
  }
  return inputs;
}

class EmbedderGoldenTest : public ::testing::TestWithParam<std::string> {};

TEST_P(EmbedderGoldenTest, TextToVectorMatchesFloat64Reference) {
  auto e = Embedder::Open(kData + "/models/" + GetParam());
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  auto golden = ReadJsonl(kData + "/golden/" + GetParam() + ".jsonl");
  auto inputs = GoldenInputs(golden);
  auto out = (*e)->Embed(inputs);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  ASSERT_EQ(out->size(), golden.size());
  for (size_t i = 0; i < golden.size(); ++i) {
    auto ids = (*e)->Tokenize(inputs[i].text, inputs[i].params);
    ASSERT_TRUE(ids.ok());
    EXPECT_EQ(*ids, golden[i]["ids"].get<std::vector<int32_t>>()) << "case " << i;
    auto want = golden[i]["embedding"].get<std::vector<double>>();
    ASSERT_EQ((*out)[i].size(), want.size()) << "case " << i;
    EXPECT_GE(Cosine((*out)[i], want), 0.99999) << "case " << i;
  }
}

INSTANTIATE_TEST_SUITE_P(FixtureModels, EmbedderGoldenTest,
                         ::testing::Values("bert-tiny-cls", "bert-tiny-mean-bf16", "xlmr-tiny"));

// Text pairs through TokenizePair and Classify against transformers'
// ...ForSequenceClassification on `tokenizers`' pair encoding (float64).
class EmbedderClassifyTest : public ::testing::TestWithParam<std::string> {};

TEST_P(EmbedderClassifyTest, PairsToLogitsMatchTransformers) {
  auto e = Embedder::Open(kData + "/models/" + GetParam());
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  const ModelInfo& info = (*e)->info();
  EXPECT_EQ(info.task, "classify");
  EXPECT_EQ(info.num_labels, 1);
  EXPECT_EQ(info.labels, std::vector<std::string>{"LABEL_0"});
  auto golden = ReadJsonl(kData + "/golden/" + GetParam() + ".jsonl");
  ASSERT_GE(golden.size(), 8u);
  std::vector<std::vector<int32_t>> ids;
  std::vector<int32_t> types;
  for (const auto& g : golden) {
    auto pair = (*e)->TokenizePair(g["text"].get<std::string>(), g["text_pair"].get<std::string>());
    ASSERT_TRUE(pair.ok()) << pair.status().ToString();
    EXPECT_EQ(pair->ids, g["ids"].get<std::vector<int32_t>>());
    EXPECT_EQ(pair->type1_from, g["type1_from"].get<int32_t>());
    ids.push_back(pair->ids);
    types.push_back(pair->type1_from);
  }
  auto logits = (*e)->Classify(ids, types);
  ASSERT_TRUE(logits.ok()) << logits.status().ToString();
  ASSERT_EQ(logits->size(), golden.size());
  for (size_t i = 0; i < golden.size(); ++i) {
    ASSERT_EQ((*logits)[i].size(), 1u);
    EXPECT_NEAR((*logits)[i][0], golden[i]["logits"][0].get<double>(), 1e-4) << "pair " << i;
  }
  // Embeddings are not what a classifier gives.
  auto v = (*e)->Embed({{"x", {}}});
  EXPECT_EQ(v.status().code(), StatusCode::kFailedPrecondition) << v.status().ToString();
  EXPECT_NE(v.status().message().find("classifier"), std::string::npos);
  EXPECT_EQ((*e)->EmbedTokens({ids[0]}).status().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ((*e)->Classify(ids, {1}).status().code(), StatusCode::kInvalidArgument);
}

INSTANTIATE_TEST_SUITE_P(FixtureModels, EmbedderClassifyTest,
                         ::testing::Values("rerank-bert-tiny", "rerank-xlmr-tiny"));

TEST(EmbedderTest, ClassifyOnAnEmbeddingModelIsFailedPrecondition) {
  auto e = Embedder::Open(kData + "/models/xlmr-tiny");
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  EXPECT_EQ((*e)->info().task, "embed");
  EXPECT_EQ((*e)->info().model_type, "xlm-roberta");
  EXPECT_EQ((*e)->info().max_tokens, 512);
  auto r = (*e)->Classify({{0, 5, 2}});
  EXPECT_EQ(r.status().code(), StatusCode::kFailedPrecondition) << r.status().ToString();
}

TEST(EmbedderTest, InfoDescribesTheModel) {
  auto e = Embedder::Open(kData + "/models/bert-tiny-mean-bf16");
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  const ModelInfo& info = (*e)->info();
  EXPECT_EQ(info.hidden_size, 32);
  EXPECT_EQ(info.max_tokens, 512);
  EXPECT_EQ(info.pooling, "mean");
  EXPECT_EQ(info.device, "cpu");
  EXPECT_NE(std::find(info.prompt_names.begin(), info.prompt_names.end(), "query"),
            info.prompt_names.end());
}

TEST(EmbedderTest, EmbedTokensEqualsEmbed) {
  auto e = Embedder::Open(kData + "/models/bert-tiny-cls");
  ASSERT_TRUE(e.ok());
  std::vector<EmbedInput> in = {{"a short text", {}}, {"another, longer text here.", {}}};
  auto a = (*e)->Embed(in);
  std::vector<std::vector<int32_t>> ids;
  for (const auto& x : in) ids.push_back(*(*e)->Tokenize(x.text));
  auto b = (*e)->EmbedTokens(ids);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(*a, *b);
}

// A copy of a fixture whose 1_Pooling/config.json says include_prompt false.
std::string FixtureWithoutPromptInPooling(const std::string& name) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::path(::testing::TempDir()) / ("floe_no_prompt_pooling_" + name);
  fs::remove_all(dir);
  fs::copy(kData + "/models/" + name, dir, fs::copy_options::recursive);
  std::ifstream in(dir / "1_Pooling" / "config.json");
  nlohmann::json pooling = nlohmann::json::parse(in);
  pooling["include_prompt"] = false;
  std::ofstream(dir / "1_Pooling" / "config.json") << pooling.dump();
  return dir.string();
}

// include_prompt false: the prompt's tokens (as sentence-transformers counts
// them: [CLS] and the prompt, not its [SEP]) are left out of pooling, in
// Embed and in EmbedTokens given the same count.
TEST(EmbedderTest, IncludePromptFalseLeavesThePromptOutOfPooling) {
  auto plain = Embedder::Open(kData + "/models/bert-tiny-mean-bf16");
  auto e = Embedder::Open(FixtureWithoutPromptInPooling("bert-tiny-mean-bf16"));
  ASSERT_TRUE(plain.ok() && e.ok()) << e.status().ToString();
  EXPECT_TRUE((*plain)->info().include_prompt);
  EXPECT_FALSE((*e)->info().include_prompt);
  const EmbedParams query{.prompt_name = "query"};

  auto alone = (*e)->Tokenize("", query);  // [CLS] prompt [SEP]
  ASSERT_TRUE(alone.ok());
  auto skip = (*e)->PromptTokensExcluded(query);
  ASSERT_TRUE(skip.ok()) << skip.status().ToString();
  EXPECT_EQ(*skip, static_cast<int32_t>(alone->size()) - 1);
  EXPECT_GT(*skip, 1);
  EXPECT_EQ(*(*plain)->PromptTokensExcluded(query), 0);             // include_prompt true
  EXPECT_EQ(*(*e)->PromptTokensExcluded({}), 0);                    // no prompt
  EXPECT_EQ(*(*e)->PromptTokensExcluded({.prompt_name = "document"}), 0);  // empty prompt
  EXPECT_EQ((*e)->PromptTokensExcluded({.prompt_name = "nope"}).status().code(),
            StatusCode::kInvalidArgument);

  const std::vector<EmbedInput> in = {{"a short text", query}, {"another, longer text.", query},
                                      {"no prompt here", {}}};
  auto got = (*e)->Embed(in);
  auto with_prompt = (*plain)->Embed(in);
  ASSERT_TRUE(got.ok() && with_prompt.ok()) << got.status().ToString();
  EXPECT_LT(test::Cosine((*got)[0], (*with_prompt)[0]), 0.9999);
  EXPECT_GE(test::Cosine((*got)[2], (*with_prompt)[2]), 0.999999);  // nothing to leave out

  std::vector<std::vector<int32_t>> ids;
  std::vector<int32_t> skips;
  for (const auto& x : in) {
    ids.push_back(*(*e)->Tokenize(x.text, x.params));
    skips.push_back(*(*e)->PromptTokensExcluded(x.params));
  }
  auto tokens = (*e)->EmbedTokens(ids, {}, skips);
  ASSERT_TRUE(tokens.ok()) << tokens.status().ToString();
  for (size_t i = 0; i < in.size(); ++i) {
    EXPECT_GE(test::Cosine((*tokens)[i], (*got)[i]), 0.999999) << i;
  }
  // Pooled whole, the first vector is the one with the prompt in.
  auto whole = (*e)->EmbedTokens(ids);
  ASSERT_TRUE(whole.ok());
  EXPECT_GE(test::Cosine((*whole)[0], (*with_prompt)[0]), 0.999999);
  EXPECT_EQ((*e)->EmbedTokens(ids, {}, {1}).status().code(), StatusCode::kInvalidArgument);
}

TEST(EmbedderTest, RejectsUnknownPromptAndBadDimensions) {
  auto e = Embedder::Open(kData + "/models/bert-tiny-cls");
  ASSERT_TRUE(e.ok());
  auto r = (*e)->Embed({{"x", {.prompt_name = "nope"}}});
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("nope"), std::string::npos);
  EmbedParams dims;
  dims.dimensions = 64;
  r = (*e)->Embed({{"x", dims}});
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  dims.dimensions = -1;
  r = (*e)->Embed({{"x", dims}});
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
}

TEST(EmbedderTest, ConcurrentCallersGetTheirOwnResults) {
  auto e = Embedder::Open(kData + "/models/bert-tiny-cls");
  ASSERT_TRUE(e.ok());
  auto want = (*e)->Embed({{"thread text", {}}});
  ASSERT_TRUE(want.ok());
  std::vector<std::thread> threads;
  std::atomic<int> mismatches{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int k = 0; k < 20; ++k) {
        auto got = (*e)->Embed({{"thread text", {}}, {"other", {}}});
        if (!got.ok()) {
          mismatches++;
          continue;
        }
        std::vector<double> w((*want)[0].begin(), (*want)[0].end());
        if (Cosine((*got)[0], w) < 0.999999) mismatches++;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(mismatches.load(), 0);
}

TEST(EmbedderTest, TokenizerOnlyTokenizesButDoesNotEmbed) {
  EmbedderOptions o;
  o.tokenizer_only = true;
  auto e = Embedder::Open(kData + "/models/bert-tiny-cls", o);
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  EXPECT_EQ((*e)->info().hidden_size, 32);
  auto ids = (*e)->Tokenize("Hello, world!");
  ASSERT_TRUE(ids.ok());
  EXPECT_EQ(*ids, (std::vector<int32_t>{101, 7592, 1010, 2088, 999, 102}));
  EXPECT_EQ((*e)->Embed({{"x", {}}}).status().code(), StatusCode::kFailedPrecondition);
}

// Every engine option an Embedder is opened with reaches the backend as it
// was given (Embedder -> Engine -> Backend::options()). Each field is set
// away from its default, so a layer that drops one hands down the default
// instead; the structured binding stops compiling when RuntimeOptions gains
// a field, so that the new one is set here too.
TEST(EmbedderTest, EngineOptionsReachTheBackendUnchanged) {
  const std::string model = kData + "/models/bert-tiny-cls";
  std::shared_ptr<Embedder> e;
  EmbedderOptions o;
  // int8 where this CPU runs it (else float32: then a dropped dtype goes unseen).
  for (const char* dtype : {"int8", "float32"}) {
    auto& [device, type, threads, tokens, gpu_share] = static_cast<RuntimeOptions&>(o);
    device = "cpu";  // the only device here (and the default)
    type = dtype;
    threads = 1;
    tokens = 333;
    gpu_share = 0.25;  // the CPU backend keeps it, unused
    auto opened = Embedder::Open(model, o);
    if (opened.ok()) {
      e = std::move(opened).value();
      break;
    }
    EXPECT_EQ(opened.status().code(), StatusCode::kFailedPrecondition)
        << opened.status().ToString();
  }
  ASSERT_TRUE(e);
  const std::shared_ptr<SharedEngine> shared = EngineOf(e);
  ASSERT_TRUE(shared->engine);
  const RuntimeOptions& got = shared->engine->options();
  EXPECT_EQ(got.device, o.device);
  EXPECT_EQ(got.dtype, o.dtype);
  EXPECT_EQ(got.num_threads, 1);
  EXPECT_EQ(got.max_batch_tokens, 333u);
  EXPECT_DOUBLE_EQ(got.gpu_memory_fraction, 0.25);
  EXPECT_TRUE(got == static_cast<const RuntimeOptions&>(o));
  EXPECT_EQ(e->info().dtype, o.dtype);
}

TEST(EmbedderTest, UnknownModelIdOfflineSaysWhereItLooked) {
  // Offline, an id not in the cache is NOT_FOUND naming the cache folder
  // (src/hub covers downloads against a local fake hub).
  std::string cache = ::testing::TempDir() + "/floe_empty_hf_cache";
  setenv("HF_HUB_OFFLINE", "1", 1);
  setenv("HF_HUB_CACHE", cache.c_str(), 1);
  auto e = Embedder::Open("NoSuchOrg/no-such-model");
  unsetenv("HF_HUB_OFFLINE");
  unsetenv("HF_HUB_CACHE");
  EXPECT_EQ(e.status().code(), StatusCode::kNotFound) << e.status().ToString();
  EXPECT_NE(e.status().message().find(cache), std::string::npos) << e.status().ToString();
}

}  // namespace
}  // namespace floe
