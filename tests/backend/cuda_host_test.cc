// The CUDA backend's host-side logic, on the CPU in every build (no CUDA
// header, no GPU): the row buckets of its products and the plan cache the
// layers share (src/backend/cuda/host/). The GPU side of each is in tests/cuda.
#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <random>
#include <set>
#include <vector>

#include "backend/cuda/host/row_buckets.h"

namespace floe {
namespace {

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

}  // namespace
}  // namespace floe
