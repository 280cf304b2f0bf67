// Errors in gRPC's rich error model: every failed arctic Encode also carries,
// in its grpc-status-details-bin trailer, the EncodeResponse ArcticInference
// would have sent (`error` = the message, request_id and n_prompts as sent);
// a failed floe.v1 Embed carries an EmbedResponse with error and error_code.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include "arctic_inference/inference.grpc.pb.h"
#include "floe/internal/lenient.pb.h"
#include "floe/v1/embed.grpc.pb.h"
#include "grpc_details.h"
#include "grpc_fixture.h"

namespace floe::test {
namespace {

namespace ai = arctic_inference;
namespace pb = floe::v1;
namespace lenient = floe::internal::lenient;

const std::string kEncode = "/arctic_inference.InferenceService/Encode";

std::string Ids(const std::vector<int32_t>& ids) {
  return std::string(reinterpret_cast<const char*>(ids.data()), ids.size() * 4);
}

// One Encode with the generated stub; `trailer` gets grpc-status-details-bin
// as the client received it ("" when absent).
grpc::Status EncodeCall(const std::shared_ptr<grpc::Channel>& channel,
                        const ai::EncodeRequest& req, std::string* trailer,
                        const std::string& api_key = "") {
  auto stub = ai::InferenceService::NewStub(channel);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  if (!api_key.empty()) ctx.AddMetadata("authorization", "Bearer " + api_key);
  ai::EncodeResponse resp;
  grpc::Status s = stub->Encode(&ctx, req, &resp);
  const auto& md = ctx.GetServerTrailingMetadata();
  auto it = md.find("grpc-status-details-bin");
  trailer->assign(it == md.end() ? ""
                                 : std::string(it->second.data(), it->second.size()));
  return s;
}

// The error's details: the EncodeResponse with `error` = the message.
ai::EncodeResponse ExpectEncodeError(const grpc::Status& s, grpc::StatusCode code,
                                     const std::string& needle) {
  EXPECT_EQ(s.error_code(), code) << s.error_message();
  EXPECT_NE(s.error_message().find(needle), std::string::npos) << s.error_message();
  ai::EncodeResponse d;
  EXPECT_TRUE(UnpackDetails(s, &d));
  EXPECT_EQ(d.error(), s.error_message());
  EXPECT_EQ(d.embedding_bytes_fp32_size(), 0);
  return d;
}

TEST_F(GrpcTest, ArcticEncodeErrorsCarryTheResponseWithError) {
  struct Case {
    std::string name;
    ai::EncodeRequest req;
    grpc::StatusCode code;
    std::string needle;
  };
  std::vector<Case> cases(4);
  cases[0] = {"count", {}, grpc::StatusCode::INVALID_ARGUMENT, "n_prompts is 2"};
  cases[0].req.set_n_prompts(2);
  cases[0].req.add_prompts("only one");
  cases[1] = {"bytes", {}, grpc::StatusCode::INVALID_ARGUMENT, "multiple of 4"};
  cases[1].req.set_n_prompts(1);
  cases[1].req.add_token_id_bytes_i32(std::string("\x65\x00\x00", 3));
  // Refused by the frontend, past the handler's own checks.
  cases[2] = {"model", {}, grpc::StatusCode::NOT_FOUND, "someone-else"};
  cases[2].req.set_n_prompts(1);
  cases[2].req.add_prompts("a");
  cases[2].req.set_model_name("someone-else");
  cases[3] = {"vocab", {}, grpc::StatusCode::INVALID_ARGUMENT, "99999"};
  cases[3].req.set_n_prompts(1);
  cases[3].req.add_token_id_bytes_i32(Ids({101, 99999, 102}));
  for (auto& c : cases) {
    SCOPED_TRACE(c.name);
    c.req.set_request_id("details-" + c.name);
    std::string trailer;
    grpc::Status s = EncodeCall(channel_, c.req, &trailer);
    ai::EncodeResponse d = ExpectEncodeError(s, c.code, c.needle);
    EXPECT_EQ(d.request_id(), "details-" + c.name);
    EXPECT_EQ(d.n_prompts(), c.req.n_prompts());
    EXPECT_EQ(trailer, s.error_details());  // the trailer is the details
  }
  // A long request_id is echoed while the details stay small; past that they
  // are left out rather than make a trailer clients refuse (8 KiB by default).
  ai::EncodeRequest req = cases[0].req;
  req.set_request_id(std::string(1000, 'r'));
  std::string trailer;
  ai::EncodeResponse d =
      ExpectEncodeError(EncodeCall(channel_, req, &trailer),
                        grpc::StatusCode::INVALID_ARGUMENT, "n_prompts");
  EXPECT_EQ(d.request_id(), req.request_id());
  req.set_request_id(std::string(7000, 'r'));
  grpc::Status s = EncodeCall(channel_, req, &trailer);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << s.error_message();
  EXPECT_EQ(s.error_message(), "n_prompts is 2 but the request carries 1 prompts");
  EXPECT_EQ(s.error_details(), "");
  EXPECT_EQ(trailer, "");
  // Success: no details, no trailer.
  ai::EncodeRequest good;
  good.set_n_prompts(1);
  good.add_prompts("fine");
  trailer = "unset";
  s = EncodeCall(channel_, good, &trailer);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_TRUE(s.error_details().empty());
  EXPECT_EQ(trailer, "");
}

// Raw requests: what was parsed is echoed, what was not (or is not UTF-8) is not.
TEST_F(GrpcTest, ArcticEncodeErrorDetailsOfUnreadableRequests) {
  lenient::EncodeRequest req;
  req.set_request_id("utf8");
  req.set_n_prompts(2);
  req.add_prompts("fine");
  req.add_prompts("ok\xff!");
  ai::EncodeResponse resp;
  ai::EncodeResponse d = ExpectEncodeError(UnaryCall(channel_, kEncode, req, &resp),
                                           grpc::StatusCode::INVALID_ARGUMENT,
                                           "prompts[1] is not valid UTF-8");
  EXPECT_EQ(d.request_id(), "utf8");
  EXPECT_EQ(d.n_prompts(), 2);

  req.set_request_id("caf\xc3");  // not UTF-8: not echoed (the details still parse)
  d = ExpectEncodeError(UnaryCall(channel_, kEncode, req, &resp),
                        grpc::StatusCode::INVALID_ARGUMENT,
                        "request_id is not valid UTF-8");
  EXPECT_EQ(d.request_id(), "");
  EXPECT_EQ(d.n_prompts(), 2);

  // A field 1 (request_id) "abc", then junk: no message, nothing echoed.
  grpc::Slice junk(std::string("\x0a\x03", 2) + "abc" + std::string("\xff\xff\xff", 3));
  grpc::ByteBuffer raw(&junk, 1), out;
  d = ExpectEncodeError(UnaryCall(channel_, kEncode, raw, &out),
                        grpc::StatusCode::INVALID_ARGUMENT, "not a valid");
  EXPECT_EQ(d.request_id(), "");
  EXPECT_EQ(d.n_prompts(), 0);
}

TEST_F(GrpcTest, FloeEmbedErrorsCarryErrorAndCode) {
  auto stub = pb::EmbeddingService::NewStub(channel_);
  pb::EmbedRequest req;
  req.set_request_id("embed-err");
  req.add_texts("a");
  req.set_model("someone-else");
  grpc::ClientContext ctx;
  pb::EmbedResponse resp;
  grpc::Status s = stub->Embed(&ctx, req, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND) << s.error_message();
  pb::EmbedResponse d;
  ASSERT_TRUE(UnpackDetails(s, &d));
  EXPECT_EQ(d.request_id(), "embed-err");
  EXPECT_EQ(d.error(), s.error_message());
  EXPECT_EQ(d.error_code(), static_cast<int>(grpc::StatusCode::NOT_FOUND));
  EXPECT_EQ(d.n(), 0);
}

TEST(GrpcErrorDetails, UnauthenticatedCarriesTheError) {
  ServerProcess server({"--api-key", "k3y"});
  ASSERT_TRUE(server.ready());
  auto channel =
      grpc::CreateChannel(server.grpc_target(), grpc::InsecureChannelCredentials());
  ai::EncodeRequest req;
  req.set_request_id("who");
  req.set_n_prompts(1);
  req.add_prompts("a");
  std::string trailer;
  grpc::Status s = EncodeCall(channel, req, &trailer, "wrong");
  // Refused before the request is read: only `error` is set.
  ai::EncodeResponse d = ExpectEncodeError(s, grpc::StatusCode::UNAUTHENTICATED, "");
  EXPECT_FALSE(d.error().empty());
  EXPECT_EQ(d.request_id(), "");
  EXPECT_EQ(trailer, s.error_details());
  EXPECT_TRUE(EncodeCall(channel, req, &trailer, "k3y").ok());
  EXPECT_EQ(server.Stop(), 0);
}

}  // namespace
}  // namespace floe::test
