// The HTTP transport on raw sockets against the real `floe serve`: a client
// that disconnects has its queued work dropped; pipelining and keep-alive;
// bodies over the limit; malformed and slow requests.
#include <gtest/gtest.h>

#include <chrono>
#include <memory>

#include "raw_http.h"
#include "server_process.h"

namespace floe::test {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;

double Seconds(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

// The value of the metric line `name` (with its labels) in /metrics; 0 when absent.
double Metric(const ServerProcess& server, const std::string& name) {
  auto r = server.Http().Get("/metrics");
  if (!r || r->status != 200) return -1;
  const std::string key = "\n" + name + " ";
  auto p = r->body.find(key);
  return p == std::string::npos ? 0 : std::atof(r->body.c_str() + p + key.size());
}

json ReplicaInfo(const ServerProcess& server) {
  auto r = server.Http().Get("/info");
  if (!r || r->status != 200) return json::object();
  return json::parse(r->body)["replicas"][0];
}

TEST(HttpDisconnect, QueuedWorkOfAClientThatLeftIsDropped) {
  ServerProcess server({"--max-batch-tokens", "256"});
  ASSERT_TRUE(server.ready());
  // 512 inputs of 250 token ids: a pass of 256 tokens each, 512 a request.
  const std::vector<std::vector<int>> inputs(512, std::vector<int>(250, 2000));
  const std::string body = json{{"input", inputs}}.dump();
  constexpr int kClients = 4;
  std::vector<std::unique_ptr<RawConn>> conns;
  for (int i = 0; i < kClients; ++i) {
    conns.push_back(std::make_unique<RawConn>(server.http_port()));
    ASSERT_TRUE(conns.back()->connected());
    ASSERT_TRUE(conns.back()->Send(EmbeddingsRequest(body)));
  }
  // Wait until the work is queued on the replica, then every client leaves.
  auto t0 = std::chrono::steady_clock::now();
  while (ReplicaInfo(server).value("queued_tokens", 0) == 0 && Seconds(t0) < 30) {
    std::this_thread::sleep_for(10ms);
  }
  ASSERT_GT(ReplicaInfo(server).value("queued_tokens", 0), 0);
  t0 = std::chrono::steady_clock::now();
  for (auto& c : conns) c->Close();
  const std::string cancelled =
      "floe_requests_total{route=\"/v1/embeddings\",code=\"499\"}";
  while (Metric(server, cancelled) < kClients && Seconds(t0) < 60) {
    std::this_thread::sleep_for(10ms);
  }
  const double drop_s = Seconds(t0);
  EXPECT_EQ(Metric(server, cancelled), kClients);
  // Nothing left queued, no vector computed for them, the engine idle.
  json rep = ReplicaInfo(server);
  EXPECT_EQ(rep.value("queued_jobs", -1), 0) << rep.dump();
  EXPECT_EQ(rep.value("queued_tokens", -1), 0) << rep.dump();
  EXPECT_EQ(Metric(server, "floe_embeddings_total"), 0);
  // A forward pass that was running when the clients left still ends (late on a
  // loaded machine): wait for the count to settle, then it must stay put.
  double batches = Metric(server, "floe_batches_total");
  for (auto t1 = std::chrono::steady_clock::now(); Seconds(t1) < 10;) {
    std::this_thread::sleep_for(300ms);
    const double now = Metric(server, "floe_batches_total");
    if (now == batches) break;
    batches = now;
  }
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(Metric(server, "floe_batches_total"), batches);
  // What one of those requests costs when its client stays: far more.
  t0 = std::chrono::steady_clock::now();
  auto r = server.Http().Post("/v1/embeddings", body, "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  const double full_s = Seconds(t0);
  std::printf("dropped %d requests in %.3f s; one served in full: %.3f s, %.0f batches\n",
              kClients, drop_s, full_s, Metric(server, "floe_batches_total") - batches);
  EXPECT_LT(drop_s, full_s) << "dropping " << kClients << " requests took " << drop_s
                            << " s; serving one takes " << full_s << " s";
  EXPECT_EQ(server.Stop(), 0);
}

class HttpConnTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    server_ = new ServerProcess({"--max-body-bytes", "1000000"});  // keep-alive: 1 s
    ASSERT_TRUE(server_->ready()) << "floe serve did not become healthy";
  }
  static void TearDownTestSuite() {
    EXPECT_EQ(server_->Stop(), 0);
    delete server_;
    server_ = nullptr;
  }
  void TearDown() override {
    auto r = server_->Http().Get("/health");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
  }
  static int port() { return server_->http_port(); }

  static ServerProcess* server_;
};
ServerProcess* HttpConnTest::server_ = nullptr;

TEST_F(HttpConnTest, PipelinedRequestsAnsweredInOrderThenKeptAlive) {
  RawConn conn(port());
  ASSERT_TRUE(conn.connected());
  // Four requests in one write; the embedding waits on the replica while the
  // requests after it are already read.
  ASSERT_TRUE(conn.Send("GET /health HTTP/1.1\r\nHost: x\r\n\r\n" +
                        EmbeddingsRequest(R"({"input": ["a", "b"]})") +
                        "GET /v1/models HTTP/1.1\r\nHost: x\r\n\r\n"
                        "GET /nope?x=1 HTTP/1.1\r\nHost: x\r\n\r\n"));
  auto health = conn.Read();
  EXPECT_EQ(health.status, 200);
  EXPECT_NE(health.body.find("ok"), std::string::npos);
  auto emb = conn.Read();
  ASSERT_EQ(emb.status, 200) << emb.body;
  EXPECT_EQ(json::parse(emb.body)["data"].size(), 2u);
  auto models = conn.Read();
  ASSERT_EQ(models.status, 200);
  EXPECT_EQ(json::parse(models.body)["object"], "list");
  auto missing = conn.Read();
  EXPECT_EQ(missing.status, 404);
  EXPECT_NE(missing.body.find("no route GET /nope"), std::string::npos) << missing.body;
  EXPECT_FALSE(missing.has("connection: close"));
  // Kept alive: the same connection serves a request later...
  std::this_thread::sleep_for(200ms);
  ASSERT_TRUE(conn.Send(EmbeddingsRequest(R"({"input": "later"})")));
  EXPECT_EQ(conn.Read().status, 200);
  // ...and is closed cleanly once idle past --http-keep-alive (1 s here).
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(conn.WaitClosed(), 0);
  EXPECT_LT(Seconds(t0), 5);
}

TEST_F(HttpConnTest, ConnectionCloseAndHttp10AreHonoured) {
  RawConn conn(port());
  ASSERT_TRUE(conn.Send(EmbeddingsRequest(R"({"input": "bye"})", /*close=*/true)));
  auto r = conn.Read();
  EXPECT_EQ(r.status, 200);
  EXPECT_TRUE(r.has("connection: close"));
  EXPECT_EQ(conn.WaitClosed(), 0);
  RawConn old(port());
  ASSERT_TRUE(old.Send("GET /health HTTP/1.0\r\n\r\n"));
  EXPECT_EQ(old.Read().status, 200);
  EXPECT_EQ(old.WaitClosed(), 0);
}

TEST_F(HttpConnTest, BodyOverTheLimitIs413ThenACleanClose) {
  const std::string head =
      "POST /v1/embeddings HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
      "Content-Length: 2000000\r\n";
  RawConn conn(port());
  // The whole body goes out: the server reads and drops what is over the limit.
  ASSERT_TRUE(conn.Send(head + "\r\n" + std::string(2000000, ' ')));
  auto r = conn.Read();
  EXPECT_EQ(r.status, 413);
  EXPECT_NE(r.body.find("--max-body-bytes"), std::string::npos) << r.body;
  EXPECT_TRUE(r.has("connection: close"));
  EXPECT_EQ(conn.WaitClosed(), 0);  // FIN after the response, not a reset
  // With Expect: 100-continue the answer comes before any of the body.
  RawConn expect(port());
  ASSERT_TRUE(expect.Send(head + "Expect: 100-continue\r\n\r\n"));
  EXPECT_EQ(expect.Read().status, 413);
  // A chunked body that grows past the limit.
  RawConn chunked(port());
  std::string req =
      "POST /v1/embeddings HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
  for (int i = 0; i < 20; ++i) req += "186a0\r\n" + std::string(100000, ' ') + "\r\n";
  ASSERT_TRUE(chunked.Send(req + "0\r\n\r\n"));
  EXPECT_EQ(chunked.Read().status, 413);
  EXPECT_EQ(chunked.WaitClosed(), 0);
  // The limit counts the body only: one just under it is served.
  std::string under = json{{"input", std::string(900000, 'a')}}.dump();
  RawConn ok(port());
  ASSERT_TRUE(ok.Send(EmbeddingsRequest(under)));
  EXPECT_EQ(ok.Read().status, 200);
}

TEST_F(HttpConnTest, MalformedRequestsGet400) {
  const std::string huge_header =
      "GET /health HTTP/1.1\r\nX-Big: " + std::string(100000, 'x') + "\r\n\r\n";
  for (const std::string& bad :
       {std::string("GARBAGE\r\n\r\n"),
        std::string("GET /health HTTP/1.1\r\nno colon\r\n\r\n"),
        std::string("POST /v1/embeddings HTTP/1.1\r\nContent-Length: abc\r\n\r\n"),
        std::string(
            "GET /health HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"),
        std::string("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n", 17),
        huge_header}) {
    RawConn conn(port());
    ASSERT_TRUE(conn.Send(bad));
    auto r = conn.Read();
    EXPECT_EQ(r.status, 400) << bad.substr(0, 40);
    EXPECT_TRUE(json::parse(r.body, nullptr, false).contains("error")) << r.body;
    EXPECT_EQ(conn.WaitClosed(), 0) << bad.substr(0, 40);
  }
}

TEST_F(HttpConnTest, SlowHeadersAreCutOff) {
  // Slowloris: a header that never ends is cut off after --http-keep-alive
  // (1 s here), not held open.
  RawConn conn(port(), /*timeout_s=*/10);
  const auto t0 = std::chrono::steady_clock::now();
  bool open = conn.Send("GET /health HTTP/1.1\r\n");
  while (open && Seconds(t0) < 8) {
    std::this_thread::sleep_for(100ms);
    open = conn.Send("X-Slow: 1\r\n");
  }
  const int closed = open ? conn.WaitClosed() : 0;
  EXPECT_TRUE(closed == 0 || closed == ECONNRESET) << closed;
  EXPECT_LT(Seconds(t0), 8);
}

}  // namespace
}  // namespace floe::test
