// floe.v1 Rerank and Classify on the real `floe serve` with the tiny
// cross-encoder (rerank-bert-tiny): order, sigmoid vs raw scores, agreement
// with HTTP /rerank, pairs, and the errors (wrong model kind, bad input,
// text that is not UTF-8).
#include <gtest/gtest.h>

#include <cmath>

#include "floe/internal/lenient.pb.h"
#include "floe/v1/embed.grpc.pb.h"
#include "grpc_call.h"
#include "server_process.h"

namespace floe::test {
namespace {

namespace pb = floe::v1;
using json = nlohmann::json;

class GrpcRerankTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    rerank_ = new ServerProcess({}, std::string(FLOE_TEST_DATA) + "/models/rerank-bert-tiny");
    embed_ = new ServerProcess();
    ASSERT_TRUE(rerank_->ready() && embed_->ready());
  }
  static void TearDownTestSuite() {
    for (ServerProcess** s : {&rerank_, &embed_}) {
      EXPECT_EQ((*s)->Stop(), 0);
      delete *s;
      *s = nullptr;
    }
  }
  static std::unique_ptr<pb::EmbeddingService::Stub> Stub(ServerProcess* s) {
    return pb::EmbeddingService::NewStub(
        grpc::CreateChannel(s->grpc_target(), grpc::InsecureChannelCredentials()));
  }
  static grpc::Status Rerank(ServerProcess* s, const pb::RerankRequest& req,
                             pb::RerankResponse* resp) {
    grpc::ClientContext ctx;
    return Stub(s)->Rerank(&ctx, req, resp);
  }
  static grpc::Status Classify(ServerProcess* s, const pb::ClassifyRequest& req,
                               pb::ClassifyResponse* resp) {
    grpc::ClientContext ctx;
    return Stub(s)->Classify(&ctx, req, resp);
  }
  static pb::RerankRequest Request(bool raw) {
    pb::RerankRequest req;
    req.set_request_id("r1");
    req.set_query("what do cats eat");
    for (const char* t : {"Cats eat fish.", "Stocks fell.", "Kittens drink milk.", "Paris"})
      req.add_texts(t);
    req.set_raw_scores(raw);
    req.set_return_text(true);
    return req;
  }
  inline static ServerProcess* rerank_ = nullptr;
  inline static ServerProcess* embed_ = nullptr;
};

TEST_F(GrpcRerankTest, RerankIsSortedAndMatchesHttp) {
  pb::RerankResponse sig, raw;
  ASSERT_TRUE(Rerank(rerank_, Request(false), &sig).ok());
  ASSERT_TRUE(Rerank(rerank_, Request(true), &raw).ok());
  EXPECT_EQ(sig.request_id(), "r1");
  ASSERT_EQ(sig.ranks_size(), 4);
  EXPECT_GT(sig.prompt_tokens(), 0u);
  const pb::RerankRequest req = Request(false);
  for (int i = 0; i < 4; ++i) {
    if (i > 0) {
      EXPECT_GE(sig.ranks(i - 1).score(), sig.ranks(i).score());
    }
    EXPECT_EQ(sig.ranks(i).text(), req.texts(sig.ranks(i).index()));
    EXPECT_EQ(raw.ranks(i).index(), sig.ranks(i).index());
    EXPECT_NEAR(sig.ranks(i).score(), 1.0 / (1.0 + std::exp(-raw.ranks(i).score())), 1e-6);
  }
  json body = {{"query", req.query()}, {"texts", json::array()}};
  for (const auto& t : req.texts()) body["texts"].push_back(t);
  auto r = rerank_->Http().Post("/rerank", body.dump(), "application/json");
  ASSERT_TRUE(r);
  json http = json::parse(r->body);
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(http[i]["index"], sig.ranks(i).index());
    EXPECT_NEAR(http[i]["score"].get<double>(), sig.ranks(i).score(), 1e-6);
  }
}

TEST_F(GrpcRerankTest, ClassifyTextsAndPairs) {
  pb::ClassifyRequest req;
  req.add_texts("what do cats eat");
  req.add_text_pairs("Cats eat fish.");
  pb::ClassifyResponse resp;
  ASSERT_TRUE(Classify(rerank_, req, &resp).ok());
  ASSERT_EQ(resp.results_size(), 1);
  ASSERT_EQ(resp.results(0).scores_size(), 1);
  EXPECT_EQ(resp.results(0).scores(0).label(), "LABEL_0");
  pb::RerankRequest rr;
  rr.set_query("what do cats eat");
  rr.add_texts("Cats eat fish.");
  pb::RerankResponse rank;
  ASSERT_TRUE(Rerank(rerank_, rr, &rank).ok());
  EXPECT_NEAR(resp.results(0).scores(0).score(), rank.ranks(0).score(), 1e-6);

  pb::ClassifyRequest single;
  single.add_texts("a");
  single.add_texts("b");
  single.set_raw_scores(true);
  pb::ClassifyResponse two;
  ASSERT_TRUE(Classify(rerank_, single, &two).ok());
  ASSERT_EQ(two.results_size(), 2);
  EXPECT_EQ(two.results(1).scores_size(), 1);
}

TEST_F(GrpcRerankTest, Errors) {
  pb::RerankResponse resp;
  grpc::Status s = Rerank(embed_, Request(false), &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << s.error_message();
  pb::ClassifyResponse cresp;
  pb::ClassifyRequest c;
  c.add_texts("a");
  s = Classify(embed_, c, &cresp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << s.error_message();
  c.add_text_pairs("x");
  c.add_text_pairs("y");
  s = Classify(rerank_, c, &cresp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << s.error_message();
  pb::RerankRequest empty;
  empty.set_query("q");
  s = Rerank(rerank_, empty, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << s.error_message();
  pb::RerankRequest other = Request(false);
  other.set_model("not-served");
  s = Rerank(rerank_, other, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND) << s.error_message();

  floe::internal::lenient::RerankRequest bad;
  bad.set_query("q");
  bad.add_texts("ok");
  bad.add_texts(std::string("\xff\xfe", 2));
  grpc::ByteBuffer out;
  auto channel = grpc::CreateChannel(rerank_->grpc_target(), grpc::InsecureChannelCredentials());
  s = UnaryCall(channel, "/floe.v1.EmbeddingService/Rerank", bad, &out);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(s.error_message().find("texts[1]"), std::string::npos) << s.error_message();
  auto health = rerank_->Http().Get("/health");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
}

}  // namespace
}  // namespace floe::test
