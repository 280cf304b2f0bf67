// TEI's HTTP routes and Cohere's /v1/rerank on the real `floe serve`: shapes,
// status codes and error bodies {"error", "error_type"}, bad input (the
// server stays up), an embedding model and a reranker (rerank-bert-tiny).
#include <gtest/gtest.h>

#include <cmath>

#include "server_process.h"

namespace floe::test {
namespace {

using json = nlohmann::json;

std::string RerankerModel() { return std::string(FLOE_TEST_DATA) + "/models/rerank-bert-tiny"; }

class TeiTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    embed_ = new ServerProcess({"--max-client-batch-size", "8", "--max-body-bytes", "100000",
                                "--max-batch-tokens", "2048"});
    rerank_ = new ServerProcess({"--max-client-batch-size", "8", "--max-body-bytes", "100000"},
                                RerankerModel());
    ASSERT_TRUE(embed_->ready()) << "floe serve (embedding model) did not become healthy";
    ASSERT_TRUE(rerank_->ready()) << "floe serve (reranker) did not become healthy";
  }
  static void TearDownTestSuite() {
    for (ServerProcess** s : {&embed_, &rerank_}) {
      EXPECT_EQ((*s)->Stop(), 0);
      delete *s;
      *s = nullptr;
    }
  }
  void TearDown() override {
    // Whatever a test sent, both servers are still up.
    for (ServerProcess* s : {embed_, rerank_}) {
      auto r = s->Http().Get("/health");
      ASSERT_TRUE(r);
      EXPECT_EQ(r->status, 200);
    }
  }

  static json PostOk(ServerProcess* s, const std::string& path, const json& body) {
    auto r = s->Http().Post(path, body.dump(), "application/json");
    EXPECT_TRUE(r);
    if (!r) return nullptr;
    EXPECT_EQ(r->status, 200) << path << " " << body.dump() << " -> " << r->body;
    return json::parse(r->body, nullptr, false);
  }
  // Posts and expects TEI's error body with `status` and `type`; returns the message.
  static std::string ExpectTeiError(ServerProcess* s, const std::string& path,
                                    const std::string& body, int status, const std::string& type) {
    auto r = s->Http().Post(path, body, "application/json");
    EXPECT_TRUE(r);
    if (!r) return "";
    EXPECT_EQ(r->status, status) << path << " " << body << " -> " << r->body;
    auto j = json::parse(r->body, nullptr, false);
    EXPECT_TRUE(j.is_object() && j["error"].is_string() && j["error_type"].is_string())
        << r->body;
    if (!j.is_object() || !j["error"].is_string()) return "";
    EXPECT_EQ(j["error_type"], type) << r->body;
    return j["error"].get<std::string>();
  }

  static ServerProcess* embed_;
  static ServerProcess* rerank_;
};
ServerProcess* TeiTest::embed_ = nullptr;
ServerProcess* TeiTest::rerank_ = nullptr;

TEST_F(TeiTest, EmbedAnswersTwoDimensionsAndMatchesTheGoldenVectors) {
  auto golden = LoadGolden();
  ASSERT_GE(golden.size(), 2u);
  json one = PostOk(embed_, "/embed", {{"inputs", golden[0].text}});
  ASSERT_TRUE(one.is_array());
  ASSERT_EQ(one.size(), 1u);  // a single string still answers [[...]]
  EXPECT_GE(Cosine(one[0].get<std::vector<float>>(), golden[0].embedding), 0.99999);

  json two = PostOk(embed_, "/embed", {{"inputs", {golden[0].text, golden[1].text}}});
  ASSERT_EQ(two.size(), 2u);
  EXPECT_GE(Cosine(two[1].get<std::vector<float>>(), golden[1].embedding), 0.99999);

  // Token ids: one flat array is one input.
  json ids = PostOk(embed_, "/embed", {{"inputs", golden[0].ids}});
  ASSERT_EQ(ids.size(), 1u);
  EXPECT_GE(Cosine(ids[0].get<std::vector<float>>(), golden[0].embedding), 0.99999);

  json dims = PostOk(embed_, "/embed", {{"inputs", "hello"}, {"dimensions", 8}, {"normalize", true}});
  ASSERT_EQ(dims[0].size(), 8u);
  double norm = 0;
  for (float v : dims[0].get<std::vector<float>>()) norm += v * v;
  EXPECT_NEAR(norm, 1.0, 1e-5);

  json raw = PostOk(embed_, "/embed", {{"inputs", "hello"}, {"normalize", false}});
  norm = 0;
  for (float v : raw[0].get<std::vector<float>>()) norm += v * v;
  EXPECT_GT(std::abs(norm - 1.0), 1e-3);  // bert-tiny-cls's CLS vector is not unit length
}

TEST_F(TeiTest, EmbedTimingHeaders) {
  auto r = embed_->Http().Post("/embed", R"({"inputs":"a b c"})", "application/json");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200);
  for (const char* h : {"x-total-time", "x-tokenization-time", "x-queue-time",
                        "x-inference-time", "x-compute-tokens"}) {
    EXPECT_TRUE(r->has_header(h)) << h;
  }
  EXPECT_EQ(r->get_header_value("x-compute-tokens"), "5");  // [CLS] a b c [SEP]
}

TEST_F(TeiTest, LeftTruncationKeepsTheEnd) {
  // "dog" x 600 then a tail: cut on the left, the model sees [CLS], the last
  // dogs, the tail and [SEP], which the same ids sent as token ids embed to.
  auto ids_of = [](const std::string& text) {
    json t = PostOk(embed_, "/tokenize", {{"input", text}});
    return t["tokens"][0].get<std::vector<int32_t>>();
  };
  const std::vector<int32_t> dog = ids_of("dog"), tail = ids_of("apple banana split");
  ASSERT_EQ(dog.size(), 3u);
  std::string long_text;
  for (int i = 0; i < 600; ++i) long_text += "dog ";
  long_text += "apple banana split";
  std::vector<int32_t> want = {dog[0]};
  const size_t content = tail.size() - 2;
  want.insert(want.end(), 512 - 2 - content, dog[1]);
  want.insert(want.end(), tail.begin() + 1, tail.end());  // the tail and [SEP]
  ASSERT_EQ(want.size(), 512u);
  json left = PostOk(embed_, "/embed", {{"inputs", long_text}, {"truncation_direction", "left"}});
  json ids = PostOk(embed_, "/embed", {{"inputs", want}});
  json right = PostOk(embed_, "/embed", {{"inputs", long_text}});
  ASSERT_EQ(left.size(), 1u);
  EXPECT_GE(Cosine(left[0].get<std::vector<float>>(), ids[0].get<std::vector<float>>()), 0.99999);
  EXPECT_NE(left[0], right[0]);
  ExpectTeiError(embed_, "/embed", R"({"inputs":"a","truncation_direction":"up"})", 422,
                 "validation");
  ExpectTeiError(embed_, "/embed", json{{"inputs", long_text}, {"truncate", false}}.dump(), 422,
                 "validation");
}

TEST_F(TeiTest, SimilarityIsTheCosineOfTheEmbeddings) {
  json sims = PostOk(embed_, "/similarity",
                     {{"inputs", {{"source_sentence", "a cat sat"},
                                  {"sentences", {"a cat sat", "stock markets fell"}}}}});
  ASSERT_TRUE(sims.is_array());
  ASSERT_EQ(sims.size(), 2u);
  EXPECT_NEAR(sims[0].get<double>(), 1.0, 1e-5);
  json e = PostOk(embed_, "/embed", {{"inputs", {"a cat sat", "stock markets fell"}}});
  EXPECT_NEAR(sims[1].get<double>(),
              Cosine(e[0].get<std::vector<float>>(), e[1].get<std::vector<float>>()), 1e-5);
  ExpectTeiError(embed_, "/similarity",
                 R"({"inputs":{"source_sentence":"a","sentences":[]}})", 400, "empty");
  ExpectTeiError(embed_, "/similarity", R"({"inputs":"a"})", 422, "validation");
}

TEST_F(TeiTest, BadInputGetsTeiCodes) {
  ExpectTeiError(embed_, "/embed", "{not json", 422, "validation");
  ExpectTeiError(embed_, "/embed", R"({"inputs":[]})", 400, "empty");
  ExpectTeiError(embed_, "/embed", R"({})", 422, "validation");
  ExpectTeiError(embed_, "/embed", R"({"inputs":[1, "a"]})", 422, "validation");
  ExpectTeiError(embed_, "/embed", R"({"inputs":["a", [1]]})", 422, "validation");
  ExpectTeiError(embed_, "/embed", R"({"inputs":[[101, 99999999]]})", 422, "validation");
  ExpectTeiError(embed_, "/embed", R"({"inputs":"a","dimensions":0})", 422, "validation");
  ExpectTeiError(embed_, "/embed", R"({"inputs":"a","dimensions":100000})", 422, "validation");
  ExpectTeiError(embed_, "/embed", R"({"inputs":"a","prompt_name":"nope"})", 422, "validation");
  ExpectTeiError(embed_, "/embed", R"({"inputs":"a","normalize":"yes"})", 422, "validation");
  // More inputs than --max-client-batch-size 8: 413.
  json nine = {{"inputs", std::vector<std::string>(9, "a")}};
  std::string msg = ExpectTeiError(embed_, "/embed", nine.dump(), 413, "validation");
  EXPECT_NE(msg.find("--max-client-batch-size"), std::string::npos) << msg;
  ExpectTeiError(rerank_, "/rerank",
                 json{{"query", "q"}, {"texts", std::vector<std::string>(9, "a")}}.dump(), 413,
                 "validation");
}

TEST_F(TeiTest, BodyOverTheLimitGets413WithTheRoutesBody) {
  const std::string big = json{{"inputs", std::string(200000, 'a')}}.dump();
  std::string msg = ExpectTeiError(embed_, "/embed", big, 413, "validation");
  EXPECT_NE(msg.find("--max-body-bytes"), std::string::npos) << msg;
  auto r = rerank_->Http().Post("/v1/rerank", big, "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 413);
  EXPECT_TRUE(json::parse(r->body, nullptr, false)["message"].is_string()) << r->body;
  r = embed_->Http().Post("/v1/embeddings", big, "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 413);
  EXPECT_EQ(json::parse(r->body, nullptr, false)["error"]["code"], "payload_too_large") << r->body;
}

TEST_F(TeiTest, ModelsOfTheWrongKindAnswer424) {
  std::string msg = ExpectTeiError(embed_, "/rerank", R"({"query":"q","texts":["a"]})", 424,
                                   "backend");
  EXPECT_NE(msg.find("not a reranker"), std::string::npos) << msg;
  ExpectTeiError(embed_, "/predict", R"({"inputs":"a"})", 424, "backend");
  msg = ExpectTeiError(rerank_, "/embed", R"({"inputs":"a"})", 424, "backend");
  EXPECT_NE(msg.find("classifier"), std::string::npos) << msg;
  ExpectTeiError(rerank_, "/similarity",
                 R"({"inputs":{"source_sentence":"a","sentences":["b"]}})", 424, "backend");
  auto r = rerank_->Http().Post("/v1/embeddings", R"({"input":"a"})", "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400) << r->body;  // OpenAI's route keeps OpenAI's codes
}

TEST_F(TeiTest, EmbedAllAnswersEveryTokensVector) {
  // The fixture pools CLS: token 0's vector, normalized, is /embed's vector.
  const std::vector<std::string> texts = {"hello world", "a b c d e f", "x"};
  json all = PostOk(embed_, "/embed_all", {{"inputs", texts}});
  json pooled = PostOk(embed_, "/embed", {{"inputs", texts}});
  json tokens = PostOk(embed_, "/tokenize", {{"input", texts}});
  ASSERT_TRUE(all.is_array());
  ASSERT_EQ(all.size(), texts.size());
  for (size_t i = 0; i < texts.size(); ++i) {
    ASSERT_EQ(all[i].size(), tokens["tokens"][i].size()) << i;  // specials included
    for (const json& row : all[i]) ASSERT_EQ(row.size(), 32u);
    EXPECT_GE(Cosine(all[i][0].get<std::vector<float>>(), pooled[i].get<std::vector<float>>()),
              0.999999);
    EXPECT_LT(Cosine(all[i][1].get<std::vector<float>>(), pooled[i].get<std::vector<float>>()),
              0.9999);
  }
  // A single string is a batch of one; token ids work as on /embed.
  json one = PostOk(embed_, "/embed_all", {{"inputs", "x"}});
  ASSERT_EQ(one.size(), 1u);
  EXPECT_EQ(one[0], all[2]);
  json ids = PostOk(embed_, "/embed_all", {{"inputs", {tokens["tokens"][2]}}});
  EXPECT_EQ(ids[0].size(), all[2].size());
  // Left truncation keeps 512 tokens, the last of them the text's end.
  std::string long_text;
  for (int i = 0; i < 600; ++i) long_text += "dog ";
  json left = PostOk(embed_, "/embed_all",
                     {{"inputs", long_text + "apple"}, {"truncation_direction", "Left"}});
  ASSERT_EQ(left[0].size(), 512u);
  json right = PostOk(embed_, "/embed_all", {{"inputs", long_text + "apple"}});
  EXPECT_NE(left[0][510], right[0][510]);

  // Limits: inputs per request, then tokens in all (--max-batch-tokens 2048:
  // 5 x 512 tokens).
  json nine = {{"inputs", std::vector<std::string>(9, "a")}};
  ExpectTeiError(embed_, "/embed_all", nine.dump(), 413, "validation");
  json big = {{"inputs", std::vector<std::string>(5, long_text)}};
  std::string msg = ExpectTeiError(embed_, "/embed_all", big.dump(), 413, "validation");
  EXPECT_NE(msg.find("--max-batch-tokens"), std::string::npos) << msg;
  ExpectTeiError(embed_, "/embed_all", R"({"inputs":[]})", 400, "empty");
  ExpectTeiError(embed_, "/embed_all", R"({"inputs":"a","prompt_name":"nope"})", 422,
                 "validation");
  ExpectTeiError(embed_, "/embed_all", R"({"inputs":"a","truncation_direction":"up"})", 422,
                 "validation");
  ExpectTeiError(rerank_, "/embed_all", R"({"inputs":"a"})", 424, "backend");
}

TEST_F(TeiTest, EmbedAllThroughAWorkerProcessIsTheSame) {
  ServerProcess worker({"--replica-mode", "process", "--max-client-batch-size", "8"});
  ASSERT_TRUE(worker.ready());
  const json body = {{"inputs", {"hello world", "a b c d e f"}}};
  json here = PostOk(embed_, "/embed_all", body);
  json there = PostOk(&worker, "/embed_all", body);
  ASSERT_EQ(there.size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    ASSERT_EQ(there[i].size(), here[i].size());
    for (size_t t = 0; t < here[i].size(); ++t) {
      EXPECT_GE(Cosine(there[i][t].get<std::vector<float>>(), here[i][t].get<std::vector<float>>()),
                0.999999);
    }
  }
  EXPECT_EQ(worker.Stop(), 0);
}

TEST_F(TeiTest, RerankLeftTruncationKeepsTheDocumentsTail) {
  // A document of dogs ending in "cats purr", cut on the left: it scores as
  // the pair whose document is that tail exactly.
  auto count = [](const std::string& text) {
    json t = PostOk(rerank_, "/tokenize", {{"input", text}});
    return t["tokens"][0].size();
  };
  ASSERT_EQ(count("dog dog"), 4u);  // one piece per dog
  const std::string query = "what is a cat";
  const size_t room = 512 - 3 - (count(query) - 2) - (count("cats purr") - 2);
  std::string doc, tail;
  for (int i = 0; i < 700; ++i) doc += "dog ";
  for (size_t i = 0; i < room; ++i) tail += "dog ";
  json left = PostOk(rerank_, "/rerank",
                     {{"query", query}, {"texts", {doc + "cats purr"}},
                      {"truncation_direction", "left"}, {"raw_scores", true}});
  json exact = PostOk(rerank_, "/rerank",
                      {{"query", query}, {"texts", {tail + "cats purr"}}, {"raw_scores", true}});
  json right = PostOk(rerank_, "/rerank",
                      {{"query", query}, {"texts", {doc + "cats purr"}}, {"raw_scores", true}});
  EXPECT_NEAR(left[0]["score"].get<double>(), exact[0]["score"].get<double>(), 1e-5);
  EXPECT_GT(std::abs(left[0]["score"].get<double>() - right[0]["score"].get<double>()), 1e-6);
  json pred = PostOk(rerank_, "/predict", {{"inputs", {query, doc + "cats purr"}},
                                           {"truncation_direction", "Left"},
                                           {"raw_scores", true}});
  EXPECT_NEAR(pred[0]["score"].get<double>(), exact[0]["score"].get<double>(), 1e-5);
}

TEST_F(TeiTest, InfoHasTeiFieldsBesideFloes) {
  auto r = embed_->Http().Get("/info");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200);
  json j = json::parse(r->body);
  EXPECT_EQ(j["model_id"], FixtureModel());
  EXPECT_EQ(j["model"], FixtureModel());
  EXPECT_EQ(j["model_type"]["embedding"]["pooling"], "cls");
  EXPECT_EQ(j["architecture"], "bert");
  EXPECT_EQ(j["max_client_batch_size"], 8);
  EXPECT_EQ(j["max_input_length"], 512);
  for (const char* k : {"model_sha", "model_dtype", "max_concurrent_requests", "max_batch_tokens",
                        "tokenization_workers", "version", "dimension", "replicas"}) {
    EXPECT_TRUE(j.contains(k)) << k;
  }
  r = rerank_->Http().Get("/info");
  ASSERT_TRUE(r);
  j = json::parse(r->body);
  EXPECT_EQ(j["model_type"]["reranker"]["id2label"]["0"], "LABEL_0");
  EXPECT_EQ(j["model_type"]["reranker"]["label2id"]["LABEL_0"], 0);
}

TEST_F(TeiTest, RerankIsSortedWithSigmoidScores) {
  json body = {{"query", "what is a cat"},
               {"texts", {"a cat is an animal", "stocks fell", "cats purr", "the sky is blue"}},
               {"return_text", true}};
  json ranks = PostOk(rerank_, "/rerank", body);
  ASSERT_TRUE(ranks.is_array());
  ASSERT_EQ(ranks.size(), 4u);
  body["raw_scores"] = true;
  json raw = PostOk(rerank_, "/rerank", body);
  std::vector<bool> seen(4, false);
  for (size_t i = 0; i < ranks.size(); ++i) {
    const size_t index = ranks[i]["index"].get<size_t>();
    ASSERT_LT(index, 4u);
    seen[index] = true;
    EXPECT_EQ(ranks[i]["text"], body["texts"][index]);
    if (i > 0) {
      EXPECT_GE(ranks[i - 1]["score"].get<double>(), ranks[i]["score"].get<double>());
    }
    // Sigmoid of the raw logit (the raw answer has the same order).
    EXPECT_EQ(raw[i]["index"], index);
    const double logit = raw[i]["score"].get<double>();
    EXPECT_NEAR(ranks[i]["score"].get<double>(), 1.0 / (1.0 + std::exp(-logit)), 1e-6);
  }
  for (bool s : seen) EXPECT_TRUE(s);
  json no_text = PostOk(rerank_, "/rerank", {{"query", "q"}, {"texts", {"a"}}});
  EXPECT_FALSE(no_text[0].contains("text"));

  ExpectTeiError(rerank_, "/rerank", R"({"query":"q","texts":[]})", 400, "empty");
  ExpectTeiError(rerank_, "/rerank", R"({"texts":["a"]})", 422, "validation");
  ExpectTeiError(rerank_, "/rerank", R"({"query":"q","texts":[1]})", 422, "validation");
  ExpectTeiError(rerank_, "/rerank", R"({"query":"q","texts":"a"})", 422, "validation");
}

TEST_F(TeiTest, PredictAnswersLabelsForTextsAndPairs) {
  json single = PostOk(rerank_, "/predict", {{"inputs", "a cat"}});
  ASSERT_TRUE(single.is_array());
  ASSERT_EQ(single.size(), 1u);
  EXPECT_EQ(single[0]["label"], "LABEL_0");
  const double p = single[0]["score"].get<double>();
  EXPECT_GT(p, 0.0);
  EXPECT_LT(p, 1.0);
  // A pair scores as /rerank scores it.
  json pair = PostOk(rerank_, "/predict", {{"inputs", {"what is a cat", "cats purr"}}});
  json rank = PostOk(rerank_, "/rerank", {{"query", "what is a cat"}, {"texts", {"cats purr"}}});
  EXPECT_NEAR(pair[0]["score"].get<double>(), rank[0]["score"].get<double>(), 1e-6);
  json batch = PostOk(rerank_, "/predict", {{"inputs", {{"a"}, {"b"}}}});
  ASSERT_EQ(batch.size(), 2u);
  ASSERT_TRUE(batch[0].is_array());
  ExpectTeiError(rerank_, "/predict", R"({"inputs":["a","b","c"]})", 422, "validation");
  ExpectTeiError(rerank_, "/predict", R"({"inputs":[["a"],["b","c"]]})", 422, "validation");
  ExpectTeiError(rerank_, "/predict", R"({"inputs":[]})", 400, "empty");
  ExpectTeiError(rerank_, "/predict", R"({"inputs":7})", 422, "validation");
}

TEST_F(TeiTest, CohereRerank) {
  json body = {{"model", RerankerModel()},
               {"query", "what is a cat"},
               {"documents", {"a cat is an animal", json{{"text", "stocks fell"}}, "cats purr"}},
               {"top_n", 2},
               {"return_documents", true}};
  for (const char* path : {"/v1/rerank", "/v2/rerank"}) {
    json j = PostOk(rerank_, path, body);
    ASSERT_TRUE(j["results"].is_array()) << j.dump();
    ASSERT_EQ(j["results"].size(), 2u);
    EXPECT_GE(j["results"][0]["relevance_score"].get<double>(),
              j["results"][1]["relevance_score"].get<double>());
    const size_t index = j["results"][0]["index"].get<size_t>();
    const json& doc = body["documents"][index];
    EXPECT_EQ(j["results"][0]["document"]["text"], doc.is_string() ? doc : doc["text"]);
    EXPECT_TRUE(j.contains("id"));
  }
  auto r = rerank_->Http().Post("/v1/rerank", R"({"model":"other","query":"q","documents":["a"]})",
                                "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404) << r->body;
  EXPECT_TRUE(json::parse(r->body)["message"].is_string()) << r->body;
  r = rerank_->Http().Post("/v1/rerank", R"({"query":"q","documents":["a"],"top_n":0})",
                           "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 422) << r->body;
}

TEST_F(TeiTest, TokenizeAndDecode) {
  auto r = embed_->Http().Post("/tokenize", R"({"inputs":"Hello world"})", "application/json");
  ASSERT_TRUE(r);
  if (r->status == 501) GTEST_SKIP() << "TokenizeSpans is not implemented yet: " << r->body;
  ASSERT_EQ(r->status, 200) << r->body;
  json j = json::parse(r->body);
  ASSERT_EQ(j.size(), 1u);
  ASSERT_EQ(j[0].size(), 4u) << j.dump();  // [CLS] hello world [SEP]
  EXPECT_TRUE(j[0][0]["special"].get<bool>());
  EXPECT_TRUE(j[0][0]["start"].is_null());
  EXPECT_EQ(j[0][1]["text"], "Hello");
  EXPECT_EQ(j[0][1]["start"], 0);
  EXPECT_EQ(j[0][1]["stop"], 5);
  json plain = PostOk(embed_, "/tokenize", {{"inputs", {"Hello world"}}, {"add_special_tokens", false}});
  EXPECT_EQ(plain[0].size(), 2u) << plain.dump();
  // floe's own /tokenize form still answers {"tokens"}.
  json own = PostOk(embed_, "/tokenize", {{"input", "Hello world"}});
  EXPECT_TRUE(own.contains("tokens"));

  std::vector<int32_t> ids;
  for (const auto& t : j[0]) ids.push_back(t["id"].get<int32_t>());
  json text = PostOk(embed_, "/decode", {{"ids", ids}});
  ASSERT_EQ(text.size(), 1u);
  EXPECT_EQ(text[0], "hello world");
  json both = PostOk(embed_, "/decode", {{"ids", {ids, ids}}, {"skip_special_tokens", false}});
  ASSERT_EQ(both.size(), 2u);
  EXPECT_NE(both[0].get<std::string>().find("[CLS]"), std::string::npos) << both.dump();
  ExpectTeiError(embed_, "/decode", R"({"ids":[99999999]})", 422, "validation");
  ExpectTeiError(embed_, "/decode", R"({"ids":"a"})", 422, "validation");
}

}  // namespace
}  // namespace floe::test
