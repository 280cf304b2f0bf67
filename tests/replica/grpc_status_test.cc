// The one StatusCode <-> gRPC table (core/grpc_status.h), as the worker
// transport uses it: every floe code survives the trip, and codes floe has no
// name for come back INTERNAL.
#include <gtest/gtest.h>

#include "core/grpc_status.h"
#include "replica/worker_codec.h"

namespace floe {
namespace {

TEST(GrpcStatus, EveryCodeSurvivesTheWorkerTransport) {
  for (int c = 0; c <= static_cast<int>(StatusCode::kUnauthenticated); ++c) {
    const auto code = static_cast<StatusCode>(c);
    EXPECT_NE(ToGrpcCode(code), grpc::StatusCode::UNKNOWN) << StatusCodeName(code);
    EXPECT_EQ(FromGrpcCode(ToGrpcCode(code)), code) << StatusCodeName(code);
    if (code == StatusCode::kOk) continue;
    const Status sent(code, "why");
    const grpc::Status wire = worker::ToGrpc(sent);
    EXPECT_EQ(wire.error_code(), ToGrpcCode(code));
    const Status back = worker::FromGrpc(wire);
    EXPECT_EQ(back.code(), code);
    EXPECT_EQ(back.message(), "why");
  }
  EXPECT_TRUE(worker::ToGrpc(OkStatus()).ok());
  EXPECT_TRUE(worker::FromGrpc(grpc::Status::OK).ok());
  for (auto g : {grpc::StatusCode::UNKNOWN, grpc::StatusCode::ABORTED,
                 grpc::StatusCode::PERMISSION_DENIED}) {
    EXPECT_EQ(worker::FromGrpc(grpc::Status(g, "x")).code(), StatusCode::kInternal);
  }
}

}  // namespace
}  // namespace floe
