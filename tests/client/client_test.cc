// floe client, floe bench and the Python package against a real `floe serve`.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "client/bench.h"
#include "common/test_util.h"
#include "client/stats.h"
#include "client/transport.h"
#include "serve/server_process.h"

namespace floe {
namespace {

using test::ServerProcess;

const std::string kSourceDir = std::string(FLOE_TEST_DATA) + "/../..";

using Proc = test::CommandResult;
using test::Cosine;

Proc Sh(const std::string& cmd) { return test::RunCommand(cmd); }

std::string Floe(const std::string& args) { return std::string(FLOE_BINARY) + " " + args; }

// The golden case "first plain text" (no prompt, no dimensions).
nlohmann::json PlainGoldenCase() {
  std::ifstream in(test::GoldenFile());
  std::string line;
  while (std::getline(in, line)) {
    auto j = nlohmann::json::parse(line);
    if (!j.contains("prompt_name") && !j.contains("dimensions") && j["ids"].size() > 4 &&
        j["ids"].size() < 40) {
      return j;
    }
  }
  return {};
}

class ClientTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { server_ = new ServerProcess(); }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }
  void SetUp() override { ASSERT_TRUE(server_->ready()) << "floe serve did not start"; }
  static ServerProcess* server_;
};
ServerProcess* ClientTest::server_ = nullptr;

TEST_F(ClientTest, PrintsDimensionAndFirstValues) {
  Proc p = Sh(Floe("client --prompt 'hello world' --port " + std::to_string(server_->grpc_port())));
  ASSERT_EQ(p.exit_code, 0) << p.err;
  EXPECT_NE(p.out.find("embedding 0: dimension 32, ["), std::string::npos) << p.out;
}

TEST_F(ClientTest, JsonOutputMatchesGoldenOverBothProtocols) {
  nlohmann::json g = PlainGoldenCase();
  ASSERT_FALSE(g.is_null());
  std::string text = g["text"].get<std::string>();
  std::string file = "/tmp/floe_client_in_" + std::to_string(getpid()) + ".jsonl";
  std::ofstream(file) << nlohmann::json{{"text", text}}.dump() << "\n";
  for (auto [proto, port] : {std::pair{"grpc", server_->grpc_port()},
                             std::pair{"http", server_->http_port()}}) {
    Proc p = Sh(Floe("client --output json --protocol " + std::string(proto) + " --port " +
                     std::to_string(port) + " --input " + file));
    ASSERT_EQ(p.exit_code, 0) << proto << ": " << p.err;
    auto got = nlohmann::json::parse(p.out)["embedding"].get<std::vector<double>>();
    EXPECT_GE(Cosine(got, g["embedding"].get<std::vector<double>>()), 0.99999) << proto;
  }
  std::remove(file.c_str());
}

TEST_F(ClientTest, InfoShowsTheModel) {
  Proc p = Sh(Floe("client --info --port " + std::to_string(server_->grpc_port())));
  ASSERT_EQ(p.exit_code, 0) << p.err;
  EXPECT_NE(p.out.find("bert-tiny-cls"), std::string::npos) << p.out;
}

TEST(ClientStandaloneTest, DeadServerGivesOneClearLineAndFails) {
  int port = test::FreePort();
  Proc p = Sh(Floe("client --prompt x --timeout 5 --port " + std::to_string(port)));
  EXPECT_NE(p.exit_code, 0);
  EXPECT_NE(p.err.find("127.0.0.1:" + std::to_string(port)), std::string::npos) << p.err;
  EXPECT_EQ(std::count(p.err.begin(), p.err.end(), '\n'), 1) << p.err;
}

TEST(ClientStandaloneTest, HelpSaysThereAreNoSamplingOptions) {
  Proc p = Sh(Floe("client --help"));
  EXPECT_EQ(p.exit_code, 0);
  EXPECT_NE(p.out.find("temperature"), std::string::npos);
}

TEST_F(ClientTest, BenchPrintsJsonRowsPerBatchSize) {
  for (std::string proto : {"grpc", "http"}) {
    int port = proto == "grpc" ? server_->grpc_port() : server_->http_port();
    Proc p = Sh(Floe("bench --json --quiet --warmup 2 --protocol " + proto +
                     " --server 127.0.0.1:" + std::to_string(port) +
                     " --batch-sizes 1,4 --requests 40 --concurrency 8 --prompt-length 20"));
    ASSERT_EQ(p.exit_code, 0) << proto << ": " << p.err;
    std::istringstream rows(p.out);
    std::string line;
    std::vector<int> batches;
    while (std::getline(rows, line)) {
      auto j = nlohmann::json::parse(line);
      batches.push_back(j["batch_size"].get<int>());
      EXPECT_EQ(j["prompt_length"], 20);
      EXPECT_EQ(j["requests"], 40);
      EXPECT_DOUBLE_EQ(j["success_rate"].get<double>(), 1.0);
      EXPECT_NEAR(j["tokens_per_s"].get<double>(),
                  j["embeddings_per_s"].get<double>() * 20, 1e-6 * j["tokens_per_s"].get<double>());
      for (const char* k : {"requests_per_s", "latency_mean_ms", "latency_p50_ms",
                            "latency_p90_ms", "latency_p99_ms"}) {
        EXPECT_GT(j[k].get<double>(), 0) << k;
      }
      EXPECT_LE(j["latency_p50_ms"].get<double>(), j["latency_p99_ms"].get<double>());
    }
    EXPECT_EQ(batches, (std::vector<int>{1, 4})) << proto;
  }
}

TEST_F(ClientTest, BenchSavesTheShapesItSent) {
  // scripts/peer-shapes.sh runs ONNX Runtime on these shapes: one line per
  // measured request, its batch within [1, 8] and lengths within [2, 30]
  // (uniform), and together exactly the tokens the bench counted.
  const std::string path = testing::TempDir() + "/floe_bench_shapes.jsonl";
  std::remove(path.c_str());
  Proc p = Sh(Floe("bench --json --quiet --warmup 1 --server " + server_->grpc_target() +
                   " --batch-sizes 8 --requests 12 --concurrency 3 --prompt-length 30"
                   " --distribution uniform --save-shapes " + path));
  ASSERT_EQ(p.exit_code, 0) << p.err;
  auto row = nlohmann::json::parse(p.out.substr(0, p.out.find('\n')));
  std::ifstream in(path);
  std::string line;
  int requests = 0;
  int64_t tokens = 0, inputs = 0;
  while (std::getline(in, line)) {
    auto j = nlohmann::json::parse(line);
    EXPECT_EQ(j["batch_size"], 8);
    const auto& lengths = j["lengths"];
    ASSERT_GE(lengths.size(), 1u);
    ASSERT_LE(lengths.size(), 8u);
    for (const auto& n : lengths) {
      EXPECT_GE(n.get<int>(), 2);
      EXPECT_LE(n.get<int>(), 30);
      tokens += n.get<int>();
    }
    inputs += static_cast<int64_t>(lengths.size());
    ++requests;
  }
  EXPECT_EQ(requests, 12);
  const double wall = row["requests"].get<double>() / row["requests_per_s"].get<double>();
  EXPECT_NEAR(row["tokens_per_s"].get<double>() * wall, static_cast<double>(tokens), 0.5);
  EXPECT_NEAR(row["embeddings_per_s"].get<double>() * wall, static_cast<double>(inputs), 0.5);
}

TEST_F(ClientTest, BenchSavesTextsOfFixedBatchesAndBoundedLengths) {
  // scripts/peer-real-bench.sh: every request exactly 4 inputs (--fixed-batch-sizes),
  // lengths drawn in [10, 30] (--min-prompt-length), the texts saved for an in-process
  // peer, the route named with --http-path; a wrong route fails with the server's 404.
  const std::string path = testing::TempDir() + "/floe_bench_texts.jsonl";
  std::remove(path.c_str());
  const std::string common = "bench --json --quiet --warmup 1 --protocol http --server 127.0.0.1:" +
                             std::to_string(server_->http_port()) +
                             " --batch-sizes 4 --requests 10 --concurrency 2 --prompt-length 30"
                             " --distribution uniform --fixed-batch-sizes --min-prompt-length 10";
  Proc p = Sh(Floe(common + " --http-path /v1/embeddings --save-texts " + path));
  ASSERT_EQ(p.exit_code, 0) << p.err;
  client::ConnectOptions o;
  o.address = server_->grpc_target();
  auto t = client::Connect(o);
  ASSERT_TRUE(t.ok());
  std::ifstream in(path);
  std::string line;
  int requests = 0;
  std::set<size_t> lengths;
  while (std::getline(in, line)) {
    auto j = nlohmann::json::parse(line);
    EXPECT_EQ(j["batch_size"], 4);
    auto texts = j["texts"].get<std::vector<std::string>>();
    ASSERT_EQ(texts.size(), 4u) << line;
    auto ids = (*t)->Tokenize(texts);
    ASSERT_TRUE(ids.ok()) << ids.status().ToString();
    for (const auto& v : *ids) {
      EXPECT_GE(v.size(), 10u);
      EXPECT_LE(v.size(), 30u);
      lengths.insert(v.size());
    }
    ++requests;
  }
  EXPECT_EQ(requests, 10);
  EXPECT_GT(lengths.size(), 5u) << "lengths do not vary";
  Proc bad = Sh(Floe(common + " --http-path /no-such-route"));
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE(bad.err.find("404"), std::string::npos) << bad.err;
}

TEST_F(ClientTest, BenchPromptsHaveExactlyTheRequestedTokens) {
  client::ConnectOptions o;
  o.address = server_->grpc_target();
  auto t = client::Connect(o);
  ASSERT_TRUE(t.ok());
  std::vector<int> lengths;
  for (int n = 2; n <= 80; ++n) lengths.push_back(n);
  lengths.push_back(512);
  auto book = client::PromptBook::Build(**t, lengths, 7);
  ASSERT_TRUE(book.ok()) << book.status().ToString();
  EXPECT_TRUE(book->exact());
  std::vector<std::string> texts;
  for (int n : lengths) texts.push_back(book->ForLength(n));
  auto ids = (*t)->Tokenize(texts);
  ASSERT_TRUE(ids.ok()) << ids.status().ToString();
  for (size_t i = 0; i < lengths.size(); ++i) {
    EXPECT_EQ(static_cast<int>((*ids)[i].size()), lengths[i]);
  }
}

TEST(BenchFailureTest, FailedRequestsAreCountedAndSummarised) {
  // Requests of 4 inputs are over this server's limit of 3: every one of them
  // fails, and the bench must say so rather than drop them from the figures.
  ServerProcess server({"--max-client-batch-size", "3"});
  ASSERT_TRUE(server.ready());
  Proc p = Sh(Floe("bench --json --quiet --warmup 0 --server " + server.grpc_target() +
                   " --batch-sizes 1,4 --requests 10 --concurrency 2 --prompt-length 8"));
  EXPECT_EQ(p.exit_code, 3) << p.err;
  std::istringstream rows(p.out);
  std::string l1, l4;
  std::getline(rows, l1);
  std::getline(rows, l4);
  auto ok = nlohmann::json::parse(l1), bad = nlohmann::json::parse(l4);
  EXPECT_DOUBLE_EQ(ok["success_rate"].get<double>(), 1.0);
  EXPECT_DOUBLE_EQ(bad["success_rate"].get<double>(), 0.0);
  EXPECT_EQ(bad["succeeded"], 0);
  ASSERT_EQ(bad["errors"].size(), 1u) << l4;
  EXPECT_EQ(bad["errors"].begin().value(), 10);
  EXPECT_NE(bad["errors"].begin().key().find("3"), std::string::npos) << l4;
}

TEST_F(ClientTest, PythonPackageEmbedsAndMatchesGolden) {
  if (std::system("/usr/bin/python3 -c 'import grpc, numpy' >/dev/null 2>&1") != 0) {
    GTEST_SKIP() << "python3-grpcio / python3-numpy missing (scripts/install-deps.sh installs them)";
  }
  std::string gen = "/tmp/floe_pyclient_" + std::to_string(getpid());
  Proc g = Sh(kSourceDir + "/scripts/gen-python-proto.sh " + gen);
  ASSERT_EQ(g.exit_code, 0) << g.err;
  std::string env = "FLOE_PROTO_PY=" + gen + " PYTHONPATH=" + kSourceDir + "/clients/python ";
  Proc ex = Sh(env + "/usr/bin/python3 " + kSourceDir + "/clients/python/example.py --address " +
               server_->grpc_target());
  ASSERT_EQ(ex.exit_code, 0) << ex.err;
  EXPECT_NE(ex.out.find("dimension 32"), std::string::npos) << ex.out;
  nlohmann::json c = PlainGoldenCase();
  std::string script = "import json,sys; from floe_client import Client; "
                       "v = Client(sys.argv[1]).embed([sys.argv[2]]); "
                       "print(json.dumps([float(x) for x in v[0]]))";
  std::string arg_file = gen + "/text.txt";
  std::ofstream(arg_file) << c["text"].get<std::string>();
  Proc e = Sh(env + "/usr/bin/python3 -c \"" + script + "\" " + server_->grpc_target() +
              " \"$(cat " + arg_file + ")\"");
  ASSERT_EQ(e.exit_code, 0) << e.err;
  auto got = nlohmann::json::parse(e.out).get<std::vector<double>>();
  EXPECT_GE(Cosine(got, c["embedding"].get<std::vector<double>>()), 0.99999);
  std::filesystem::remove_all(gen);
}

TEST_F(ClientTest, OpenAiStyleRequestOverHttp) {
  // What openai.embeddings.create sends by default: base64 floats.
  nlohmann::json c = PlainGoldenCase();
  ASSERT_TRUE(c.contains("text"));
  auto http = server_->Http();
  nlohmann::json body;
  body["model"] = test::FixtureModel();
  body["input"] = std::vector<std::string>{c.at("text").get<std::string>()};
  body["encoding_format"] = "base64";
  auto r = http.Post("/v1/embeddings", body.dump(), "application/json");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body << " for " << body.dump();
  auto j = nlohmann::json::parse(r->body);
  EXPECT_EQ(j["object"], "list");
  ASSERT_EQ(j["data"].size(), 1u);
  EXPECT_TRUE(j["data"][0]["embedding"].is_string());
  EXPECT_GT(j["usage"]["prompt_tokens"].get<int>(), 0);
}

TEST(BenchStatsTest, PercentilesInterpolate) {
  std::vector<double> v = {4, 1, 3, 2, 5};
  EXPECT_DOUBLE_EQ(client::Percentile(v, 50), 3);
  EXPECT_DOUBLE_EQ(client::Percentile(v, 0), 1);
  EXPECT_DOUBLE_EQ(client::Percentile(v, 100), 5);
  EXPECT_DOUBLE_EQ(client::Percentile(v, 90), 4.6);
}

TEST(BenchStatsTest, DistributionsStayInRange) {
  for (std::string d : {"fixed", "uniform", "normal"}) {
    auto v = client::DrawValues(512, 2, 5000, d, 1);
    for (int x : v) {
      ASSERT_GE(x, 2) << d;
      ASSERT_LE(x, 512) << d;
    }
    if (d == "fixed") {
      EXPECT_EQ(*std::min_element(v.begin(), v.end()), 512);
    }
    if (d != "fixed") {
      EXPECT_LT(*std::min_element(v.begin(), v.end()), 100) << d;
    }
  }
}

}  // namespace
}  // namespace floe
