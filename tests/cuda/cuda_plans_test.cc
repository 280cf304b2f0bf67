// The CUDA backend's row buckets and shared cuBLASLt plans on the GPU (the
// policy and the cache's bookkeeping are tested on the CPU in
// tests/backend/cuda_host_test.cc): products on a bucket's rows match the
// CPU, and layers of one shape share one plan per bucket. Skips without a
// GPU.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "backend/backend.h"
#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/cuda_backend_impl.h"
#include "cuda/cuda_test_util.h"

namespace floe {
namespace {

using cuda_test::Alloc;
using cuda_test::Download;
using cuda_test::MakeBackend;
using cuda_test::MakeLinearSpec;
using cuda_test::Nmse;
using cuda_test::NmseTolerance;
using cuda_test::Random;
using cuda_test::Upload;
using cuda_test::UploadActivations;

cuda::CudaBackend* Cuda(Backend* b) { return dynamic_cast<cuda::CudaBackend*>(b); }

class CudaPlanTest : public cuda_test::CpuReferenceTest<false> {
 protected:
};

// Two layers of the same shapes at 50 and 60 rows (one bucket, 64) need
// one plan per shape, and match the CPU.
TEST_P(CudaPlanTest, LayersShareBucketPlansAndMatchCpu) {
  auto gpu = MakeBackend("cuda", GetParam());
  ASSERT_TRUE(gpu);
  EXPECT_EQ(gpu->RoundUpRows(50), 64);
  const int64_t k = 128, n = 96;
  const auto w1 = Random(n * k, 41, 0.05f), w2 = Random(n * k, 42, 0.05f), b = Random(n, 43);
  auto g1 = gpu->CreateLinear(MakeLinearSpec(w1, b, k, n, Activation::kGeluErf, false, "l1"));
  auto g2 = gpu->CreateLinear(MakeLinearSpec(w2, b, k, n, Activation::kGeluErf, false, "l2"));
  auto c1 = cpu_->CreateLinear(MakeLinearSpec(w1, b, k, n, Activation::kGeluErf, false, "l1"));
  auto c2 = cpu_->CreateLinear(MakeLinearSpec(w2, b, k, n, Activation::kGeluErf, false, "l2"));
  ASSERT_TRUE(g1.ok() && g2.ok() && c1.ok() && c2.ok()) << g1.status().ToString();
  const int64_t room = 64;
  for (int64_t m : {50, 60}) {
    const auto x = Random(room * k, 44 + m);
    auto xc = Upload(cpu_.get(), x), xg = UploadActivations(gpu.get(), x);
    for (auto* l : {&g1, &g2}) {
      auto* c = l == &g1 ? &c1 : &c2;
      auto yc = Alloc(cpu_.get(), room * n * 4), yg = Alloc(gpu.get(), room * n * 4);
      const TensorView yvc = cpu_->Activations(*yc, m, n), yvg = gpu->Activations(*yg, m, n);
      ASSERT_TRUE((**c)->Forward(cpu_->Activations(*xc, m, k), yvc).ok());
      const Status s = (**l)->Forward(gpu->Activations(*xg, m, k), yvg);
      ASSERT_TRUE(s.ok()) << s.ToString();
      EXPECT_LE(Nmse(Download(gpu.get(), yvg), Download(cpu_.get(), yvc)), tol()) << m;
    }
  }
  EXPECT_EQ(Cuda(gpu.get())->plan_cache().misses(), 1u);
  EXPECT_EQ(Cuda(gpu.get())->plan_cache().hits(), 3u);
}

INSTANTIATE_TEST_SUITE_P(Types, CudaPlanTest,
                         ::testing::Values(ComputeType::kFloat32, ComputeType::kFloat16,
                                           ComputeType::kBFloat16),
                         [](const auto& info) { return std::string(ComputeTypeName(info.param)); });

}  // namespace
}  // namespace floe
