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

}  // namespace
}  // namespace floe
