// grpc.health.v1 follows the replicas of a real `floe serve --replica-mode
// process`: SERVING while its worker runs, NOT_SERVING once the worker is
// killed, SERVING again when the manager has started a new one.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <regex>

#include "arctic_inference/inference.grpc.pb.h"
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

// The pid of the first worker, from GetReplicaInfo ("... pid=N ..."); 0 when none.
pid_t WorkerPid(const std::shared_ptr<grpc::Channel>& channel) {
  auto stub = ai::InferenceService::NewStub(channel);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  ai::ReplicaInfoResponse resp;
  if (!stub->GetReplicaInfo(&ctx, ai::ReplicaInfoRequest(), &resp).ok()) return 0;
  if (resp.replica_infos_size() == 0) return 0;
  static const std::regex pid_re("pid=([0-9]+)");
  std::smatch m;
  const std::string config = resp.replica_infos(0).parallel_config();
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

}  // namespace
}  // namespace floe
