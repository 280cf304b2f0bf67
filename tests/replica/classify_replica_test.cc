// Classifier models through the replica seam: LocalReplica answers
// Embedder::Classify's raw logits (type1_from carried, nothing normalized),
// the worker codec carries type1_from, and a worker process (`floe serve
// --replica-mode process`) reranks as the in-process replica does.
#include <gtest/gtest.h>

#include <future>

#include "serve/server_process.h"
#include "floe/embedder.h"
#include "replica/local_replica.h"
#include "replica/worker_codec.h"

namespace floe {
namespace {

std::string Reranker() { return std::string(FLOE_TEST_DATA) + "/models/rerank-bert-tiny"; }

StatusOr<EmbedOutput> RunJob(LocalReplica& replica, std::shared_ptr<EmbedJob> job) {
  std::promise<StatusOr<EmbedOutput>> answer;
  auto got = answer.get_future();
  replica.Submit(std::move(job), [&](StatusOr<EmbedOutput> r) { answer.set_value(std::move(r)); });
  if (got.wait_for(std::chrono::seconds(30)) != std::future_status::ready) {
    return DeadlineExceededError("no answer in 30 s");
  }
  return got.get();
}

TEST(ClassifyReplica, LocalReplicaAnswersClassifyLogits) {
  auto opened = Embedder::Open(Reranker());
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  std::shared_ptr<Embedder> embedder = std::move(opened).value();
  ASSERT_EQ(embedder->info().task, "classify");
  auto pair = embedder->TokenizePair("what do cats eat", "cats eat fish");
  ASSERT_TRUE(pair.ok()) << pair.status().ToString();
  const std::vector<int32_t> ids = pair->ids;
  const int32_t split = static_cast<int32_t>(ids.size() / 2);  // a type 1 segment either way
  auto want = embedder->Classify({ids, ids}, {split, static_cast<int32_t>(ids.size())});
  ASSERT_TRUE(want.ok()) << want.status().ToString();

  LocalReplica replica(embedder, LocalReplicaOptions{});
  auto job = std::make_shared<EmbedJob>();
  job->request_id = "pairs";
  job->inputs = {ids, ids};
  job->type1_from = {split, static_cast<int32_t>(ids.size())};
  job->params.normalize = true;  // does not apply to logits
  job->params.dimensions = 0;
  auto got = RunJob(replica, job);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  ASSERT_EQ(got->vectors.size(), 2u);
  EXPECT_EQ(got->dimension, 1);
  for (size_t i = 0; i < 2; ++i) {
    ASSERT_EQ(got->vectors[i].size(), 1u);
    EXPECT_EQ(got->vectors[i][0], (*want)[i][0]) << i;
  }
  // The token types reach the model: the two inputs differ only in them.
  EXPECT_NE(got->vectors[0][0], got->vectors[1][0]);

  auto bad = std::make_shared<EmbedJob>();
  bad->inputs = {ids, ids};
  bad->type1_from = {1};
  auto refused = RunJob(replica, bad);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), StatusCode::kInvalidArgument) << refused.status().ToString();
}

TEST(ClassifyReplica, WorkerCodecCarriesTypeIds) {
  EmbedJob job;
  job.request_id = "r";
  job.inputs = {{101, 7, 102, 8, 102}, {101, 9, 102}};
  job.type1_from = {3, 3};
  job.params.pool_skip = 0;
  internal::WorkerEmbedRequest req;
  worker::JobToRequest(job, &req);
  EmbedJob back;
  ASSERT_TRUE(worker::RequestToJob(req, &back).ok());
  EXPECT_EQ(back.inputs, job.inputs);
  EXPECT_EQ(back.type1_from, job.type1_from);
  EXPECT_EQ(back.request_id, "r");

  EmbedOutput out;
  out.dimension = 2;
  out.vectors = {{0.5f, -1.0f}, {2.0f, 3.0f}};
  internal::WorkerEmbedResponse resp;
  ASSERT_TRUE(worker::OutputToResponse(out, &resp).ok());
  auto decoded = worker::OutputFromResponse(resp, 2, "replica 0");
  ASSERT_TRUE(decoded.ok());
  EXPECT_EQ(decoded->vectors, out.vectors);
  EXPECT_FALSE(worker::OutputFromResponse(resp, 3, "replica 0").ok());
  out.vectors[1].pop_back();
  EXPECT_FALSE(worker::OutputToResponse(out, &resp).ok());  // ragged
}

TEST(ClassifyReplica, WorkerProcessReranksAsInProcess) {
  using nlohmann::json;
  test::ServerProcess worker({"--replica-mode", "process", "--num-replicas", "1"}, Reranker());
  test::ServerProcess local({"--replica-mode", "inprocess"}, Reranker());
  ASSERT_TRUE(worker.ready() && local.ready());
  const std::string body =
      R"({"query":"what do cats eat","texts":["cats eat fish","stocks fell","kittens"],"raw_scores":true})";
  auto a = worker.Http().Post("/rerank", body, "application/json");
  auto b = local.Http().Post("/rerank", body, "application/json");
  ASSERT_TRUE(a && b);
  ASSERT_EQ(a->status, 200) << a->body;
  ASSERT_EQ(b->status, 200) << b->body;
  EXPECT_EQ(json::parse(a->body), json::parse(b->body));
  auto info = json::parse(worker.Http().Get("/info")->body);
  EXPECT_GT(info["replicas"][0]["pid"].get<int>(), 0);  // a worker process answered
  EXPECT_EQ(worker.Stop(), 0);
  EXPECT_EQ(local.Stop(), 0);
}

}  // namespace
}  // namespace floe
