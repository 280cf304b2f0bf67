// A real `floe serve --replica-mode process`, as monitoring sees it:
// grpc.health.v1 follows the workers (SERVING while one runs, NOT_SERVING once
// killed, SERVING again after the restart), and /metrics shows the workers'
// forward passes, which count on across a worker's restart.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <regex>
#include <sstream>

#include "arctic_inference/inference.grpc.pb.h"
#include "replica/worker_codec.h"
#include "replica_test_util.h"
#include "serve/grpc_call.h"
#include "serve/server_process.h"

namespace floe {
namespace {

using test::HealthStatus;
using test::WaitFor;
namespace ai = ::arctic_inference;

constexpr int kServing = 1, kNotServing = 2;
const char* const kServices[] = {"", "arctic_inference.InferenceService",
                                 "floe.v1.EmbeddingService"};

// The pid of worker `i`, from GetReplicaInfo ("... pid=N ..."); 0 when none.
pid_t WorkerPid(const std::shared_ptr<grpc::Channel>& channel, int i = 0) {
  auto stub = ai::InferenceService::NewStub(channel);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  ai::ReplicaInfoResponse resp;
  if (!stub->GetReplicaInfo(&ctx, ai::ReplicaInfoRequest(), &resp).ok()) return 0;
  if (resp.replica_infos_size() <= i) return 0;
  static const std::regex pid_re("pid=([0-9]+)");
  std::smatch m;
  const std::string config = resp.replica_infos(i).parallel_config();
  return std::regex_search(config, m, pid_re) ? std::stoi(m[1]) : 0;
}

void ExpectEveryService(const std::shared_ptr<grpc::Channel>& channel, int status) {
  for (const char* name : kServices) {
    std::string error;
    EXPECT_EQ(HealthStatus(channel, name, &error), status)
        << "'" << name << "' " << error;
  }
}

TEST(ServeHealth, GrpcHealthGoesNotServingWhenTheOnlyWorkerDies) {
  test::ServerProcess server({"--num-replicas", "1", "--replica-mode", "process",
                              "--max-restarts", "0", "--health-interval", "0.2"});
  ASSERT_TRUE(server.ready());
  auto channel =
      grpc::CreateChannel(server.grpc_target(), grpc::InsecureChannelCredentials());
  // The watcher may follow the ready replica a period (200 ms) later.
  EXPECT_TRUE(WaitFor([&] { return HealthStatus(channel, "") == kServing; }, 10));
  ExpectEveryService(channel, kServing);
  const pid_t worker = WorkerPid(channel);
  ASSERT_GT(worker, 0);
  ASSERT_EQ(kill(worker, SIGKILL), 0);
  EXPECT_TRUE(WaitFor([&] { return HealthStatus(channel, "") == kNotServing; }, 10));
  ExpectEveryService(channel, kNotServing);
  // --max-restarts 0: it stays down, and so does the health status.
  std::this_thread::sleep_for(std::chrono::seconds(1));
  ExpectEveryService(channel, kNotServing);
  EXPECT_TRUE(server.alive());
  EXPECT_EQ(server.Stop(), 0);
}

TEST(ServeHealth, GrpcHealthComesBackWithTheRestartedWorker) {
  test::ServerProcess server(
      {"--num-replicas", "1", "--replica-mode", "process", "--health-interval", "0.2"});
  ASSERT_TRUE(server.ready());
  auto channel =
      grpc::CreateChannel(server.grpc_target(), grpc::InsecureChannelCredentials());
  // Serve is ready once HTTP's /health is; gRPC health may still show the
  // NOT_SERVING it starts with for one watcher period. Seeing that stale value
  // after the kill, and then a SERVING read just before the kill, passed the
  // waits below with no worker running (1 run in 6).
  ASSERT_TRUE(WaitFor([&] { return HealthStatus(channel, "") == kServing; }, 10));
  const pid_t worker = WorkerPid(channel);
  ASSERT_GT(worker, 0);
  ASSERT_EQ(kill(worker, SIGKILL), 0);
  // The restart waits 0.5 s (back-off) and loads the model: long enough to see.
  EXPECT_TRUE(WaitFor([&] { return HealthStatus(channel, "") == kNotServing; }, 10));
  EXPECT_TRUE(WaitFor([&] { return HealthStatus(channel, "") == kServing; }, 30));
  ExpectEveryService(channel, kServing);
  const pid_t fresh = WorkerPid(channel);
  EXPECT_GT(fresh, 0);
  EXPECT_NE(fresh, worker);
  EXPECT_EQ(server.Stop(), 0);
}

// Encodes `inputs` (token ids) with the arctic protocol; true on success.
bool Encode(const std::shared_ptr<grpc::Channel>& channel,
            const std::vector<std::vector<int32_t>>& inputs) {
  auto stub = ai::InferenceService::NewStub(channel);
  ai::EncodeRequest req;
  req.set_n_prompts(static_cast<int>(inputs.size()));
  for (const auto& ids : inputs) {
    req.add_token_id_bytes_i32(
        std::string(reinterpret_cast<const char*>(ids.data()), ids.size() * 4));
  }
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  ai::EncodeResponse resp;
  return stub->Encode(&ctx, req, &resp).ok() &&
         resp.embedding_bytes_fp32_size() == static_cast<int>(inputs.size());
}

// /metrics as name (with labels) -> value.
std::map<std::string, double> Scrape(const test::ServerProcess& server) {
  std::map<std::string, double> out;
  auto r = server.Http().Get("/metrics");
  if (!r || r->status != 200) return out;
  std::istringstream lines(r->body);
  std::string line;
  while (std::getline(lines, line)) {
    const size_t sp = line.rfind(' ');
    if (line.empty() || line[0] == '#' || sp == std::string::npos) continue;
    out[line.substr(0, sp)] = std::stod(line.substr(sp + 1));
  }
  return out;
}

// Sends `requests` requests of 3 golden inputs each, one at a time (so each
// is one forward pass of its own); returns the tokens sent.
double SendRequests(const std::shared_ptr<grpc::Channel>& channel, int requests,
                    int offset) {
  const auto golden = test::LoadGolden();
  double tokens = 0;
  for (int i = 0; i < requests; ++i) {
    std::vector<std::vector<int32_t>> inputs;
    for (int k = 0; k < 3; ++k) {
      inputs.push_back(golden[(offset + i * 3 + k) % golden.size()].ids);
      tokens += static_cast<double>(inputs.back().size());
    }
    EXPECT_TRUE(Encode(channel, inputs)) << "request " << i;
  }
  return tokens;
}

// The batch metrics agree with each other and with what was sent.
void ExpectBatchMetrics(const std::map<std::string, double>& m, double tokens,
                        double passes) {
  EXPECT_EQ(m.at("floe_batch_tokens_sum"), tokens);
  EXPECT_EQ(m.at("floe_input_tokens_total"), tokens);
  EXPECT_EQ(m.at("floe_batch_tokens_count"), passes);
  EXPECT_EQ(m.at("floe_batches_total"), passes);
  EXPECT_EQ(m.at("floe_batch_tokens_bucket{le=\"+Inf\"}"), passes);
  EXPECT_EQ(m.at("floe_forward_seconds_count"), passes);
  EXPECT_EQ(m.at("floe_forward_seconds_bucket{le=\"+Inf\"}"), passes);
  EXPECT_GT(m.at("floe_forward_seconds_sum"), 0);
  // Golden inputs are short: 3 of them never make more than 128 tokens.
  EXPECT_EQ(m.at("floe_batch_tokens_bucket{le=\"128\"}"), passes);
}

TEST(ServeMetrics, WorkersForwardPassesShowAndCountOnAcrossARestart) {
  test::ServerProcess server(
      {"--num-replicas", "2", "--replica-mode", "process", "--health-interval", "0.2"});
  ASSERT_TRUE(server.ready());
  auto channel =
      grpc::CreateChannel(server.grpc_target(), grpc::InsecureChannelCredentials());
  auto m = Scrape(server);
  ASSERT_TRUE(m.count("floe_batch_tokens_sum"));
  EXPECT_EQ(m["floe_batch_tokens_count"], 0);

  const double tokens = SendRequests(channel, 10, 0);
  // Workers report with their Health answers: within a few probes.
  EXPECT_TRUE(
      WaitFor([&] { return Scrape(server)["floe_batch_tokens_count"] >= 10; }, 10));
  ExpectBatchMetrics(Scrape(server), tokens, 10);

  // A worker dies: its passes stay counted, the restarted one adds to them.
  const pid_t worker = WorkerPid(channel, 0);
  ASSERT_GT(worker, 0);
  ASSERT_EQ(kill(worker, SIGKILL), 0);
  EXPECT_TRUE(WaitFor(
      [&] {
        const pid_t fresh = WorkerPid(channel, 0);
        return fresh > 0 && fresh != worker &&
               Scrape(server)["floe_replicas_healthy"] == 2;
      },
      30));
  ExpectBatchMetrics(Scrape(server), tokens, 10);
  const double more = SendRequests(channel, 6, 5);
  EXPECT_TRUE(
      WaitFor([&] { return Scrape(server)["floe_batch_tokens_count"] >= 16; }, 10));
  ExpectBatchMetrics(Scrape(server), tokens + more, 16);
  EXPECT_EQ(server.Stop(), 0);
}

TEST(ServeMetrics, InProcessReplicaCountsTheSameWay) {
  test::ServerProcess server({"--replica-mode", "inprocess"});
  ASSERT_TRUE(server.ready());
  auto channel =
      grpc::CreateChannel(server.grpc_target(), grpc::InsecureChannelCredentials());
  const double tokens = SendRequests(channel, 4, 0);
  ExpectBatchMetrics(Scrape(server), tokens, 4);  // no probe in between: at once
  EXPECT_EQ(server.Stop(), 0);
}

// What a worker sends is checked against this build's buckets.
TEST(ServeMetrics, BatchStatsRoundTripAndForeignBucketsAreRefused) {
  BatchRecorder rec;
  rec.Observe(100, 0.002);
  rec.Observe(5000, 0.3);
  internal::WorkerBatchStats wire;
  worker::BatchStatsToProto(rec.Snapshot(), &wire);
  auto back = worker::BatchStatsFromProto(wire);
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ(back->tokens.count, 2u);
  EXPECT_EQ(back->tokens.sum, 5100);
  EXPECT_EQ(back->tokens.buckets, rec.Snapshot().tokens.buckets);
  EXPECT_EQ(back->forward_s.count, 2u);
  EXPECT_DOUBLE_EQ(back->forward_s.sum, 0.302);
  EXPECT_TRUE(
      worker::BatchStatsFromProto(internal::WorkerBatchStats()).ok());  // no pass yet
  wire.add_token_buckets(1);  // one bucket too many
  EXPECT_FALSE(worker::BatchStatsFromProto(wire).ok());
}

}  // namespace
}  // namespace floe
