// Per-token jobs (TEI's embed_all) through the replica seam: LocalReplica
// answers them beside pooled jobs of the same batch, and the worker codec
// carries their token matrices.
#include <gtest/gtest.h>

#include <future>
#include <thread>

#include "floe/embedder.h"
#include "replica/local_replica.h"
#include "replica/worker_codec.h"

namespace floe {
namespace {

std::string Fixture() { return std::string(FLOE_TEST_DATA) + "/models/bert-tiny-cls"; }

std::shared_ptr<EmbedJob> Job(const std::string& id, bool per_token) {
  auto job = std::make_shared<EmbedJob>();
  job->request_id = id;
  job->inputs = {{101, 7592, 2088, 102}, {101, 2088, 102}};
  job->params.per_token = per_token;
  return job;
}

TEST(PerTokenReplica, AnswersTokenMatricesBesidePooledJobs) {
  auto embedder = Embedder::Open(Fixture());
  ASSERT_TRUE(embedder.ok()) << embedder.status().ToString();
  std::shared_ptr<Embedder> shared = std::move(embedder).value();
  const int hidden = shared->info().hidden_size;
  auto want = shared->EmbedAllTokens(Job("ref", true)->inputs);
  ASSERT_TRUE(want.ok());
  LocalReplica replica(shared, LocalReplicaOptions{});
  // Several of each kind at once, so that some share a batch.
  std::vector<std::promise<StatusOr<EmbedOutput>>> answers(8);
  for (size_t i = 0; i < answers.size(); ++i) {
    replica.Submit(Job("j" + std::to_string(i), i % 2 == 0),
                   [&answers, i](StatusOr<EmbedOutput> r) { answers[i].set_value(std::move(r)); });
  }
  for (size_t i = 0; i < answers.size(); ++i) {
    auto f = answers[i].get_future();
    ASSERT_EQ(f.wait_for(std::chrono::seconds(30)), std::future_status::ready);
    auto r = f.get();
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    ASSERT_EQ(r->vectors.size(), 2u);
    EXPECT_EQ(r->dimension, hidden);
    EXPECT_EQ(r->per_token, i % 2 == 0);
    for (size_t k = 0; k < 2; ++k) {
      if (i % 2 == 0) {
        ASSERT_EQ(r->vectors[k].size(), (*want)[k].values.size());
        for (size_t v = 0; v < r->vectors[k].size(); ++v) {
          EXPECT_NEAR(r->vectors[k][v], (*want)[k].values[v], 1e-5);
        }
      } else {
        EXPECT_EQ(r->vectors[k].size(), static_cast<size_t>(hidden));
      }
    }
  }
}

TEST(PerTokenReplica, WorkerCodecCarriesTokenMatrices) {
  auto job = Job("r", true);
  internal::WorkerEmbedRequest req;
  worker::JobToRequest(*job, &req);
  EmbedJob back;
  ASSERT_TRUE(worker::RequestToJob(req, &back).ok());
  EXPECT_TRUE(back.params.per_token);

  EmbedOutput out;
  out.dimension = 2;
  out.per_token = true;
  out.vectors = {{1, 2, 3, 4, 5, 6}, {7, 8}};  // 3 tokens, then 1
  internal::WorkerEmbedResponse resp;
  ASSERT_TRUE(worker::OutputToResponse(out, &resp).ok());
  auto decoded = worker::OutputFromResponse(resp, 2, "replica 0");
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  EXPECT_TRUE(decoded->per_token);
  EXPECT_EQ(decoded->vectors, out.vectors);
  EXPECT_FALSE(worker::OutputFromResponse(resp, 1, "replica 0").ok());
  out.vectors[1].pop_back();  // not a whole token
  EXPECT_FALSE(worker::OutputToResponse(out, &resp).ok());
}

}  // namespace
}  // namespace floe
