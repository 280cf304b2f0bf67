// Every golden case gives Hugging Face's ids, through tokenizer.json and
// through the vocab.txt fallback.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "text/tokenizer.h"

namespace floe {
namespace {

using nlohmann::json;

const std::string kData = FLOE_TEST_DATA;

std::vector<json> ReadJsonl(const std::string& path) {
  std::ifstream in(path);
  EXPECT_TRUE(in.good()) << path;
  std::vector<json> out;
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty()) out.push_back(json::parse(line));
  }
  return out;
}

std::string QueryPrompt(const std::string& model_dir) {
  std::ifstream in(model_dir + "/config_sentence_transformers.json");
  json j = json::parse(in);
  return j.at("prompts").at("query").get<std::string>();
}

std::unique_ptr<Tokenizer> Load(const std::string& model) {
  auto tok = Tokenizer::FromFolder(kData + "/models/" + model);
  EXPECT_TRUE(tok.ok()) << tok.status().ToString();
  return tok.ok() ? std::move(tok).value() : nullptr;
}

// Checks every case of tokenizer-bert-base-uncased.jsonl with `model`'s tokenizer.
void CheckTokenizerGolden(const std::string& model) {
  auto tok = Load(model);
  ASSERT_NE(tok, nullptr);
  const auto cases = ReadJsonl(kData + "/golden/tokenizer-bert-base-uncased.jsonl");
  ASSERT_GT(cases.size(), 200u);
  size_t passed = 0;
  for (size_t i = 0; i < cases.size(); ++i) {
    const std::string text = cases[i].at("text").get<std::string>();
    const auto want = cases[i].at("ids").get<std::vector<int32_t>>();
    auto got = tok->Encode(text);
    ASSERT_TRUE(got.ok()) << "case " << i << ": " << got.status().ToString();
    EXPECT_EQ(*got, want) << "case " << i << " text: " << cases[i].at("text").dump();
    auto count = tok->CountTokens(text);
    ASSERT_TRUE(count.ok());
    EXPECT_EQ(*count, want.size()) << "case " << i;
    if (*got == want) ++passed;
  }
  EXPECT_EQ(passed, cases.size());
  std::printf("[ golden ] %s: %zu/%zu cases identical\n", model.c_str(), passed,
              cases.size());
}

TEST(TokenizerGolden, EveryCaseThroughTokenizerJson) {
  CheckTokenizerGolden("bert-tiny-cls");
}

TEST(TokenizerGolden, EveryCaseThroughVocabTxtFallback) {
  CheckTokenizerGolden("bert-tiny-mean-bf16");
}

// The model goldens: query prompt prepended, truncated to 512 with [SEP] last.
void CheckModelGolden(const std::string& model) {
  const std::string dir = kData + "/models/" + model;
  auto tok = Load(model);
  ASSERT_NE(tok, nullptr);
  const std::string prompt = QueryPrompt(dir);
  const auto cases = ReadJsonl(kData + "/golden/" + model + ".jsonl");
  ASSERT_FALSE(cases.empty());
  size_t truncated = 0;
  for (size_t i = 0; i < cases.size(); ++i) {
    std::string text = cases[i].at("text").get<std::string>();
    if (cases[i].value("prompt_name", "") == "query") text = prompt + text;
    const auto want = cases[i].at("ids").get<std::vector<int32_t>>();
    auto got = tok->Encode(text, 512);
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    EXPECT_EQ(*got, want) << model << " case " << i;
    if (want.size() == 512) {
      ++truncated;
      EXPECT_EQ(got->back(), tok->sep_id());
    }
  }
  EXPECT_GT(truncated, 0u) << "no over-long case in " << model;
}

TEST(TokenizerGolden, BertTinyClsModelIds) { CheckModelGolden("bert-tiny-cls"); }

TEST(TokenizerGolden, BertTinyMeanBf16ModelIds) { CheckModelGolden("bert-tiny-mean-bf16"); }

}  // namespace
}  // namespace floe

namespace floe {
namespace {

// Truncating to k keeps exactly the first k-2 content ids of the full
// encoding, then [SEP], for every golden text and every k.
TEST(TokenizerGolden, TruncationIsPrefixOfFullEncoding) {
  auto tok = Load("bert-tiny-cls");
  ASSERT_NE(tok, nullptr);
  for (const json& c : ReadJsonl(kData + "/golden/tokenizer-bert-base-uncased.jsonl")) {
    const std::string text = c.at("text").get<std::string>();
    const auto full = *tok->Encode(text);
    for (size_t k = 2; k <= full.size() + 1; ++k) {
      const auto cut = *tok->Encode(text, k);
      const size_t want_len = std::min(k, full.size());
      ASSERT_EQ(cut.size(), want_len) << text << " k=" << k;
      EXPECT_TRUE(std::equal(cut.begin(), cut.end() - 1, full.begin())) << text;
      EXPECT_EQ(cut.back(), tok->sep_id());
    }
  }
}

}  // namespace
}  // namespace floe
