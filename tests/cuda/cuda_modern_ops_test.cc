// The newer encoders' ops on CUDA (RMSNorm, activations, gated FFN
// activations, rotary positions) against the CPU backend (float32) by
// normalised error, per compute type, and their refusals of bad views.
// Skips without a GPU.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "backend/cuda/cuda_backend.h"
#include "cuda/cuda_test_util.h"

namespace floe {
namespace {

using cuda_test::Download;
using cuda_test::MakeBackend;
using cuda_test::Nmse;
using cuda_test::NmseTolerance;
using cuda_test::Random;
using cuda_test::Upload;
using cuda_test::UploadActivations;

class CudaModernOpsTest : public cuda_test::CpuReferenceTest<true> {
 protected:

  // x (rows x cols) on both backends; returns the two views.
  struct Pair {
    std::unique_ptr<DeviceBuffer> c, g;
    TensorView vc, vg;
  };
  Pair Both(const std::vector<float>& x, int64_t rows, int64_t cols) {
    Pair p;
    p.c = Upload(cpu_.get(), x);
    p.g = UploadActivations(gpu_.get(), x);
    p.vc = cpu_->Activations(*p.c, rows, cols);
    p.vg = gpu_->Activations(*p.g, rows, cols);
    return p;
  }

};

const Activation kActs[] = {Activation::kSilu, Activation::kGeluErf, Activation::kGeluTanh,
                            Activation::kRelu};

TEST_P(CudaModernOpsTest, RmsNormMatchesCpuWithAndWithoutWeightsAndOffset) {
  for (int64_t hidden : {64, 1000}) {
    const int64_t rows = 37;
    auto x = Random(rows * hidden, 31, 2.f);
    for (auto& v : x) v += 0.7f;
    const auto w = Random(hidden, 32, 0.5f), b = Random(hidden, 33, 0.2f);
    auto wc = Upload(cpu_.get(), w), bc = Upload(cpu_.get(), b);
    auto wg = Upload(gpu_.get(), w), bg = Upload(gpu_.get(), b);
    struct Case { bool weight, bias; float offset; };
    for (Case k : {Case{true, true, 0.f}, Case{true, false, 1.f}, Case{false, false, 0.f}}) {
      Pair p = Both(x, rows, hidden);
      RmsNormSpec sc, sg;
      sc.hidden = sg.hidden = hidden;
      sc.eps = sg.eps = 1e-6f;
      sc.weight_offset = sg.weight_offset = k.offset;
      if (k.weight) {
        sc.weight = wc->f32();
        sg.weight = wg->f32();
      }
      if (k.bias) {
        sc.bias = bc->f32();
        sg.bias = bg->f32();
      }
      ASSERT_TRUE(cpu_->RmsNorm(p.vc, sc).ok());
      const Status s = gpu_->RmsNorm(p.vg, sg);
      ASSERT_TRUE(s.ok()) << s.ToString();
      EXPECT_LE(Nmse(Download(gpu_.get(), p.vg), Download(cpu_.get(), p.vc)), tol())
          << "hidden " << hidden << " weight " << k.weight << " bias " << k.bias << " offset "
          << k.offset;
    }
  }
}

TEST_P(CudaModernOpsTest, EveryActivationMatchesCpu) {
  const int64_t rows = 13, cols = 77;
  const auto x = Random(rows * cols, 34, 2.f);
  for (Activation act : kActs) {
    Pair p = Both(x, rows, cols);
    ASSERT_TRUE(cpu_->Activate(p.vc, act).ok());
    const Status s = gpu_->Activate(p.vg, act);
    ASSERT_TRUE(s.ok()) << s.ToString();
    EXPECT_LE(Nmse(Download(gpu_.get(), p.vg), Download(cpu_.get(), p.vc)), tol())
        << "act " << static_cast<int>(act);
  }
}

TEST_P(CudaModernOpsTest, EveryGatedActivationMatchesCpu) {
  const int64_t rows = 19, inner = 300;
  const auto x = Random(rows * 2 * inner, 35, 1.5f);
  for (Activation act : kActs) {
    Pair p = Both(x, rows, 2 * inner);
    Pair o = Both(std::vector<float>(rows * inner, 0.f), rows, inner);
    ASSERT_TRUE(cpu_->GatedActivation(p.vc, act, o.vc).ok());
    const Status s = gpu_->GatedActivation(p.vg, act, o.vg);
    ASSERT_TRUE(s.ok()) << s.ToString();
    EXPECT_LE(Nmse(Download(gpu_.get(), o.vg), Download(cpu_.get(), o.vc)), tol())
        << "act " << static_cast<int>(act);
  }
}

// Packed sequences of 1, 17, 42 and 4 tokens; the first 3 of 5 heads of 64
// rotate (a Q | K | V row leaves V alone), whole heads or 32 columns, both
// layouts, with a position offset and linear scaling.
TEST_P(CudaModernOpsTest, RotaryMatchesCpuOverPackedSequences) {
  const std::vector<int32_t> cu = {0, 1, 18, 60, 64};
  const int64_t B = 4, T = 64, H = 64, heads = 3, ld = 5 * H;
  auto cuc = Upload(cpu_.get(), cu), cug = Upload(gpu_.get(), cu);
  const PackedBatch bc{cu.data(), cuc->i32(), B, T, 42};
  const PackedBatch bg{cu.data(), cug->i32(), B, T, 42};
  const auto x = Random(T * ld, 36);
  struct Case { int64_t dims; RotaryLayout layout; double base; int64_t offset; double scale; };
  for (Case k : {Case{0, RotaryLayout::kHalfSplit, 10000.0, 0, 1.0},
                 Case{32, RotaryLayout::kHalfSplit, 160000.0, 2, 0.5},
                 Case{0, RotaryLayout::kInterleaved, 10000.0, 0, 1.0},
                 Case{16, RotaryLayout::kInterleaved, 500.0, 7, 1.0}}) {
    RotarySpec spec;
    spec.rotary_dims = k.dims;
    spec.layout = k.layout;
    spec.base = k.base;
    spec.position_offset = k.offset;
    spec.position_scale = k.scale;
    Pair p = Both(x, T, ld);
    ASSERT_TRUE(cpu_->Rotary(p.vc, heads, H, bc, spec).ok());
    const Status s = gpu_->Rotary(p.vg, heads, H, bg, spec);
    ASSERT_TRUE(s.ok()) << s.ToString();
    EXPECT_LE(Nmse(Download(gpu_.get(), p.vg), Download(cpu_.get(), p.vc)), tol())
        << "dims " << k.dims << " interleaved " << (k.layout == RotaryLayout::kInterleaved);
  }
}

TEST_P(CudaModernOpsTest, BadViewsAndPointersAreErrors) {
  const int64_t rows = 4, cols = 32;
  std::vector<float> host(rows * 2 * cols, 1.f);
  auto x = UploadActivations(gpu_.get(), host);
  const TensorView xv = gpu_->Activations(*x, rows, cols);
  RmsNormSpec spec;
  spec.hidden = cols;
  // Host memory where device memory is expected.
  Status s = gpu_->RmsNorm(HostF32(host.data(), {rows, cols}), spec);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << s.ToString();
  s = gpu_->Activate(TensorView(host.data(), gpu_->activation_dtype(), gpu_->tensor_device(),
                                {rows, cols}),
                     Activation::kSilu);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << s.ToString();
  spec.weight = host.data();  // a host weight
  s = gpu_->RmsNorm(xv, spec);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << s.ToString();
  // Another element type than the backend's activations.
  const DType other = gpu_->activation_dtype() == DType::kF32 ? DType::kBF16 : DType::kF32;
  s = gpu_->Activate(gpu_->View(*x, other, {rows, cols}), Activation::kRelu);
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition) << s.ToString();
  // kNone is no activation; gated output of the wrong width.
  EXPECT_EQ(gpu_->Activate(xv, Activation::kNone).code(), StatusCode::kInvalidArgument);
  auto out = UploadActivations(gpu_.get(), host);
  s = gpu_->GatedActivation(gpu_->Activations(*x, rows, 2 * cols), Activation::kSilu,
                            gpu_->Activations(*out, rows, cols + 1));
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << s.ToString();
  // Rotary with cu_seqlens in host memory.
  const std::vector<int32_t> cu = {0, rows};
  const PackedBatch bad{cu.data(), cu.data(), 1, rows, rows};
  s = gpu_->Rotary(xv, 1, cols, bad, RotarySpec{});
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << s.ToString();
  // Still works afterwards.
  spec.weight = nullptr;
  EXPECT_TRUE(gpu_->RmsNorm(xv, spec).ok());
  EXPECT_EQ(Download(gpu_.get(), xv).size(), static_cast<size_t>(rows * cols));
}

INSTANTIATE_TEST_SUITE_P(Types, CudaModernOpsTest,
                         ::testing::Values(ComputeType::kFloat32, ComputeType::kFloat16,
                                           ComputeType::kBFloat16),
                         cuda_test::TypeName);

}  // namespace
}  // namespace floe
