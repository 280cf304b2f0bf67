// The CUDA backend's host-side logic, on the CPU in every build (no CUDA
// header, no GPU): the row buckets of its products, the plan cache the
// layers share, and the bookkeeping of its CUDA graphs
// (src/backend/cuda/host/). The GPU side of each is in tests/cuda.
#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <random>
#include <set>
#include <vector>

#include "backend/backend.h"
#include "backend/cuda/host/graph_book.h"
#include "backend/cuda/host/row_buckets.h"
#include "backend/graph_key.h"

namespace floe {
namespace {

using cuda::host::GraphBook;
using cuda::host::GraphOptions;
using cuda::host::GraphStep;
using cuda::host::PlanCache;
using cuda::host::PlanKey;
using cuda::host::RowBucket;

TEST(CudaRowBucketTest, FollowsThePolicy) {
  const std::vector<std::pair<int64_t, int64_t>> cases = {
      {1, 1},       {2, 2},       {3, 4},       {5, 8},       {33, 64},     {64, 64},
      {65, 128},    {128, 128},   {129, 192},   {512, 512},   {513, 576},   {1000, 1024},
      {1024, 1024}, {1025, 1280}, {8000, 8192}, {8192, 8192}, {8193, 9216}, {32768, 32768}};
  for (auto [m, want] : cases) EXPECT_EQ(RowBucket(m), want) << "m " << m;
  EXPECT_EQ(RowBucket(0), 0);
}

TEST(CudaRowBucketTest, BucketsCoverTheirRowsAreStableAndFew) {
  std::set<int64_t> buckets;
  int64_t last = 0;
  for (int64_t m = 1; m <= 32768; ++m) {
    const int64_t b = RowBucket(m);
    ASSERT_GE(b, m);
    ASSERT_GE(b, last) << "not monotone at " << m;
    ASSERT_EQ(RowBucket(b), b) << "a bucket is its own bucket";
    // The padding share the policy promises.
    const double waste = static_cast<double>(b - m) / static_cast<double>(b);
    const double bound = m > 8192 ? 0.112 : m > 1024 ? 0.2 : m > 64 ? 0.5 : 1.0;
    ASSERT_LT(waste, bound) << m;
    buckets.insert(b);
    last = b;
  }
  EXPECT_EQ(buckets.size(), 74u);
}

struct FakePlan {
  int64_t rows;
};

PlanKey Key(int64_t rows, int64_t n, int64_t k, int epilogue) {
  PlanKey key;
  key.rows = rows;
  key.n = n;
  key.k = k;
  key.dtype = 1;
  key.epilogue = epilogue;
  return key;
}

// BERT-base's products (QKV, attention out, FFN in with GELU, FFN out) in
// 12 layers, as linear.cc asks for plans: one per (bucket, shape, epilogue).
TEST(CudaPlanCacheTest, LayersShareOnePlanPerBucketAndShape) {
  struct Shape { int64_t n, k; int epi; };
  const Shape shapes[] = {{2304, 768, 1}, {768, 768, 0}, {3072, 768, 2}, {768, 3072, 0}};
  PlanCache<FakePlan> cache;
  int made = 0;
  std::vector<int64_t> tokens(512);
  for (int64_t i = 0; i < 512; ++i) tokens[i] = i + 1;
  std::shuffle(tokens.begin(), tokens.end(), std::mt19937(7));
  std::set<int64_t> buckets;
  for (int64_t m : tokens) {
    const int64_t rows = RowBucket(m);
    buckets.insert(rows);
    for (int layer = 0; layer < 12; ++layer) {
      for (const Shape& s : shapes) {
        auto p = cache.Get(Key(rows, s.n, s.k, s.epi), [&]() -> StatusOr<std::unique_ptr<FakePlan>> {
          ++made;
          return std::make_unique<FakePlan>(FakePlan{rows});
        });
        ASSERT_TRUE(p.ok());
        ASSERT_EQ((*p)->rows, rows);
      }
    }
  }
  // 14 buckets up to 512 rows x 4 shapes, instead of 512 token counts x 72.
  EXPECT_EQ(buckets.size(), 14u);
  EXPECT_EQ(made, 14 * 4);
  EXPECT_EQ(cache.size(), 56u);
  EXPECT_EQ(cache.misses(), 56u);
  EXPECT_EQ(cache.hits(), 512u * 12 * 4 - 56);
}

TEST(CudaPlanCacheTest, SameKeySamePlanOtherEpilogueOtherPlan) {
  PlanCache<FakePlan> cache;
  const auto make = [] { return StatusOr<std::unique_ptr<FakePlan>>(std::make_unique<FakePlan>()); };
  auto a = cache.Get(Key(64, 768, 768, 0), make);
  auto b = cache.Get(Key(64, 768, 768, 0), make);
  auto c = cache.Get(Key(64, 768, 768, 1), make);
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  EXPECT_EQ(*a, *b);
  EXPECT_NE(*a, *c);
}

TEST(CudaPlanCacheTest, AFailedPlanIsNotCachedAndTheBoundHolds) {
  PlanCache<FakePlan> cache(3);
  int calls = 0;
  const auto fail = [&]() -> StatusOr<std::unique_ptr<FakePlan>> {
    ++calls;
    return UnimplementedError("no algorithm");
  };
  EXPECT_EQ(cache.Get(Key(8, 16, 16, 0), fail).status().code(), StatusCode::kUnimplemented);
  EXPECT_EQ(cache.Get(Key(8, 16, 16, 0), fail).status().code(), StatusCode::kUnimplemented);
  EXPECT_EQ(calls, 2);
  EXPECT_EQ(cache.size(), 0u);
  const auto make = [] { return StatusOr<std::unique_ptr<FakePlan>>(std::make_unique<FakePlan>()); };
  for (int64_t rows : {1, 2, 4, 8}) ASSERT_TRUE(cache.Get(Key(rows, 16, 16, 0), make).ok());
  EXPECT_LE(cache.size(), 3u);
  EXPECT_EQ(cache.evictions(), 3u);
}

// An executable graph that counts how many are alive.
struct FakeExec {
  explicit FakeExec(int id, int* alive) : id(id), alive(alive) { ++*alive; }
  FakeExec(FakeExec&& o) noexcept : id(o.id), alive(o.alive) { o.alive = nullptr; }
  FakeExec& operator=(FakeExec&&) = delete;
  ~FakeExec() {
    if (alive != nullptr) --*alive;
  }
  int id;
  int* alive;
};

GraphKey KeyOf(int64_t tokens, int64_t seqs = 1) {
  GraphKey k;
  k.owner = 1;
  k.tokens = tokens;
  k.seqs = seqs;
  k.max_seqlen = tokens;
  return k;
}

TEST(CudaGraphBookTest, EagerFirstThenCaptureThenReplay) {
  int alive = 0;
  GraphBook<FakeExec> book(GraphOptions{});
  const GraphKey k = KeyOf(50);
  EXPECT_EQ(book.Next(k, 0), GraphStep::kEager);    // warms plans and buffers
  EXPECT_EQ(book.Next(k, 0), GraphStep::kCapture);  // the second time
  EXPECT_EQ(book.Find(k), nullptr);
  book.Store(k, 0, FakeExec(1, &alive));
  EXPECT_EQ(alive, 1);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(book.Next(k, 0), GraphStep::kReplay);
  ASSERT_NE(book.Find(k), nullptr);
  EXPECT_EQ(book.Find(k)->id, 1);
  EXPECT_EQ(book.stats().replays, 3u);
  EXPECT_EQ(book.stats().captures, 1u);
  // Another shape, another owner: their own counts.
  GraphKey other_owner = k;
  other_owner.owner = 2;
  EXPECT_EQ(book.Next(other_owner, 0), GraphStep::kEager);
  EXPECT_EQ(book.Next(KeyOf(51), 0), GraphStep::kEager);
}

TEST(CudaGraphBookTest, OtherLengthsOrVariantsAreOtherGraphs) {
  GraphBook<FakeExec> book(GraphOptions{});
  int alive = 0;
  GraphKey a = KeyOf(20, 2);
  const std::vector<int32_t> cu1 = {0, 10, 20}, cu2 = {0, 5, 20};
  a.lengths = HashLengths(cu1);
  GraphKey b = a;
  b.lengths = HashLengths(cu2);
  EXPECT_NE(a.lengths, b.lengths);
  EXPECT_EQ(a.lengths, HashLengths(std::vector<int32_t>{0, 10, 20}));
  GraphKey c = a;
  c.variant = 1;
  book.Next(a, 0);
  book.Next(a, 0);
  book.Store(a, 0, FakeExec(1, &alive));
  EXPECT_EQ(book.Next(a, 0), GraphStep::kReplay);
  EXPECT_EQ(book.Next(b, 0), GraphStep::kEager);
  EXPECT_EQ(book.Next(c, 0), GraphStep::kEager);
}

TEST(CudaGraphBookTest, FreedMemoryMakesAGraphStaleAndItIsRecaptured) {
  int alive = 0;
  GraphBook<FakeExec> book(GraphOptions{});
  const GraphKey k = KeyOf(64);
  book.Next(k, 5);
  ASSERT_EQ(book.Next(k, 5), GraphStep::kCapture);
  book.Store(k, 5, FakeExec(1, &alive));
  EXPECT_EQ(book.Next(k, 5), GraphStep::kReplay);
  // A buffer was freed: capture again at once, with the old graph offered
  // for an in-place update.
  EXPECT_EQ(book.Next(k, 6), GraphStep::kCapture);
  ASSERT_NE(book.Find(k), nullptr);
  book.Restamp(k, 6);
  EXPECT_EQ(book.Next(k, 6), GraphStep::kReplay);
  EXPECT_EQ(book.Next(k, 7), GraphStep::kCapture);
  book.Store(k, 7, FakeExec(2, &alive));  // updating failed: a new one replaces it
  EXPECT_EQ(alive, 1);
  EXPECT_EQ(book.Find(k)->id, 2);
  EXPECT_EQ(book.Next(k, 7), GraphStep::kReplay);
  EXPECT_EQ(book.stats().stale, 2u);
}

TEST(CudaGraphBookTest, ARefusedKeyStaysEager) {
  int alive = 0;
  GraphBook<FakeExec> book(GraphOptions{});
  const GraphKey k = KeyOf(10);
  book.Next(k, 0);
  ASSERT_EQ(book.Next(k, 0), GraphStep::kCapture);
  book.Store(k, 0, FakeExec(1, &alive));
  ASSERT_EQ(book.Next(k, 1), GraphStep::kCapture);
  book.Refuse(k);  // the recapture failed
  EXPECT_EQ(alive, 0);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(book.Next(k, 1), GraphStep::kEager);
  EXPECT_EQ(book.stats().refused, 1u);
}

TEST(CudaGraphBookTest, DisabledIsAlwaysEager) {
  GraphOptions o;
  o.enabled = false;
  GraphBook<FakeExec> book(o);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(book.Next(KeyOf(8), 0), GraphStep::kEager);
  EXPECT_EQ(book.keys(), 0u);
}

TEST(CudaGraphBookTest, AtMostMaxGraphsLeastRecentlyUsedGoes) {
  int alive = 0;
  GraphOptions o;
  o.max_graphs = 3;
  o.capture_after = 1;
  GraphBook<FakeExec> book(o);
  for (int t = 1; t <= 3; ++t) {
    ASSERT_EQ(book.Next(KeyOf(t), 0), GraphStep::kCapture);
    book.Store(KeyOf(t), 0, FakeExec(t, &alive));
  }
  EXPECT_EQ(book.Next(KeyOf(1), 0), GraphStep::kReplay);  // 2 is now the oldest
  ASSERT_EQ(book.Next(KeyOf(4), 0), GraphStep::kCapture);
  book.Store(KeyOf(4), 0, FakeExec(4, &alive));
  EXPECT_EQ(alive, 3);
  EXPECT_EQ(book.graphs(), 3u);
  EXPECT_EQ(book.Find(KeyOf(2)), nullptr);
  EXPECT_NE(book.Find(KeyOf(1)), nullptr);
  EXPECT_NE(book.Find(KeyOf(3)), nullptr);
  EXPECT_EQ(book.stats().evicted, 1u);
  book.Clear();
  EXPECT_EQ(alive, 0);
}

TEST(CudaGraphBookTest, KeysWithoutGraphsAreForgottenPastTheBound) {
  int alive = 0;
  GraphOptions o;
  o.max_graphs = 2;
  o.max_keys = 4;
  GraphBook<FakeExec> book(o);
  book.Next(KeyOf(1), 0);
  ASSERT_EQ(book.Next(KeyOf(1), 0), GraphStep::kCapture);
  book.Store(KeyOf(1), 0, FakeExec(1, &alive));
  for (int t = 2; t <= 20; ++t) book.Next(KeyOf(t), 0);  // one-off shapes
  EXPECT_LE(book.keys(), 4u);
  EXPECT_EQ(book.Next(KeyOf(1), 0), GraphStep::kReplay);  // the graph stayed
  EXPECT_EQ(book.Next(KeyOf(2), 0), GraphStep::kEager);   // forgotten: counts again
}

TEST(CudaGraphBookTest, CpuBackendRunsTheRegionOnce) {
  RuntimeOptions opts;
  auto cpu = CreateBackend(opts);
  ASSERT_TRUE(cpu.ok()) << cpu.status().ToString();
  int calls = 0;
  const Status s = (*cpu)->RunGraph(KeyOf(4), [&] {
    ++calls;
    return InvalidArgumentError("from the body");
  });
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace floe
