#include <gtest/gtest.h>

#include <atomic>

#include "core/status.h"
#include "core/thread_pool.h"

namespace floe {
namespace {

StatusOr<int> Half(int x) {
  if (x % 2) return InvalidArgumentError("odd: " + std::to_string(x));
  return x / 2;
}

Status UseHalf(int x, int* out) {
  FLOE_ASSIGN_OR_RETURN(*out, Half(x));
  return OkStatus();
}

TEST(StatusTest, CarriesCodeAndMessage) {
  Status s = InvalidArgumentError("bad");
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s.ToString(), "INVALID_ARGUMENT: bad");
  EXPECT_EQ(s.WithPrefix("line 3").message(), "line 3: bad");
  EXPECT_TRUE(OkStatus().ok());
}

TEST(StatusTest, QuotedCutsLongClientInputAtACharacter) {
  EXPECT_EQ(Quoted("bert"), "'bert'");
  EXPECT_EQ(Quoted(std::string(10, 'x'), 4), "'xxxx...' (10 bytes)");
  // "\xc3\xa9" is one character: the cut does not split it.
  EXPECT_EQ(Quoted("ab\xc3\xa9" "cd", 3), "'ab...' (6 bytes)");
}

TEST(StatusTest, AssignOrReturnPropagatesErrors) {
  int v = 0;
  EXPECT_TRUE(UseHalf(8, &v).ok());
  EXPECT_EQ(v, 4);
  Status s = UseHalf(3, &v);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "odd: 3");
}

TEST(ThreadPoolTest, ParallelForVisitsEveryIndexOnce) {
  ThreadPool pool(3);
  std::vector<std::atomic<int>> hits(1000);
  pool.ParallelFor(hits.size(), [&](size_t i) { hits[i]++; });
  for (auto& h : hits) EXPECT_EQ(h.load(), 1);
}

TEST(ThreadPoolTest, SubmittedTasksRunBeforeDestruction) {
  std::atomic<int> n{0};
  {
    ThreadPool pool(2);
    for (int i = 0; i < 100; ++i) pool.Submit([&] { n++; });
  }
  EXPECT_EQ(n.load(), 100);
}

}  // namespace
}  // namespace floe
