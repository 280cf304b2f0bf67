// The host-side rules of the CUDA backend's float32 Q/K/V (issue 17;
// src/backend/cuda/host/wide_qkv.h), on the CPU in every build: the
// FLOE_CUDA_QKV switch, and when a float32 copy may stand in for a
// compute-type view. The GPU side is tests/cuda/cuda_qkv_test.cc.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "backend/cuda/host/wide_qkv.h"

namespace floe {
namespace {

using cuda::host::ParseQkvPrecision;
using cuda::host::QkvPrecision;
using cuda::host::WideCopies;
using cuda::host::WideSlot;

TEST(CudaQkvSwitchTest, ParsesEveryValueAndDefaultsPerComputeType) {
  const struct {
    const char* value;
    QkvPrecision f16, bf16;  // what a float16 / bfloat16 backend runs
    bool known;
  } cases[] = {
      {nullptr, QkvPrecision::kF32, QkvPrecision::kTf32, true},
      {"", QkvPrecision::kF32, QkvPrecision::kTf32, true},
      {"tf32", QkvPrecision::kTf32, QkvPrecision::kTf32, true},
      {"f32", QkvPrecision::kF32, QkvPrecision::kF32, true},
      {"float32", QkvPrecision::kF32, QkvPrecision::kF32, true},
      {"compute", QkvPrecision::kCompute, QkvPrecision::kCompute, true},
      {"off", QkvPrecision::kCompute, QkvPrecision::kCompute, true},
      {"0", QkvPrecision::kCompute, QkvPrecision::kCompute, true},
      {"fp64", QkvPrecision::kF32, QkvPrecision::kTf32, false},
      {"TF32", QkvPrecision::kF32, QkvPrecision::kTf32, false},
  };
  for (const auto& c : cases) {
    const auto s = ParseQkvPrecision(c.value);
    const std::string name = c.value == nullptr ? "(unset)" : c.value;
    EXPECT_EQ(cuda::host::QkvPrecisionFor(s, true), c.f16) << name;
    EXPECT_EQ(cuda::host::QkvPrecisionFor(s, false), c.bf16) << name;
    EXPECT_EQ(s.known, c.known) << name;
  }
}

// One BERT layer as the CUDA backend sees it: every op calls NextOp first;
// the LayerNorms record their float32 copy, the Q/K/V product reads it and
// records its own, the attention reads that.
TEST(CudaWideCopiesTest, BertLayerFindsEachCopyRightAfterItsWriter) {
  WideCopies w;
  int h = 0, qkv = 0;  // stand-ins for the encoder's buffers
  const int64_t T = 77, D = 768;
  w.NextOp();  // EmbedLayerNorm
  w.Record(WideSlot::kInput, &h, T, D);
  for (int layer = 0; layer < 3; ++layer) {
    w.NextOp();  // Q/K/V product
    EXPECT_TRUE(w.Fresh(WideSlot::kInput, &h, T, D)) << "layer " << layer;
    w.Record(WideSlot::kQkv, &qkv, T, 3 * D);
    w.NextOp();  // attention
    EXPECT_TRUE(w.Fresh(WideSlot::kQkv, &qkv, T, 3 * D)) << "layer " << layer;
    w.Forget(WideSlot::kInput);  // its output went through slot kInput
    w.NextOp();                  // attention output product (deferred residual)
    w.NextOp();                  // bias + residual + LayerNorm
    w.Record(WideSlot::kInput, &h, T, D);
    w.NextOp();  // FFN in: not a kHigh product, the copy goes stale
    EXPECT_FALSE(w.Fresh(WideSlot::kQkv, &qkv, T, 3 * D));
    w.NextOp();  // FFN out
    w.NextOp();  // bias + residual + LayerNorm: the next layer's input
    w.Record(WideSlot::kInput, &h, T, D);
  }
}

TEST(CudaWideCopiesTest, AnyOpInBetweenMakesACopyStale) {
  WideCopies w;
  int h = 0;
  w.NextOp();
  w.Record(WideSlot::kInput, &h, 10, 32);
  w.NextOp();  // e.g. a copy to the device, a Pool, another LayerNorm
  w.NextOp();
  EXPECT_FALSE(w.Fresh(WideSlot::kInput, &h, 10, 32));
}

TEST(CudaWideCopiesTest, OnlyTheExactViewItWasWrittenFor) {
  WideCopies w;
  std::vector<int> h(4);
  w.NextOp();
  w.Record(WideSlot::kInput, h.data(), 10, 32);
  w.NextOp();
  EXPECT_TRUE(w.Fresh(WideSlot::kInput, h.data(), 10, 32));
  EXPECT_FALSE(w.Fresh(WideSlot::kInput, h.data() + 1, 10, 32)) << "another pointer";
  EXPECT_FALSE(w.Fresh(WideSlot::kInput, h.data(), 9, 32)) << "fewer rows";
  EXPECT_FALSE(w.Fresh(WideSlot::kInput, h.data(), 11, 32)) << "more rows";
  EXPECT_FALSE(w.Fresh(WideSlot::kInput, h.data(), 10, 64)) << "other columns";
  EXPECT_FALSE(w.Fresh(WideSlot::kQkv, h.data(), 10, 32)) << "the other slot";
  EXPECT_FALSE(w.Fresh(WideSlot::kInput, nullptr, 10, 32)) << "null";
}

TEST(CudaWideCopiesTest, ForgottenOrNeverWrittenIsNeverFresh) {
  WideCopies w;
  int h = 0;
  w.NextOp();
  EXPECT_FALSE(w.Fresh(WideSlot::kInput, &h, 1, 1)) << "never written";
  w.Record(WideSlot::kInput, &h, 1, 1);
  w.Forget(WideSlot::kInput);  // its buffer grew or was reused
  w.NextOp();
  EXPECT_FALSE(w.Fresh(WideSlot::kInput, &h, 1, 1));
  // Read in the op that wrote it (not after): not fresh either.
  w.Record(WideSlot::kQkv, &h, 1, 1);
  EXPECT_FALSE(w.Fresh(WideSlot::kQkv, &h, 1, 1));
}

}  // namespace
}  // namespace floe
