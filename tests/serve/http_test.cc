// The real `floe serve` over HTTP with a real client: OpenAI's /v1/embeddings,
// the other routes, every bad input of issue 3, limits, auth and SIGTERM.
#include <gtest/gtest.h>

#include <atomic>
#include <cstring>

#include "server_process.h"
#include "serve/codec.h"

namespace floe::test {
namespace {

using json = nlohmann::json;

class HttpTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    server_ = new ServerProcess({"--max-client-batch-size", "64", "--max-body-bytes", "1000000"});
    ASSERT_TRUE(server_->ready()) << "floe serve did not become healthy";
  }
  static void TearDownTestSuite() {
    EXPECT_EQ(server_->Stop(), 0);
    delete server_;
    server_ = nullptr;
  }
  void TearDown() override {
    // Whatever a test sent, the server is still up and healthy.
    auto c = server_->Http();
    auto r = c.Get("/health");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
  }

  static httplib::Result Post(const std::string& path, const std::string& body) {
    auto c = server_->Http();
    return c.Post(path, body, "application/json");
  }
  // Posts and expects an OpenAI error body with `status`; returns its message.
  static std::string ExpectError(const std::string& body, int status) {
    auto r = Post("/v1/embeddings", body);
    EXPECT_TRUE(r);
    if (!r) return "";
    EXPECT_EQ(r->status, status) << body << " -> " << r->body;
    auto j = json::parse(r->body, nullptr, false);
    EXPECT_TRUE(j.is_object() && j.contains("error")) << r->body;
    if (!j.is_object() || !j.contains("error")) return "";
    EXPECT_TRUE(j["error"]["message"].is_string());
    EXPECT_TRUE(j["error"]["type"].is_string());
    EXPECT_TRUE(j["error"].contains("code"));
    return j["error"]["message"].get<std::string>();
  }

  static ServerProcess* server_;
};
ServerProcess* HttpTest::server_ = nullptr;

TEST_F(HttpTest, EmbeddingsMatchGoldenFile) {
  auto golden = LoadGolden();
  ASSERT_FALSE(golden.empty());
  json req;
  req["input"] = json::array();
  for (const auto& g : golden) req["input"].push_back(g.text);
  req["model"] = FixtureModel();
  auto r = Post("/v1/embeddings", req.dump());
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  auto j = json::parse(r->body);
  EXPECT_EQ(j["object"], "list");
  EXPECT_EQ(j["model"], FixtureModel());
  ASSERT_EQ(j["data"].size(), golden.size());
  size_t tokens = 0;
  for (size_t i = 0; i < golden.size(); ++i) {
    EXPECT_EQ(j["data"][i]["index"], i);
    EXPECT_EQ(j["data"][i]["object"], "embedding");
    auto v = j["data"][i]["embedding"].get<std::vector<float>>();
    EXPECT_GE(Cosine(v, golden[i].embedding), 0.99999) << golden[i].text;
    tokens += golden[i].ids.size();
  }
  EXPECT_EQ(j["usage"]["prompt_tokens"], tokens);
  EXPECT_EQ(j["usage"]["total_tokens"], tokens);
}

TEST_F(HttpTest, GoldenRowsWithPromptNameAndDimensions) {
  int checked = 0;
  for (const auto& g : LoadGolden(/*plain_only=*/false)) {
    if (g.plain()) continue;
    json req = {{"input", g.text}};
    if (!g.prompt_name.empty()) req["prompt_name"] = g.prompt_name;
    if (g.dimensions) req["dimensions"] = g.dimensions;
    auto r = Post("/v1/embeddings", req.dump());
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200) << r->body;
    auto j = json::parse(r->body);
    EXPECT_GE(Cosine(j["data"][0]["embedding"].get<std::vector<float>>(), g.embedding), 0.99999)
        << g.text;
    EXPECT_EQ(j["usage"]["prompt_tokens"], g.ids.size());
    ++checked;
  }
  EXPECT_GT(checked, 0);
}

TEST_F(HttpTest, SameVectorAloneAndInABatch) {
  auto golden = LoadGolden();
  auto r = Post("/v1/embeddings", json{{"input", golden[3].text}}.dump());
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200);
  auto v = json::parse(r->body)["data"][0]["embedding"].get<std::vector<float>>();
  EXPECT_GE(Cosine(v, golden[3].embedding), 0.99999);
}

TEST_F(HttpTest, TokenIdInputsMatchText) {
  auto golden = LoadGolden();
  json ids = json::array();
  for (int i = 0; i < 3; ++i) ids.push_back(golden[i].ids);
  auto r = Post("/v1/embeddings", json{{"input", ids}}.dump());
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  auto j = json::parse(r->body);
  for (int i = 0; i < 3; ++i) {
    EXPECT_GE(Cosine(j["data"][i]["embedding"].get<std::vector<float>>(), golden[i].embedding),
              0.99999);
  }
  // A single flat array of ints is one tokenized input.
  r = Post("/v1/embeddings", json{{"input", golden[1].ids}}.dump());
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(json::parse(r->body)["data"].size(), 1u);
}

TEST_F(HttpTest, Base64IsLittleEndianFloat32) {
  auto golden = LoadGolden();
  auto r = Post("/v1/embeddings",
                json{{"input", golden[0].text}, {"encoding_format", "base64"}}.dump());
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200);
  auto b64 = json::parse(r->body)["data"][0]["embedding"].get<std::string>();
  // Decode.
  std::string raw;
  int val = 0, bits = -8;
  for (unsigned char c : b64) {
    int d;
    if (c >= 'A' && c <= 'Z') d = c - 'A';
    else if (c >= 'a' && c <= 'z') d = c - 'a' + 26;
    else if (c >= '0' && c <= '9') d = c - '0' + 52;
    else if (c == '+') d = 62;
    else if (c == '/') d = 63;
    else break;
    val = (val << 6) + d;
    bits += 6;
    if (bits >= 0) {
      raw.push_back(char((val >> bits) & 0xff));
      bits -= 8;
    }
  }
  ASSERT_EQ(raw.size(), golden[0].embedding.size() * 4);
  std::vector<float> v(raw.size() / 4);
  std::memcpy(v.data(), raw.data(), raw.size());
  EXPECT_GE(Cosine(v, golden[0].embedding), 0.99999);
}

TEST_F(HttpTest, DimensionsKeepsPrefixThenNormalizes) {
  auto r = Post("/v1/embeddings", json{{"input", "hello world"}, {"dimensions", 8}}.dump());
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  auto v = json::parse(r->body)["data"][0]["embedding"].get<std::vector<float>>();
  ASSERT_EQ(v.size(), 8u);
  double n = 0;
  for (float x : v) n += double(x) * x;
  EXPECT_NEAR(n, 1.0, 1e-5);
  auto full = Post("/v1/embeddings", json{{"input", "hello world"}, {"normalize", false}}.dump());
  ASSERT_TRUE(full);
  auto f = json::parse(full->body)["data"][0]["embedding"].get<std::vector<float>>();
  EXPECT_GE(Cosine(std::vector<float>(f.begin(), f.begin() + 8), v), 0.99999);
}

TEST_F(HttpTest, EmptyStringIsClsSep) {
  auto r = Post("/v1/embeddings", json{{"input", ""}}.dump());
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(json::parse(r->body)["usage"]["prompt_tokens"], 2);
}

TEST_F(HttpTest, PromptNameChangesTheVector) {
  auto a = Post("/v1/embeddings", json{{"input", "cats"}}.dump());
  auto b = Post("/v1/embeddings", json{{"input", "cats"}, {"prompt_name", "query"}}.dump());
  ASSERT_TRUE(a && b);
  ASSERT_EQ(b->status, 200) << b->body;
  EXPECT_GT(json::parse(b->body)["usage"]["prompt_tokens"].get<int>(),
            json::parse(a->body)["usage"]["prompt_tokens"].get<int>());
}

TEST_F(HttpTest, BadInputsGetClearErrors) {
  EXPECT_NE(ExpectError("this is not json", 400).find("JSON"), std::string::npos);
  EXPECT_NE(ExpectError("[1,2]", 400).find("object"), std::string::npos);
  EXPECT_NE(ExpectError(R"({"input": 5})", 400).find("input"), std::string::npos);
  EXPECT_NE(ExpectError(R"({"input": ["a", 5]})", 400).find("input[1]"), std::string::npos);
  EXPECT_NE(ExpectError(R"({"input": "a", "dimensions": "8"})", 400).find("dimensions"),
            std::string::npos);
  EXPECT_NE(ExpectError(R"({"input": "a", "normalize": "yes"})", 400).find("normalize"),
            std::string::npos);
  EXPECT_NE(ExpectError(R"({})", 400).find("input"), std::string::npos);
  EXPECT_NE(ExpectError(R"({"input": []})", 400).find("empty"), std::string::npos);
  json many = json::array();
  for (int i = 0; i < 65; ++i) many.push_back("x");
  EXPECT_NE(ExpectError(json{{"input", many}}.dump(), 400).find("--max-client-batch-size"),
            std::string::npos);
  std::string long_text;
  for (int i = 0; i < 600; ++i) long_text += "word ";
  EXPECT_NE(ExpectError(json{{"input", long_text}, {"truncate", false}}.dump(), 400).find("512"),
            std::string::npos);
  EXPECT_NE(ExpectError(R"({"input": "a", "encoding_format": "int8"})", 400).find("encoding_format"),
            std::string::npos);
  EXPECT_NE(ExpectError(R"({"input": "a", "dimensions": 0})", 400).find("dimensions"),
            std::string::npos);
  EXPECT_NE(ExpectError(R"({"input": "a", "dimensions": -3})", 400).find("dimensions"),
            std::string::npos);
  EXPECT_NE(ExpectError(R"({"input": "a", "dimensions": 33})", 400).find("32"),
            std::string::npos);
  EXPECT_NE(ExpectError(R"({"input": "a", "prompt_name": "nope"})", 400).find("nope"),
            std::string::npos);
  EXPECT_NE(ExpectError(R"({"input": "a", "model": "other-model"})", 404).find("other-model"),
            std::string::npos);
  EXPECT_NE(ExpectError(R"({"input": [[101, 30522, 102]]})", 400).find("30522"),
            std::string::npos);
  EXPECT_NE(ExpectError(R"({"input": [[101, -1, 102]]})", 400).find("-1"), std::string::npos);
  EXPECT_NE(ExpectError(R"({"input": [[]]})", 400).find("no token ids"), std::string::npos);
  // Body over --max-body-bytes (1 MB here).
  std::string big = R"({"input": ")" + std::string(1100000, 'a') + R"("})";
  EXPECT_NE(ExpectError(big, 413).find("--max-body-bytes"), std::string::npos);
  // Invalid UTF-8 inside a JSON string is not valid JSON.
  ExpectError(std::string("{\"input\": \"\xff\xfe\"}"), 400);
}

TEST_F(HttpTest, TruncateTrueCutsLongInput) {
  std::string long_text;
  for (int i = 0; i < 600; ++i) long_text += "word ";
  auto r = Post("/v1/embeddings", json{{"input", long_text}}.dump());
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(json::parse(r->body)["usage"]["prompt_tokens"], 512);
}

TEST_F(HttpTest, OtherRoutes) {
  auto c = server_->Http();
  // One embedding first: ctest runs each test alone, and the request counter
  // for /v1/embeddings 200 only exists once such a request was served.
  auto emb = c.Post("/v1/embeddings", R"({"input": "warm"})", "application/json");
  ASSERT_TRUE(emb);
  ASSERT_EQ(emb->status, 200) << emb->body;
  auto info = c.Get("/info");
  ASSERT_TRUE(info);
  ASSERT_EQ(info->status, 200);
  auto j = json::parse(info->body);
  EXPECT_EQ(j["model"], FixtureModel());
  EXPECT_EQ(j["dimension"], 32);
  EXPECT_EQ(j["max_tokens"], 512);
  EXPECT_EQ(j["replicas"].size(), 1u);
  auto tok = c.Post("/tokenize", R"({"input": "Chilling now"})", "application/json");
  ASSERT_TRUE(tok);
  ASSERT_EQ(tok->status, 200) << tok->body;
  EXPECT_EQ(json::parse(tok->body)["tokens"][0], (std::vector<int>{101, 27017, 2085, 102}));
  auto metrics = c.Get("/metrics");
  ASSERT_TRUE(metrics);
  ASSERT_EQ(metrics->status, 200);
  for (const char* name :
       {"floe_requests_total{route=\"/v1/embeddings\",code=\"200\"}", "floe_input_tokens_total",
        "floe_queue_depth", "floe_batch_tokens_bucket", "floe_tokenize_seconds_bucket",
        "floe_queue_wait_seconds_bucket", "floe_forward_seconds_bucket",
        "floe_request_seconds_bucket"}) {
    EXPECT_NE(metrics->body.find(name), std::string::npos) << name;
  }
  auto missing = c.Get("/nope");
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 404);
  EXPECT_TRUE(json::parse(missing->body).contains("error"));
}

TEST_F(HttpTest, ManyConnectionsOpenedAndDropped) {
  // Raw sockets: connect, maybe send half a request, close.
  for (int i = 0; i < 2000; ++i) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(server_->http_port());
    if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0 && i % 2) {
      const char* partial = "POST /v1/embeddings HTTP/1.1\r\nContent-Length: 100\r\n\r\n{\"in";
      (void)!write(fd, partial, std::strlen(partial));
    }
    close(fd);
  }
  auto r = Post("/v1/embeddings", json{{"input", "still here"}}.dump());
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
}

TEST_F(HttpTest, ConcurrentClientsAllSucceed) {
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 16; ++t) {
    threads.emplace_back([&, t] {
      auto c = server_->Http();
      for (int i = 0; i < 20; ++i) {
        auto r = c.Post("/v1/embeddings",
                        json{{"input", {"text " + std::to_string(t), "more " + std::to_string(i)}}}.dump(),
                        "application/json");
        if (r && r->status == 200) ok++;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(ok.load(), 16 * 20);
}

TEST(HttpLimits, ApiKeyRequiredExceptHealth) {
  ServerProcess server({"--api-key", "s3cret"});
  ASSERT_TRUE(server.ready());
  auto c = server.Http();
  auto r = c.Post("/v1/embeddings", R"({"input": "a"})", "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 401);
  EXPECT_TRUE(json::parse(r->body).contains("error"));
  httplib::Headers wrong = {{"Authorization", "Bearer nope"}};
  r = c.Post("/v1/embeddings", wrong, R"({"input": "a"})", "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 401);
  httplib::Headers right = {{"Authorization", "Bearer s3cret"}};
  r = c.Post("/v1/embeddings", right, R"({"input": "a"})", "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  r = c.Get("/health");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(server.Stop(), 0);
}

TEST(HttpLimits, OverMaxConcurrentRequestsIs429AtOnce) {
  ServerProcess server({"--max-concurrent-requests", "1"});
  ASSERT_TRUE(server.ready());
  std::string text;
  for (int i = 0; i < 100; ++i) text += "lorem ipsum ";
  json big = json::array();
  for (int i = 0; i < 1024; ++i) big.push_back(text + std::to_string(i));
  const std::string body = json{{"input", big}}.dump();
  std::atomic<int> ok{0}, limited{0}, other{0};
  std::atomic<double> worst_429_s{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 6; ++t) {
    threads.emplace_back([&] {
      auto c = server.Http();
      for (int i = 0; i < 3; ++i) {
        auto t0 = std::chrono::steady_clock::now();
        auto r = c.Post("/v1/embeddings", body, "application/json");
        double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        if (r && r->status == 200) {
          ok++;
        } else if (r && r->status == 429) {
          limited++;
          EXPECT_NE(r->body.find("--max-concurrent-requests"), std::string::npos);
          if (s > worst_429_s) worst_429_s = s;
        } else {
          other++;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_GT(ok.load(), 0);
  EXPECT_GT(limited.load(), 0);
  EXPECT_EQ(other.load(), 0);
  EXPECT_LT(worst_429_s.load(), 0.5);  // refused at once, not queued
  EXPECT_EQ(server.Stop(), 0);
}

TEST(HttpLimits, MaxInputTokensTruncatesOrRefuses) {
  ServerProcess server({"--max-input-tokens", "16"});
  ASSERT_TRUE(server.ready());
  auto c = server.Http();
  std::string text;
  for (int i = 0; i < 40; ++i) text += "word ";
  auto r = c.Post("/v1/embeddings", json{{"input", text}}.dump(), "application/json");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200);
  EXPECT_EQ(json::parse(r->body)["usage"]["prompt_tokens"], 16);
  r = c.Post("/v1/embeddings", json{{"input", text}, {"truncate", false}}.dump(),
             "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_NE(r->body.find("--max-input-tokens"), std::string::npos) << r->body;
  EXPECT_EQ(server.Stop(), 0);
}

TEST(HttpLimits, ServedModelNameOverridesModel) {
  ServerProcess server({"--served-model-name", "tiny"});
  ASSERT_TRUE(server.ready());
  auto c = server.Http();
  auto r = c.Post("/v1/embeddings", R"({"input": "a", "model": "tiny"})", "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(json::parse(r->body)["model"], "tiny");
  r = c.Post("/v1/embeddings", json{{"input", "a"}, {"model", FixtureModel()}}.dump(),
             "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404);
  EXPECT_EQ(server.Stop(), 0);
}

TEST(HttpLimits, SigtermFinishesInFlightThenExitsZero) {
  ServerProcess server;
  ASSERT_TRUE(server.ready());
  std::string text;
  for (int i = 0; i < 100; ++i) text += "lorem ipsum ";
  json big = json::array();
  for (int i = 0; i < 1024; ++i) big.push_back(text);
  const std::string body = json{{"input", big}}.dump();
  int status = 0;
  std::thread client([&] {
    auto c = server.Http();
    auto r = c.Post("/v1/embeddings", body, "application/json");
    status = r ? r->status : -1;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(150));
  EXPECT_EQ(server.Stop(), 0);
  client.join();
  EXPECT_EQ(status, 200);  // the in-flight request was finished, not dropped
}

TEST(Codec, HalfAndBFloat16RoundTrip) {
  for (float f : {0.0f, 1.0f, -2.5f, 0.333333f, 65504.0f, 1e-6f}) {
    EXPECT_NEAR(HalfToFloat(FloatToHalf(f)), f, std::abs(f) * 1e-3 + 1e-7) << f;
  }
  EXPECT_EQ(FloatToBFloat16(1.0f), 0x3f80);
  EXPECT_EQ(FloatToHalf(1.0f), 0x3c00);
  std::string out;
  AppendBase64("hello", &out);
  EXPECT_EQ(out, "aGVsbG8=");
}

}  // namespace
}  // namespace floe::test
