// LocalReplica (the in-process dynamic batcher) over a real Embedder on the
// test fixture: what it answers when postprocessing a pooled vector fails.
#include <gtest/gtest.h>

#include <future>

#include "floe/embedder.h"
#include "replica/local_replica.h"

namespace floe {
namespace {

std::string Fixture() { return std::string(FLOE_TEST_DATA) + "/models/bert-tiny-cls"; }

StatusOr<EmbedOutput> RunJob(LocalReplica& replica, std::shared_ptr<EmbedJob> job) {
  std::promise<StatusOr<EmbedOutput>> answer;
  auto got = answer.get_future();
  replica.Submit(std::move(job), [&](StatusOr<EmbedOutput> r) { answer.set_value(std::move(r)); });
  if (got.wait_for(std::chrono::seconds(30)) != std::future_status::ready) {
    return DeadlineExceededError("no answer in 30 s");
  }
  return got.get();
}

std::shared_ptr<EmbedJob> Job(const std::string& id, int dimensions) {
  auto job = std::make_shared<EmbedJob>();
  job->request_id = id;
  job->inputs = {{101, 7592, 2088, 102}, {101, 2088, 102}};
  job->params.dimensions = dimensions;
  return job;
}

// The frontend checks `dimensions` before a job is made, so only a caller that
// skips the frontend (or a worker's client) reaches this; it must still get an
// error, not OK with empty vectors.
TEST(LocalReplica, PostprocessFailureIsAnErrorNotAnEmptyVector) {
  auto embedder = Embedder::Open(Fixture());
  ASSERT_TRUE(embedder.ok()) << embedder.status().ToString();
  std::shared_ptr<Embedder> shared = std::move(embedder).value();
  const int hidden = shared->info().hidden_size;
  LocalReplica replica(shared, LocalReplicaOptions{});

  auto bad = RunJob(replica, Job("too-wide", hidden + 1));
  ASSERT_FALSE(bad.ok()) << "answered OK with " << bad->vectors.size() << " vectors of "
                         << (bad->vectors.empty() ? 0 : bad->vectors[0].size()) << " values";
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument) << bad.status().ToString();
  EXPECT_NE(bad.status().message().find("dimensions"), std::string::npos)
      << bad.status().ToString();

  // The replica keeps serving, and a good job is unaffected.
  auto good = RunJob(replica, Job("fine", hidden / 2));
  ASSERT_TRUE(good.ok()) << good.status().ToString();
  ASSERT_EQ(good->vectors.size(), 2u);
  EXPECT_EQ(good->dimension, hidden / 2);
  for (const auto& v : good->vectors) EXPECT_EQ(v.size(), static_cast<size_t>(hidden / 2));
}

// LocalReplica runs the Embedder's engine itself and postprocesses each
// vector once, straight into the answer: what it answers is what the facade's
// EmbedTokens answers for the same ids and options, an input over the model's
// maximum cut the same way (its last id kept), and a tokenizer_only Embedder
// refused.
TEST(LocalReplica, AnswersWhatTheEmbedderAnswers) {
  auto embedder = Embedder::Open(Fixture());
  ASSERT_TRUE(embedder.ok()) << embedder.status().ToString();
  std::shared_ptr<Embedder> shared = std::move(embedder).value();
  const ModelInfo& info = shared->info();
  EXPECT_GT(info.vocab_size, 2088);  // the tokenizer's vocabulary is in ModelInfo
  std::vector<int32_t> longest(static_cast<size_t>(info.max_tokens) + 7, 2088);
  longest.front() = 101;
  longest.back() = 102;
  const std::vector<std::vector<int32_t>> inputs = {{101, 7592, 2088, 102}, longest, {101, 102}};
  LocalReplica replica(shared, LocalReplicaOptions{});
  for (const int dims : {0, info.hidden_size / 2}) {
    for (const bool normalize : {false, true}) {
      EmbedParams params;
      params.dimensions = dims;
      params.normalize = normalize;
      auto want = shared->EmbedTokens(inputs, params);
      ASSERT_TRUE(want.ok()) << want.status().ToString();
      auto job = std::make_shared<EmbedJob>();
      job->request_id = "same";
      job->inputs = inputs;
      job->params.dimensions = dims;
      job->params.normalize = normalize;
      auto got = RunJob(replica, job);
      ASSERT_TRUE(got.ok()) << got.status().ToString();
      ASSERT_EQ(got->vectors.size(), inputs.size());
      EXPECT_EQ(got->dimension, dims == 0 ? info.hidden_size : dims);
      for (size_t i = 0; i < inputs.size(); ++i) {
        ASSERT_EQ(got->vectors[i].size(), (*want)[i].size()) << i;
        for (size_t k = 0; k < got->vectors[i].size(); ++k) {
          EXPECT_NEAR(got->vectors[i][k], (*want)[i][k], 1e-5) << i << " " << k;
        }
      }
    }
  }

  EmbedderOptions tokenizer_only;
  tokenizer_only.tokenizer_only = true;
  auto tok = Embedder::Open(Fixture(), tokenizer_only);
  ASSERT_TRUE(tok.ok()) << tok.status().ToString();
  LocalReplica no_engine(std::move(tok).value(), LocalReplicaOptions{});
  auto refused = RunJob(no_engine, Job("no-engine", 0));
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), StatusCode::kFailedPrecondition) << refused.status().ToString();
}

// The batcher's token budget is its engine's max_batch_tokens (the options
// the Embedder was opened with), not a second setting of its own.
TEST(LocalReplica, BatchesWithinItsEnginesTokenBudget) {
  EmbedderOptions o;
  o.max_batch_tokens = 8;
  auto embedder = Embedder::Open(Fixture(), o);
  ASSERT_TRUE(embedder.ok()) << embedder.status().ToString();
  LocalReplica replica(std::move(embedder).value(), LocalReplicaOptions{});
  auto job = std::make_shared<EmbedJob>();
  job->request_id = "budget";
  job->inputs = {
      {101, 7592, 2088, 102}, {101, 2088, 102}, {101, 7592, 2088, 102}, {101, 2088, 102}};
  auto got = RunJob(replica, job);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  ASSERT_EQ(got->vectors.size(), 4u);
  const BatchStats s = replica.batch_stats();
  EXPECT_EQ(s.tokens.count, 2u) << "batches of 4 + 3 tokens (a third input would make 11 > 8)";
  EXPECT_DOUBLE_EQ(s.tokens.sum, 14);
}

}  // namespace
}  // namespace floe
