// The CUDA backend's CUDA graphs on the GPU (their host-side rules are
// tested on the CPU in tests/backend/cuda_host_test.cc): a region replayed
// as a graph gives what the CPU gives for new inputs each time; freed memory
// recaptures; FLOE_CUDA_GRAPHS=0 turns them off; a region a graph cannot
// hold runs eagerly; the BERT encoder replays its forward. Skips without a
// GPU.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/cuda_backend_impl.h"
#include "cuda/cuda_test_util.h"
#include "engine/bert_encoder.h"
#include "model/config.h"

namespace floe {
namespace {

using cuda_test::Alloc;
using cuda_test::Download;
using cuda_test::MakeBackend;
using cuda_test::MakeLinearSpec;
using cuda_test::Nmse;
using cuda_test::NmseTolerance;
using cuda_test::Random;
using cuda_test::ScopedEnv;
using cuda_test::Upload;
using cuda_test::UploadActivations;

cuda::CudaBackend* Cuda(Backend* b) { return dynamic_cast<cuda::CudaBackend*>(b); }

class CudaGraphTest : public cuda_test::CpuReferenceTest<false> {
 protected:
};

// A region (a product with GELU, a residual product, LayerNorm, mean pooling)
// on fixed buffers with new inputs each call.
struct Region {
  Backend* be;
  std::unique_ptr<LinearOp> up, down;
  std::unique_ptr<DeviceBuffer> x, mid, h, gamma, beta, cu, out;
  PackedBatch batch;
  std::vector<int32_t> cu_host;
  static constexpr int64_t kT = 45, kD = 64, kI = 128;

  Region(Backend* backend, uint32_t seed) : be(backend) {
    const auto w1 = Random(kI * kD, seed, 0.1f), b1 = Random(kI, seed + 1);
    const auto w2 = Random(kD * kI, seed + 2, 0.1f), b2 = Random(kD, seed + 3);
    up = std::move(be->CreateLinear(
                       MakeLinearSpec(w1, b1, kD, kI, Activation::kGeluErf, false, "up")))
             .value();
    down = std::move(be->CreateLinear(
                         MakeLinearSpec(w2, b2, kI, kD, Activation::kNone, true, "down")))
               .value();
    const int64_t rows = be->RoundUpRows(kT);
    x = Alloc(be, rows * kD * 4);
    h = Alloc(be, rows * kD * 4);
    mid = Alloc(be, rows * kI * 4);
    gamma = Upload(be, Random(kD, seed + 4));
    beta = Upload(be, Random(kD, seed + 5));
    cu_host = {0, 20, 45};
    cu = Upload(be, cu_host);
    out = Alloc(be, 2 * kD * 4);
    batch = PackedBatch{cu_host.data(), cu->i32(), 2, kT, 25};
  }
  // The region's ops: h = LN(h + GELU(x W1^T + b1) W2^T + b2), pooled.
  Status Ops() {
    const TensorView xv = be->Activations(*x, kT, kD), hv = be->Activations(*h, kT, kD);
    FLOE_RETURN_IF_ERROR(up->Forward(xv, be->Activations(*mid, kT, kI)));
    FLOE_RETURN_IF_ERROR(down->Forward(be->Activations(*mid, kT, kI), hv));
    FLOE_RETURN_IF_ERROR(be->LayerNorm(hv, gamma->f32(), beta->f32(), 1e-6f));
    return be->Pool(hv, batch, PoolKind::kMean, be->View(*out, DType::kF32, {2, kD}));
  }
  // x and h (the residual's start) both take `input`.
  Status SetInput(const std::vector<float>& input) {
    FLOE_RETURN_IF_ERROR(be->CopyToDevice(input.data(), be->Activations(*x, kT, kD)));
    return be->CopyToDevice(input.data(), be->Activations(*h, kT, kD));
  }
  std::vector<float> Result() { return Download(be, out->data(), 2 * kD); }
};

GraphKey RegionKey() {
  GraphKey k;
  k.owner = 1;
  k.tokens = Region::kT;
  k.seqs = 2;
  k.max_seqlen = 25;
  return k;
}

TEST_P(CudaGraphTest, ReplayedRegionMatchesCpuForNewInputs) {
  auto gpu = MakeBackend("cuda", GetParam());
  ASSERT_TRUE(gpu);
  Region rg(gpu.get(), 50), rc(cpu_.get(), 50);
  for (int call = 0; call < 5; ++call) {
    const auto input = Random(Region::kT * Region::kD, 60 + call);
    ASSERT_TRUE(rg.SetInput(input).ok());
    ASSERT_TRUE(rc.SetInput(input).ok());
    ASSERT_TRUE(rc.Ops().ok());
    const Status s = gpu->RunGraph(RegionKey(), [&] { return rg.Ops(); });
    ASSERT_TRUE(s.ok()) << s.ToString();
    EXPECT_LE(Nmse(rg.Result(), rc.Result()), tol()) << "call " << call;
  }
  const auto& st = Cuda(gpu.get())->graph_stats();
  EXPECT_EQ(st.eager, 1u);
  EXPECT_EQ(st.captures, 1u);
  EXPECT_EQ(st.replays, 3u);
  EXPECT_EQ(st.refused, 0u);
  EXPECT_EQ(Cuda(gpu.get())->graphs_held(), 1u);
}

TEST_P(CudaGraphTest, FreedMemoryRecapturesAndSwitchTurnsGraphsOff) {
  for (const char* on : {"1", "0"}) {
    ScopedEnv env("FLOE_CUDA_GRAPHS", on);
    auto gpu = MakeBackend("cuda", GetParam());
    ASSERT_TRUE(gpu);
    Region rg(gpu.get(), 70), rc(cpu_.get(), 70);
    for (int call = 0; call < 6; ++call) {
      if (call == 3) Alloc(gpu.get(), 4096).reset();  // a free: graphs may be stale
      const auto input = Random(Region::kT * Region::kD, 80 + call);
      ASSERT_TRUE(rg.SetInput(input).ok() && rc.SetInput(input).ok());
      ASSERT_TRUE(rc.Ops().ok());
      const Status s = gpu->RunGraph(RegionKey(), [&] { return rg.Ops(); });
      ASSERT_TRUE(s.ok()) << s.ToString();
      EXPECT_LE(Nmse(rg.Result(), rc.Result()), tol()) << "call " << call << " graphs " << on;
    }
    const auto& st = Cuda(gpu.get())->graph_stats();
    if (on[0] == '1') {
      EXPECT_EQ(st.captures, 2u);  // call 1, and call 3 after the free
      EXPECT_EQ(st.stale, 1u);
      EXPECT_EQ(st.replays, 3u);
    } else {
      EXPECT_EQ(st.captures + st.replays + st.eager, 0u);
      EXPECT_EQ(Cuda(gpu.get())->graphs_held(), 0u);
    }
  }
}

// A copy to the host inside the region waits for the stream, which a
// capture cannot hold: the key is refused and the region runs eagerly.
TEST_P(CudaGraphTest, ARegionAGraphCannotHoldRunsEagerly) {
  auto gpu = MakeBackend("cuda", GetParam());
  ASSERT_TRUE(gpu);
  Region rg(gpu.get(), 90), rc(cpu_.get(), 90);
  for (int call = 0; call < 4; ++call) {
    const auto input = Random(Region::kT * Region::kD, 100 + call);
    ASSERT_TRUE(rg.SetInput(input).ok() && rc.SetInput(input).ok());
    ASSERT_TRUE(rc.Ops().ok());
    std::vector<float> seen(2 * Region::kD);
    const Status s = gpu->RunGraph(RegionKey(), [&]() -> Status {
      FLOE_RETURN_IF_ERROR(rg.Ops());
      return gpu->CopyToHost(rg.out->data(), seen.size() * sizeof(float), seen.data());
    });
    ASSERT_TRUE(s.ok()) << s.ToString();
    EXPECT_LE(Nmse(seen, rc.Result()), tol()) << "call " << call;
  }
  const auto& st = Cuda(gpu.get())->graph_stats();
  EXPECT_EQ(st.refused, 1u);
  EXPECT_EQ(st.replays, 0u);
  EXPECT_EQ(Cuda(gpu.get())->graphs_held(), 0u);
}

// The BERT encoder's forward: the same batch again replays its graph and
// gives the first (eager) run's vectors; another shape runs eagerly.
TEST_P(CudaGraphTest, EncoderForwardReplaysForTheSameBatch) {
  auto model = ModelFolder::Open(std::string(FLOE_TEST_DATA) + "/models/bert-tiny-cls");
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  auto gpu = MakeBackend("cuda", GetParam());
  ASSERT_TRUE(gpu);
  auto enc = BertEncoder::Create(**model, gpu.get());
  ASSERT_TRUE(enc.ok()) << enc.status().ToString();
  const int64_t D = (*model)->config.hidden_size;
  const std::vector<int32_t> a = {2, 17, 33, 41, 5, 3}, b = {2, 60, 3}, c = {2, 9, 10, 11, 3};
  const std::vector<const std::vector<int32_t>*> batch = {&a, &b}, other = {&c};
  std::vector<float> first(2 * D), again(2 * D), lone(D);
  ASSERT_TRUE((*enc)->Forward(batch, PoolKind::kMean, first.data()).ok());
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE((*enc)->Forward(other, PoolKind::kMean, lone.data()).ok());
    const Status s = (*enc)->Forward(batch, PoolKind::kMean, again.data());
    ASSERT_TRUE(s.ok()) << s.ToString();
    EXPECT_LE(Nmse(again, first), tol()) << "pass " << i;
  }
  const auto& st = Cuda(gpu.get())->graph_stats();
  EXPECT_EQ(st.refused, 0u);
  EXPECT_GE(st.replays, 2u);
}

INSTANTIATE_TEST_SUITE_P(Types, CudaGraphTest,
                         ::testing::Values(ComputeType::kFloat32, ComputeType::kFloat16,
                                           ComputeType::kBFloat16),
                         cuda_test::TypeName);

}  // namespace
}  // namespace floe
