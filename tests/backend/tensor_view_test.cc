// Tensor views (backend/tensor.h): their helpers, CheckTensor's verdicts and
// words, and every CPU op refusing a view of the wrong element type, device
// or shape (tensor_view_checks.h; the CUDA run is tests/cuda).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "backend/backend.h"
#include "backend/tensor.h"
#include "backend/tensor_view_checks.h"

namespace floe {
namespace {

TEST(TensorViewTest, ShapeHelpers) {
  std::vector<uint16_t> mem(2 * 3 * 4);
  const TensorView v(mem.data(), DType::kBF16, Device::Cuda(1), {2, 3, 4}, 100);
  EXPECT_EQ(v.rank, 3);
  EXPECT_EQ(v.rows(), 2);
  EXPECT_EQ(v.cols(), 12);
  EXPECT_EQ(v.numel(), 24);
  EXPECT_EQ(v.bytes(), 48u);
  EXPECT_EQ(v.room(), 100u);
  EXPECT_EQ(v.dim(3), 1);
  EXPECT_EQ(v.as<uint16_t>(), mem.data());
  const TensorView r = v.Rows(1, 1);
  EXPECT_EQ(r.as<uint16_t>(), mem.data() + 12);
  EXPECT_EQ(r.rows(), 1);
  EXPECT_EQ(r.capacity, 100u - 24u);
  EXPECT_EQ(DescribeTensor(v), "bfloat16 [2, 3, 4] on cuda:1");
  EXPECT_EQ(DeviceName(Device::Cpu()), "cpu");
  EXPECT_EQ(DTypeSize(DType::kI8), 1u);
  EXPECT_EQ(DTypeSize(DType::kI32), 4u);
  // The compute types are the same enum.
  EXPECT_EQ(ComputeType::kBFloat16, DType::kBF16);
  EXPECT_EQ(ComputeTypeName(DType::kF16), "float16");
}

TEST(TensorViewTest, CheckTensorVerdictsAndWords) {
  std::vector<float> mem(12);
  const TensorView v = HostF32(mem.data(), {3, 4});
  EXPECT_TRUE(CheckTensor(v, "op", "x", DType::kF32, Device::Cpu(), {3, 4}).ok());
  EXPECT_TRUE(CheckTensor(v, "op", "x", DType::kF32, Device::Cpu(), {-1, 4}).ok());
  const Status dtype = CheckTensor(v, "my_op", "x", DType::kF16, Device::Cpu(), {3, 4});
  EXPECT_EQ(dtype.code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(dtype.message(),
            "my_op: x is float32 [3, 4] on cpu, expected float16 [3, 4] on cpu");
  const Status device =
      CheckTensor(v, "my_op", "y", DType::kF16, Device::Cuda(0), {3, 4});
  EXPECT_EQ(device.code(), StatusCode::kInvalidArgument) << "a wrong device comes first";
  EXPECT_NE(device.message().find("on cuda:0"), std::string::npos) << device.message();
  const Status shape =
      CheckTensor(v, "my_op", "x", DType::kF32, Device::Cpu(), {3, -1, 4});
  EXPECT_EQ(shape.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(shape.message().find("expected float32 [3, *, 4]"), std::string::npos)
      << shape.message();
  const TensorView null(nullptr, DType::kF32, Device::Cpu(), {3, 4});
  EXPECT_EQ(CheckTensor(null, "op", "x", DType::kF32, Device::Cpu(), {3, 4}).code(),
            StatusCode::kInvalidArgument);
}

TEST(TensorViewTest, EveryCpuOpRefusesWrongViews) {
  for (ComputeType ct : {ComputeType::kFloat32, ComputeType::kBFloat16}) {
    RuntimeOptions o;
    o.dtype = std::string(ComputeTypeName(ct));
    auto be = CreateBackend(o);
    if (!be.ok()) continue;  // bfloat16 where this CPU cannot
    EXPECT_EQ((*be)->activation_dtype(), DType::kF32) << "the CPU's activations";
    std::vector<std::string> skipped;
    view_test::ExpectViewsChecked(be->get(), &skipped);
    EXPECT_TRUE(skipped.empty()) << "the CPU runs every op; missing: " << skipped.front();
  }
}

TEST(TensorViewTest, HalfViewsCopyAsFloat32OrAreRefused) {
  auto be = CreateBackend({});
  ASSERT_TRUE(be.ok());
  std::vector<uint16_t> half(4);
  std::vector<float> host(4);
  const TensorView v(half.data(), DType::kF16, Device::Cpu(), {4});
  EXPECT_EQ((*be)->CopyToHost(v, host.data()).code(), StatusCode::kUnimplemented);
  std::vector<int32_t> ints(4);
  const TensorView i(ints.data(), DType::kI32, Device::Cpu(), {4});
  EXPECT_EQ((*be)->CopyToHost(i, host.data()).code(), StatusCode::kInvalidArgument);
  std::vector<float> f = {1, 2, 3, 4};
  ASSERT_TRUE((*be)->CopyToHost(HostF32(f.data(), {4}), host.data()).ok());
  EXPECT_EQ(host, f);
}

}  // namespace
}  // namespace floe
