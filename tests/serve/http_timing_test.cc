// TEI's timing headers on POST /v1/embeddings (x-total-time,
// x-tokenization-time, x-queue-time, x-inference-time: whole milliseconds),
// from the in-process replica and from worker processes, whose forward time
// travels back over the worker transport.
#include <gtest/gtest.h>

#include <cstdlib>

#include "server_process.h"

namespace floe::test {
namespace {

using json = nlohmann::json;

const char* const kTimingHeaders[] = {"x-total-time", "x-tokenization-time", "x-queue-time",
                                      "x-inference-time"};

// A request that takes the tiny model some milliseconds: 48 inputs of ~500 tokens.
std::string HeavyBody() {
  std::string text;
  for (int i = 0; i < 480; ++i) text += "word" + std::to_string(i % 50) + " ";
  json body = {{"input", std::vector<std::string>(48, text)}};
  return body.dump();
}

// The four headers as milliseconds; fails the test when one is missing or not
// a non-negative integer.
std::map<std::string, long> TimingMs(const httplib::Response& r) {
  std::map<std::string, long> ms;
  for (const char* name : kTimingHeaders) {
    EXPECT_TRUE(r.has_header(name)) << name << " missing";
    const std::string v = r.get_header_value(name);
    char* end = nullptr;
    const long n = std::strtol(v.c_str(), &end, 10);
    EXPECT_TRUE(!v.empty() && *end == '\0' && n >= 0) << name << ": '" << v << "'";
    ms[name] = n;
  }
  return ms;
}

void ExpectTimingHeaders(const ServerProcess& server) {
  auto c = server.Http();
  auto small = c.Post("/v1/embeddings", R"({"input": "hello"})", "application/json");
  ASSERT_TRUE(small);
  ASSERT_EQ(small->status, 200) << small->body;
  auto ms = TimingMs(*small);
  EXPECT_LE(ms["x-tokenization-time"] + ms["x-queue-time"] + ms["x-inference-time"],
            ms["x-total-time"] + 3);  // each is truncated on its own

  auto heavy = c.Post("/v1/embeddings", HeavyBody(), "application/json");
  ASSERT_TRUE(heavy);
  ASSERT_EQ(heavy->status, 200) << heavy->body.substr(0, 300);
  ms = TimingMs(*heavy);
  EXPECT_GE(ms["x-inference-time"], 1) << "24k tokens took no forward time";
  EXPECT_LE(ms["x-inference-time"], ms["x-total-time"]);
  EXPECT_LE(ms["x-tokenization-time"] + ms["x-queue-time"] + ms["x-inference-time"],
            ms["x-total-time"] + 3);

  // An error is not timed (as TEI: the headers come with a result).
  auto bad = c.Post("/v1/embeddings", R"({"input": []})", "application/json");
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 400);
  for (const char* name : kTimingHeaders) EXPECT_FALSE(bad->has_header(name)) << name;
}

TEST(HttpTiming, InProcessReplicaSendsTeisTimingHeaders) {
  ServerProcess server;
  ASSERT_TRUE(server.ready());
  ExpectTimingHeaders(server);
  EXPECT_EQ(server.Stop(), 0);
}

TEST(HttpTiming, WorkerProcessesSendTheirForwardTime) {
  ServerProcess server({"--num-replicas", "2", "--replica-mode", "process"});
  ASSERT_TRUE(server.ready());
  ExpectTimingHeaders(server);
  EXPECT_EQ(server.Stop(), 0);
}

}  // namespace
}  // namespace floe::test
