// The real `floe serve` over gRPC with the C++ generated stubs: both services,
// health, errors as status codes, streaming, auth and limits.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <cstring>

#include "arctic_inference/inference.grpc.pb.h"
#include "floe/v1/embed.grpc.pb.h"
#include "grpc_details.h"
#include "grpc_fixture.h"
#include "serve/codec.h"
#include "server_process.h"

namespace floe::test {
namespace {

namespace ai = arctic_inference;
namespace pb = floe::v1;

std::vector<float> FromBytes(const std::string& b) {
  std::vector<float> v(b.size() / 4);
  std::memcpy(v.data(), b.data(), v.size() * 4);
  return v;
}

std::string ToBytes(const std::vector<int32_t>& ids) {
  return std::string(reinterpret_cast<const char*>(ids.data()), ids.size() * 4);
}


TEST_F(GrpcTest, ArcticEncodeTextsMatchesGolden) {
  auto golden = LoadGolden();
  ai::EncodeRequest req;
  req.set_request_id("golden-1");
  req.set_n_prompts(static_cast<int>(golden.size()));
  for (const auto& g : golden) req.add_prompts(g.text);
  ai::EncodeResponse resp;
  auto s = Encode(req, &resp);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(resp.request_id(), "golden-1");
  EXPECT_EQ(resp.n_prompts(), static_cast<int>(golden.size()));
  EXPECT_EQ(resp.embedding_dim(), 32);
  EXPECT_TRUE(resp.error().empty());
  ASSERT_EQ(resp.embedding_bytes_fp32_size(), static_cast<int>(golden.size()));
  for (size_t i = 0; i < golden.size(); ++i) {
    EXPECT_GE(Cosine(FromBytes(resp.embedding_bytes_fp32(i)), golden[i].embedding), 0.99999);
  }
}

TEST_F(GrpcTest, ArcticEncodeTokenBytesAndModelName) {
  auto golden = LoadGolden();
  ai::EncodeRequest req;
  req.set_request_id("tok");
  req.set_n_prompts(2);
  req.set_model_name(FixtureModel());
  req.add_token_id_bytes_i32(ToBytes(golden[0].ids));
  req.add_token_id_bytes_i32(ToBytes(golden[1].ids));
  ai::EncodeResponse resp;
  ASSERT_TRUE(Encode(req, &resp).ok());
  ASSERT_EQ(resp.embedding_bytes_fp32_size(), 2);
  EXPECT_GE(Cosine(FromBytes(resp.embedding_bytes_fp32(1)), golden[1].embedding), 0.99999);
}

TEST_F(GrpcTest, ArcticBadInputs) {
  auto expect = [](const ai::EncodeRequest& req, grpc::StatusCode code, const std::string& needle) {
    ai::EncodeResponse resp;
    auto s = Encode(req, &resp);
    EXPECT_EQ(s.error_code(), code) << s.error_message();
    EXPECT_NE(s.error_message().find(needle), std::string::npos) << s.error_message();
  };
  ai::EncodeRequest r;
  r.set_n_prompts(2);
  r.add_prompts("only one");
  expect(r, grpc::StatusCode::INVALID_ARGUMENT, "n_prompts");
  r.Clear();
  r.set_n_prompts(1);
  r.add_token_id_bytes_i32(std::string("\x65\x00\x00", 3));
  expect(r, grpc::StatusCode::INVALID_ARGUMENT, "multiple of 4");
  r.Clear();
  r.set_n_prompts(1);
  r.add_token_id_bytes_i32(ToBytes({101, 99999, 102}));
  expect(r, grpc::StatusCode::INVALID_ARGUMENT, "99999");
  r.Clear();
  r.set_n_prompts(1);
  r.add_token_id_bytes_i32(ToBytes({101, -5, 102}));
  expect(r, grpc::StatusCode::INVALID_ARGUMENT, "-5");
  r.Clear();
  r.set_n_prompts(1);
  r.add_prompts("a");
  r.set_model_name("someone-else");
  expect(r, grpc::StatusCode::NOT_FOUND, "someone-else");
  // A huge name is quoted short: the message (and its details) must still
  // fit gRPC's 8 KiB of trailing metadata, so the client sees NOT_FOUND.
  r.set_model_name(std::string(20000, 'm'));
  expect(r, grpc::StatusCode::NOT_FOUND, "(20000 bytes)");
  r.Clear();
  r.set_n_prompts(0);
  expect(r, grpc::StatusCode::INVALID_ARGUMENT, "empty");
  r.Clear();
  r.set_n_prompts(65);
  for (int i = 0; i < 65; ++i) r.add_prompts("x");
  expect(r, grpc::StatusCode::INVALID_ARGUMENT, "--max-client-batch-size");
}

TEST_F(GrpcTest, ArcticPriorityIsAcceptedAndEmptyStringWorks) {
  ai::EncodeRequest req;
  req.set_n_prompts(1);
  req.add_prompts("");
  req.set_priority(5);
  ai::EncodeResponse resp;
  ASSERT_TRUE(Encode(req, &resp).ok());
  EXPECT_EQ(resp.embedding_bytes_fp32_size(), 1);
}

TEST_F(GrpcTest, ArcticReplicaInfoAndAbort) {
  auto stub = ai::InferenceService::NewStub(channel_);
  {
    grpc::ClientContext ctx;
    ai::ReplicaInfoResponse resp;
    ASSERT_TRUE(stub->GetReplicaInfo(&ctx, ai::ReplicaInfoRequest(), &resp).ok());
    EXPECT_EQ(resp.n_replicas(), 1);
    EXPECT_EQ(resp.n_healthy_replicas(), 1);
    ASSERT_EQ(resp.replica_infos_size(), 1);
    EXPECT_EQ(resp.replica_infos(0).model_name(), FixtureModel());
    EXPECT_TRUE(resp.replica_infos(0).ready());
  }
  {
    grpc::ClientContext ctx;
    ai::AbortRequest req;
    req.set_request_id("no-such-request");
    ai::AbortResponse resp;
    ASSERT_TRUE(stub->Abort(&ctx, req, &resp).ok());
    EXPECT_FALSE(resp.success());
  }
}

TEST_F(GrpcTest, AbortCancelsAQueuedRequest) {
  // A long request to keep the engine busy, then a second one aborted while queued.
  std::string text;
  for (int i = 0; i < 100; ++i) text += "lorem ipsum ";
  auto stub = ai::InferenceService::NewStub(channel_);
  ai::EncodeRequest big;
  big.set_request_id("busy");
  big.set_n_prompts(64);
  for (int i = 0; i < 64; ++i) big.add_prompts(text);
  std::vector<std::thread> busy;
  for (int i = 0; i < 4; ++i) {
    busy.emplace_back([&] {
      ai::EncodeResponse r;
      Encode(big, &r);
    });
  }
  ai::EncodeRequest victim = big;
  victim.set_request_id("victim");
  grpc::Status victim_status;
  std::thread t([&] {
    ai::EncodeResponse r;
    victim_status = Encode(victim, &r);
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  grpc::ClientContext ctx;
  ai::AbortRequest req;
  req.set_request_id("victim");
  ai::AbortResponse resp;
  ASSERT_TRUE(stub->Abort(&ctx, req, &resp).ok());
  t.join();
  for (auto& b : busy) b.join();
  if (resp.success()) {
    EXPECT_EQ(victim_status.error_code(), grpc::StatusCode::CANCELLED) << victim_status.error_message();
  } else {
    // It had already finished: nothing to abort.
    EXPECT_TRUE(victim_status.ok());
  }
}

TEST_F(GrpcTest, FloeEmbedDtypesAndDimensions) {
  auto golden = LoadGolden();
  auto stub = pb::EmbeddingService::NewStub(channel_);
  pb::EmbedRequest req;
  for (int i = 0; i < 4; ++i) req.add_texts(golden[i].text);
  for (auto dtype : {pb::FLOAT32, pb::FLOAT16, pb::BFLOAT16}) {
    req.set_output_dtype(dtype);
    grpc::ClientContext ctx;
    pb::EmbedResponse resp;
    auto s = stub->Embed(&ctx, req, &resp);
    ASSERT_TRUE(s.ok()) << s.error_message();
    ASSERT_EQ(resp.n(), 4);
    ASSERT_EQ(resp.dimension(), 32);
    const size_t width = dtype == pb::FLOAT32 ? 4 : 2;
    ASSERT_EQ(resp.embeddings().size(), 4 * 32 * width);
    for (int i = 0; i < 4; ++i) {
      std::vector<float> v(32);
      for (int k = 0; k < 32; ++k) {
        const char* p = resp.embeddings().data() + (i * 32 + k) * width;
        if (dtype == pb::FLOAT32) {
          std::memcpy(&v[k], p, 4);
        } else {
          uint16_t h;
          std::memcpy(&h, p, 2);
          if (dtype == pb::FLOAT16) {
            v[k] = HalfToFloat(h);
          } else {
            uint32_t u = uint32_t(h) << 16;
            std::memcpy(&v[k], &u, 4);
          }
        }
      }
      EXPECT_GE(Cosine(v, golden[i].embedding), dtype == pb::FLOAT32 ? 0.99999 : 0.999);
    }
  }
  req.set_output_dtype(pb::FLOAT32);
  req.set_dimensions(8);
  grpc::ClientContext ctx;
  pb::EmbedResponse resp;
  ASSERT_TRUE(stub->Embed(&ctx, req, &resp).ok());
  EXPECT_EQ(resp.dimension(), 8);
  req.set_dimensions(64);
  grpc::ClientContext ctx2;
  auto s = stub->Embed(&ctx2, req, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(GrpcTest, FloeEmbedStreamAnswersEveryRequest) {
  auto golden = LoadGolden();
  auto stub = pb::EmbeddingService::NewStub(channel_);
  grpc::ClientContext ctx;
  auto stream = stub->EmbedStream(&ctx);
  const int n = 100;
  std::thread writer([&] {
    for (int i = 0; i < n; ++i) {
      pb::EmbedRequest req;
      req.set_request_id("s" + std::to_string(i));
      if (i == 7) req.set_dimensions(-1);  // one bad request; the stream goes on
      req.add_texts(golden[i % golden.size()].text);
      stream->Write(req);
    }
    stream->WritesDone();
  });
  pb::EmbedResponse resp;
  int got = 0, errors = 0;
  while (stream->Read(&resp)) {
    ++got;
    if (!resp.error().empty()) {
      ++errors;
      EXPECT_EQ(resp.request_id(), "s7");
      EXPECT_EQ(resp.error_code(), int(grpc::StatusCode::INVALID_ARGUMENT));
      continue;
    }
    const int i = std::stoi(resp.request_id().substr(1));
    EXPECT_GE(Cosine(FromBytes(resp.embeddings()), golden[i % golden.size()].embedding), 0.99999);
  }
  writer.join();
  auto s = stream->Finish();
  EXPECT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(got, n);
  EXPECT_EQ(errors, 1);
}

TEST_F(GrpcTest, FloeTokenizeAndInfo) {
  auto stub = pb::EmbeddingService::NewStub(channel_);
  {
    grpc::ClientContext ctx;
    pb::TokenizeRequest req;
    req.add_texts("Chilling now");
    pb::TokenizeResponse resp;
    ASSERT_TRUE(stub->Tokenize(&ctx, req, &resp).ok());
    ASSERT_EQ(resp.tokens_size(), 1);
    EXPECT_EQ(std::vector<int>(resp.tokens(0).ids().begin(), resp.tokens(0).ids().end()),
              (std::vector<int>{101, 27017, 2085, 102}));
  }
  {
    grpc::ClientContext ctx;
    pb::InfoResponse resp;
    ASSERT_TRUE(stub->Info(&ctx, pb::InfoRequest(), &resp).ok());
    EXPECT_EQ(resp.model(), FixtureModel());
    EXPECT_EQ(resp.dimension(), 32);
    EXPECT_EQ(resp.replicas_size(), 1);
    EXPECT_EQ(resp.replicas(0).state(), "ready");
  }
}

TEST_F(GrpcTest, StandardHealthService) {
  std::string error;
  EXPECT_EQ(HealthStatus(channel_, "", &error), 1) << error;  // SERVING
  EXPECT_EQ(HealthStatus(channel_, "arctic_inference.InferenceService", &error), 1) << error;
  EXPECT_EQ(HealthStatus(channel_, "floe.v1.EmbeddingService", &error), 1) << error;
  EXPECT_EQ(HealthStatus(channel_, "no.such.Service", &error), -1);
  EXPECT_EQ(error.rfind("code " + std::to_string(grpc::StatusCode::NOT_FOUND) + ":", 0), 0u)
      << error;
}

TEST(GrpcLimits, ApiKeyMetadata) {
  ServerProcess server({"--api-key", "k3y"});
  ASSERT_TRUE(server.ready());
  auto channel = grpc::CreateChannel(server.grpc_target(), grpc::InsecureChannelCredentials());
  auto stub = ai::InferenceService::NewStub(channel);
  ai::EncodeRequest req;
  req.set_n_prompts(1);
  req.add_prompts("a");
  {
    grpc::ClientContext ctx;
    ai::EncodeResponse resp;
    EXPECT_EQ(stub->Encode(&ctx, req, &resp).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  }
  {
    grpc::ClientContext ctx;
    ctx.AddMetadata("authorization", "Bearer k3y");
    ai::EncodeResponse resp;
    EXPECT_TRUE(stub->Encode(&ctx, req, &resp).ok());
  }
  {
    grpc::ClientContext ctx;  // health stays open
    ai::HealthCheckResponse resp;
    EXPECT_TRUE(stub->HealthCheck(&ctx, ai::HealthCheckRequest(), &resp).ok());
  }
  EXPECT_EQ(server.Stop(), 0);
}

TEST(GrpcLimits, OverMaxConcurrentIsResourceExhausted) {
  ServerProcess server({"--max-concurrent-requests", "1"});
  ASSERT_TRUE(server.ready());
  auto channel = grpc::CreateChannel(server.grpc_target(), grpc::InsecureChannelCredentials());
  std::string text;
  for (int i = 0; i < 100; ++i) text += "lorem ipsum ";
  ai::EncodeRequest req;
  req.set_n_prompts(512);
  for (int i = 0; i < 512; ++i) req.add_prompts(text);
  std::atomic<int> ok{0}, exhausted{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 6; ++t) {
    threads.emplace_back([&] {
      auto stub = ai::InferenceService::NewStub(channel);
      for (int i = 0; i < 3; ++i) {
        grpc::ClientContext ctx;
        ai::EncodeResponse resp;
        auto s = stub->Encode(&ctx, req, &resp);
        if (s.ok()) ok++;
        if (s.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED) {
          exhausted++;
          EXPECT_NE(s.error_message().find("--max-concurrent-requests"), std::string::npos);
          ai::EncodeResponse d;  // rich error details: the response with `error`
          EXPECT_TRUE(UnpackDetails(s, &d));
          EXPECT_EQ(d.error(), s.error_message());
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_GT(ok.load(), 0);
  EXPECT_GT(exhausted.load(), 0);
  EXPECT_EQ(ok + exhausted, 18);
  EXPECT_EQ(server.Stop(), 0);
}

}  // namespace
}  // namespace floe::test
