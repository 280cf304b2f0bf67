// The CUDA backend's ops check the tensor views they are given (element type:
// the compute type; device: this GPU; shapes against the batch), as the CPU's
// do (tests/backend/tensor_view_checks.h), and a view's element type, not an
// "activation buffer" flag, decides whether CopyToHost converts. Compiled
// always with FLOE_CUDA, skipped without a GPU.
#include <gtest/gtest.h>

#include <cstring>
#include <iostream>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "backend/cuda/cuda_backend.h"
#include "backend/tensor_view_checks.h"
#include "cuda/cuda_test_util.h"

namespace floe {
namespace {

class CudaViewTest : public ::testing::TestWithParam<ComputeType> {
 protected:
  void SetUp() override {
    FLOE_SKIP_WITHOUT_GPU();
    gpu_ = cuda_test::MakeBackend("cuda", GetParam());
    ASSERT_TRUE(gpu_);
  }
  std::unique_ptr<Backend> gpu_;
};

TEST_P(CudaViewTest, EveryOpRefusesWrongViews) {
  EXPECT_EQ(gpu_->activation_dtype(), GetParam());
  EXPECT_EQ(gpu_->tensor_device(), Device::Cuda(0));
  std::vector<std::string> skipped;
  view_test::ExpectViewsChecked(gpu_.get(), &skipped);
  for (const std::string& s : skipped)
    std::cout << "[ skipped  ] " << s << " (UNIMPLEMENTED)\n";
}

TEST_P(CudaViewTest, CopyToHostConvertsWhatTheViewSays) {
  const std::vector<float> x = {1.f, -2.5f, 0.375f, 1024.f};  // exact in every type
  auto buf = cuda_test::Alloc(gpu_.get(), 64);
  ASSERT_TRUE(buf);
  const TensorView v = gpu_->View(*buf, GetParam(), {4});
  ASSERT_TRUE(gpu_->CopyToDevice(x.data(), v).ok());
  std::vector<float> back(4, 0.f);
  ASSERT_TRUE(gpu_->CopyToHost(v, back.data()).ok());
  EXPECT_EQ(back, x);
  // The byte copy copies bytes: 2 bytes an element in float16 / bfloat16.
  std::vector<uint8_t> raw(v.bytes());
  ASSERT_TRUE(gpu_->CopyToHost(buf->data(), raw.size(), raw.data()).ok());
  if (GetParam() == ComputeType::kFloat32) {
    EXPECT_EQ(std::memcmp(raw.data(), x.data(), raw.size()), 0);
  } else {
    EXPECT_EQ(raw.size(), 8u);
  }
  // A host view is no memory of this GPU.
  EXPECT_EQ(gpu_->CopyToHost(HostF32(x.data(), {4}), back.data()).code(),
            StatusCode::kInvalidArgument);
}

INSTANTIATE_TEST_SUITE_P(Types, CudaViewTest,
                         ::testing::Values(ComputeType::kFloat32, ComputeType::kFloat16,
                                           ComputeType::kBFloat16),
                         [](const auto& info) {
                           return std::string(ComputeTypeName(info.param));
                         });

}  // namespace
}  // namespace floe
