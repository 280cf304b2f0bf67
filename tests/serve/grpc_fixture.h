// The gRPC tests' fixture: one real `floe serve` per test suite (the fixture
// model, --max-client-batch-size 64), healthy after every test.
#pragma once

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include "arctic_inference/inference.grpc.pb.h"
#include "grpc_call.h"
#include "server_process.h"

namespace floe::test {

class GrpcTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    server_ = new ServerProcess({"--max-client-batch-size", "64"});
    ASSERT_TRUE(server_->ready());
    channel_ =
        grpc::CreateChannel(server_->grpc_target(), grpc::InsecureChannelCredentials());
  }
  static void TearDownTestSuite() {
    channel_.reset();
    EXPECT_EQ(server_->Stop(), 0);
    delete server_;
  }
  void TearDown() override {
    auto stub = arctic_inference::InferenceService::NewStub(channel_);
    grpc::ClientContext ctx;
    arctic_inference::HealthCheckRequest req;
    arctic_inference::HealthCheckResponse resp;
    ASSERT_TRUE(stub->HealthCheck(&ctx, req, &resp).ok());
    EXPECT_TRUE(resp.healthy());
  }

  static grpc::Status Encode(const arctic_inference::EncodeRequest& req,
                             arctic_inference::EncodeResponse* resp) {
    auto stub = arctic_inference::InferenceService::NewStub(channel_);
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    return stub->Encode(&ctx, req, resp);
  }

  inline static ServerProcess* server_ = nullptr;
  inline static std::shared_ptr<grpc::Channel> channel_;
};

}  // namespace floe::test
