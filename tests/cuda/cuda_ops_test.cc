// Every CUDA op against the CPU backend (float32) by normalised error, per
// compute type, as ggml's test-backend-ops compares backends. Skips without
// a GPU.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "backend/cuda/cuda_backend.h"
#include "cuda/cuda_test_util.h"

namespace floe {
namespace {

using cuda_test::Alloc;
using cuda_test::MakeBatch;
using cuda_test::Download;
using cuda_test::MakeBackend;
using cuda_test::Nmse;
using cuda_test::NmseTolerance;
using cuda_test::Random;
using cuda_test::ScopedEnv;
using cuda_test::Upload;
using cuda_test::UploadActivations;

using cuda_test::TypeName;

class CudaOpsTest : public cuda_test::CpuReferenceTest<true> {
 protected:

};

LinearSpec Spec(const std::vector<float>& w, const std::vector<float>& bias, int64_t k, int64_t n,
                Activation act, bool accumulate) {
  return cuda_test::MakeLinearSpec(w, bias, k, n, act, accumulate, "test");
}

TEST_P(CudaOpsTest, LinearWithEveryEpilogueMatchesCpu) {
  struct Shape { int64_t k, n; };
  for (Shape sh : {Shape{256, 384}, Shape{100, 72}}) {
    const auto w = Random(sh.n * sh.k, 1, 0.05f), bias = Random(sh.n, 2, 0.5f);
    for (Activation act : {Activation::kNone, Activation::kGeluErf, Activation::kGeluTanh,
                           Activation::kRelu}) {
      auto lc = cpu_->CreateLinear(Spec(w, bias, sh.k, sh.n, act, false));
      auto lg = gpu_->CreateLinear(Spec(w, bias, sh.k, sh.n, act, false));
      ASSERT_TRUE(lc.ok() && lg.ok()) << lc.status().ToString() << lg.status().ToString();
      for (int64_t m : {1, 7, 50, 333}) {
        // Room for both backends' padded rows (CUDA: m's bucket).
        const int64_t rows = std::max(cpu_->RoundUpRows(m), gpu_->RoundUpRows(m));
        const auto x = Random(rows * sh.k, 3 + m);
        auto xc = Upload(cpu_.get(), x), yc = Alloc(cpu_.get(), rows * sh.n * 4);
        auto xg = UploadActivations(gpu_.get(), x), yg = Alloc(gpu_.get(), rows * sh.n * 4);
        const TensorView yvc = cpu_->Activations(*yc, m, sh.n);
        const TensorView yvg = gpu_->Activations(*yg, m, sh.n);
        ASSERT_TRUE((*lc)->Forward(cpu_->Activations(*xc, m, sh.k), yvc).ok());
        const Status s = (*lg)->Forward(gpu_->Activations(*xg, m, sh.k), yvg);
        ASSERT_TRUE(s.ok()) << s.ToString();
        auto want = Download(cpu_.get(), yvc);
        auto got = Download(gpu_.get(), yvg);
        EXPECT_LE(Nmse(got, want), tol()) << "k " << sh.k << " n " << sh.n << " act "
                                          << static_cast<int>(act) << " m " << m;
      }
    }
  }
}

// y += x W^T + b, read back directly (the deferred residual is flushed by
// CopyToHost) and through the following LayerNorm (fused with it), with
// the fusion on and off.
TEST_P(CudaOpsTest, ResidualLinearAloneAndFusedWithLayerNormMatchesCpu) {
  for (const char* fused : {"1", "0"}) {
    ScopedEnv env("FLOE_CUDA_FUSED_RESIDUAL_LN", fused);
    auto gpu = MakeBackend("cuda", GetParam());
    ASSERT_TRUE(gpu);
    const int64_t k = 192, n = 96, m = 61;
    const int64_t rows = std::max(cpu_->RoundUpRows(m), gpu->RoundUpRows(m));
    const auto w = Random(n * k, 5, 0.05f), bias = Random(n, 6, 0.5f);
    const auto gamma = Random(n, 7, 0.3f), beta = Random(n, 8, 0.3f);
    auto gc = Upload(cpu_.get(), gamma), bc = Upload(cpu_.get(), beta);
    auto gg = Upload(gpu.get(), gamma), bg = Upload(gpu.get(), beta);
    auto lc = cpu_->CreateLinear(Spec(w, bias, k, n, Activation::kNone, true));
    auto lg = gpu->CreateLinear(Spec(w, bias, k, n, Activation::kNone, true));
    ASSERT_TRUE(lc.ok() && lg.ok()) << lc.status().ToString() << lg.status().ToString();
    for (bool with_ln : {false, true}) {
      const auto x = Random(rows * k, 9), y0 = Random(rows * n, 10);
      auto xc = Upload(cpu_.get(), x), yc = Upload(cpu_.get(), y0);
      auto xg = UploadActivations(gpu.get(), x), yg = UploadActivations(gpu.get(), y0);
      const TensorView yvc = cpu_->Activations(*yc, m, n),
                       yvg = gpu->Activations(*yg, m, n);
      ASSERT_TRUE((*lc)->Forward(cpu_->Activations(*xc, m, k), yvc).ok());
      Status s = (*lg)->Forward(gpu->Activations(*xg, m, k), yvg);
      ASSERT_TRUE(s.ok()) << s.ToString();
      if (with_ln) {
        ASSERT_TRUE(cpu_->LayerNorm(yvc, gc->f32(), bc->f32(), 1e-12f).ok());
        s = gpu->LayerNorm(yvg, gg->f32(), bg->f32(), 1e-12f);
        ASSERT_TRUE(s.ok()) << s.ToString();
      }
      auto want = Download(cpu_.get(), yvc);
      auto got = Download(gpu.get(), yvg);
      EXPECT_LE(Nmse(got, want), tol()) << "fused " << fused << " with_ln " << with_ln;
    }
  }
}

TEST_P(CudaOpsTest, EmbedLayerNormMatchesCpu) {
  // Lengths 5, 32, 1, 62 with positions from 2 (the RoBERTa family's offset)
  // use rows up to 63 of P = 64; token type 1 from index 2, none, 0, 30.
  const int64_t V = 50, P = 64, D = 96, kOffset = 2;
  auto batch = MakeBatch(cpu_.get(), gpu_.get(), {0, 5, 37, 38, 100});
  const int64_t T = batch.cu.back();
  std::vector<int32_t> ids(T);
  for (int64_t t = 0; t < T; ++t) ids[t] = static_cast<int32_t>((t * 7919) % V);
  const std::vector<int32_t> type1 = {2, 40, 0, 30};
  const auto word = Random(V * D, 11), pos = Random(P * D, 12), tt = Random(2 * D, 13);
  const auto gamma = Random(D, 14), beta = Random(D, 15);
  std::unique_ptr<DeviceBuffer> c[6], g[6];
  const std::vector<float>* host[5] = {&word, &pos, &tt, &gamma, &beta};
  for (int i = 0; i < 5; ++i) {
    c[i] = Upload(cpu_.get(), *host[i]);
    g[i] = Upload(gpu_.get(), *host[i]);
  }
  auto tc = Upload(cpu_.get(), type1), tg = Upload(gpu_.get(), type1);
  batch.cpu.type1_from_host = batch.gpu.type1_from_host = type1.data();
  batch.cpu.type1_from_device = tc->i32();
  batch.gpu.type1_from_device = tg->i32();
  auto ic = Upload(cpu_.get(), ids), ig = Upload(gpu_.get(), ids);
  auto oc = Alloc(cpu_.get(), T * D * 4), og = Alloc(gpu_.get(), T * D * 4);
  const auto tables = [&](std::unique_ptr<DeviceBuffer>* b) {
    EmbeddingTables e;
    e.word = b[0]->f32();
    e.position = b[1]->f32();
    e.token_type = b[2]->f32();
    e.gamma = b[3]->f32();
    e.beta = b[4]->f32();
    e.position_offset = kOffset;
    return e;
  };
  const TensorView ovc = cpu_->Activations(*oc, T, D), ovg = gpu_->Activations(*og, T, D);
  ASSERT_TRUE(cpu_->EmbedLayerNorm(ic->i32(), batch.cpu, tables(c), 1e-12f, ovc).ok());
  const Status s = gpu_->EmbedLayerNorm(ig->i32(), batch.gpu, tables(g), 1e-12f, ovg);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_LE(Nmse(Download(gpu_.get(), ovg), Download(cpu_.get(), ovc)), tol());
}

// D = 96, 768 and 1000 take the one-warp-per-row kernel (D <= 1024 and a
// row a multiple of 16 bytes in every type) unless it is switched off; 1030
// always the one-block-per-row kernel.
TEST_P(CudaOpsTest, LayerNormMatchesCpuAtSmallAndLargeHidden) {
  for (const char* warp : {"1", "0"}) {
    ScopedEnv env("FLOE_CUDA_WARP_LAYERNORM", warp);
    auto gpu = MakeBackend("cuda", GetParam());
    ASSERT_TRUE(gpu);
    for (int64_t D : {96, 768, 1000, 1030}) {
      const int64_t rows = 77;
      auto x = Random(rows * D, 16, 3.f);
      for (auto& v : x) v += 1.5f;  // a mean far from zero
      const auto gamma = Random(D, 17), beta = Random(D, 18);
      auto xc = Upload(cpu_.get(), x), xg = UploadActivations(gpu.get(), x);
      auto gc = Upload(cpu_.get(), gamma), bc = Upload(cpu_.get(), beta);
      auto gg = Upload(gpu.get(), gamma), bg = Upload(gpu.get(), beta);
      const TensorView xvc = cpu_->Activations(*xc, rows, D);
      const TensorView xvg = gpu->Activations(*xg, rows, D);
      ASSERT_TRUE(cpu_->LayerNorm(xvc, gc->f32(), bc->f32(), 1e-5f).ok());
      const Status s = gpu->LayerNorm(xvg, gg->f32(), bg->f32(), 1e-5f);
      ASSERT_TRUE(s.ok()) << s.ToString();
      EXPECT_LE(Nmse(Download(gpu.get(), xvg), Download(cpu_.get(), xvc)), tol())
          << "D " << D << " warp " << warp;
    }
  }
}

// The CUDA-core kernels (FLOE_CUDA_ATTENTION=simple; the tensor-core one is
// cuda_attention_test.cc's): head sizes 32 and 64 take the tiled (flash)
// kernel, 16 and 80 the one-warp-per-row one; both kernels for 64 with the
// switch off.
TEST_P(CudaOpsTest, AttentionOverVariableLengthsMatchesCpu) {
  struct Case { int64_t heads, head_size; const char* flash; };
  for (Case c : {Case{3, 16, "1"}, Case{2, 32, "1"}, Case{2, 64, "1"}, Case{2, 64, "0"},
                 Case{2, 80, "1"}}) {
    ScopedEnv simple("FLOE_CUDA_ATTENTION", "simple");
    ScopedEnv env("FLOE_CUDA_FLASH_ATTENTION", c.flash);
    auto gpu = MakeBackend("cuda", GetParam());
    ASSERT_TRUE(gpu);
    auto batch = MakeBatch(cpu_.get(), gpu.get(), {0, 1, 18, 318, 331, 395});
    const int64_t T = batch.cu.back(), D = c.heads * c.head_size;
    const auto qkv = Random(T * 3 * D, 19);
    auto qc = Upload(cpu_.get(), qkv), qg = UploadActivations(gpu.get(), qkv);
    auto oc = Alloc(cpu_.get(), T * D * 4), og = Alloc(gpu.get(), T * D * 4);
    const float scale = 1.f / std::sqrt(static_cast<float>(c.head_size));
    const TensorView ovc = cpu_->Activations(*oc, T, D),
                     ovg = gpu->Activations(*og, T, D);
    ASSERT_TRUE(cpu_->Attention(cpu_->Activations(*qc, T, 3 * D), batch.cpu, c.heads,
                                c.head_size, scale, ovc)
                    .ok());
    const Status s = gpu->Attention(gpu->Activations(*qg, T, 3 * D), batch.gpu, c.heads,
                                    c.head_size, scale, ovg);
    ASSERT_TRUE(s.ok()) << s.ToString();
    EXPECT_LE(Nmse(Download(gpu.get(), ovg), Download(cpu_.get(), ovc)), tol())
        << "H " << c.head_size << " flash " << c.flash;
  }
}

TEST_P(CudaOpsTest, EveryPoolingMatchesCpuAndIsFloat32) {
  auto batch = MakeBatch(cpu_.get(), gpu_.get(), {0, 1, 9, 140, 141});
  const int64_t T = batch.cu.back(), B = 4, D = 300;
  const auto h = Random(T * D, 20);
  auto hc = Upload(cpu_.get(), h), hg = UploadActivations(gpu_.get(), h);
  for (PoolKind kind : {PoolKind::kCls, PoolKind::kMean, PoolKind::kMax, PoolKind::kLastToken}) {
    auto oc = Alloc(cpu_.get(), B * D * 4), og = Alloc(gpu_.get(), B * D * 4);
    ASSERT_TRUE(cpu_->Pool(cpu_->Activations(*hc, T, D), batch.cpu, kind,
                           cpu_->View(*oc, DType::kF32, {B, D}))
                    .ok());
    const Status s = gpu_->Pool(gpu_->Activations(*hg, T, D), batch.gpu, kind,
                                gpu_->View(*og, DType::kF32, {B, D}));
    ASSERT_TRUE(s.ok()) << s.ToString();
    EXPECT_LE(Nmse(Download(gpu_.get(), og->data(), B * D), Download(cpu_.get(), oc->data(), B * D)),
              tol())
        << "kind " << static_cast<int>(kind);
  }
}

TEST_P(CudaOpsTest, ActivationsReadBackAsFloat32) {
  const auto x = Random(1000, 21);
  auto xg = UploadActivations(gpu_.get(), x);
  EXPECT_LE(Nmse(Download(gpu_.get(), gpu_->Activations(*xg, 1000, 1)), x), tol());
}

TEST_P(CudaOpsTest, BadPointersAreErrorsNotCrashes) {
  const auto w = Random(64 * 32, 22, 0.1f), bias = Random(64, 23);
  auto lin = gpu_->CreateLinear(Spec(w, bias, 32, 64, Activation::kNone, false));
  ASSERT_TRUE(lin.ok()) << lin.status().ToString();
  std::vector<float> host_x(32 * 4), host_y(64 * 4);
  auto y = Alloc(gpu_.get(), 64 * 4 * 4);
  const DType act = gpu_->activation_dtype();
  const TensorView yv = gpu_->Activations(*y, 4, 64);
  // Host memory where device memory is expected: a view that says so, and
  // one that claims to be on the GPU.
  Status s = (*lin)->Forward(HostF32(host_x.data(), {4, 32}), yv);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << s.ToString();
  s = (*lin)->Forward(TensorView(host_x.data(), act, gpu_->tensor_device(), {4, 32}), yv);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << s.ToString();
  // A view of another element type than the backend's activations.
  auto raw = Upload(gpu_.get(), host_x);
  const DType other = act == DType::kF32 ? DType::kBF16 : DType::kF32;
  s = (*lin)->Forward(gpu_->View(*raw, other, {4, 32}), yv);
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition) << s.ToString();
  // Too few rows of room.
  auto x = UploadActivations(gpu_.get(), host_x);
  s = (*lin)->Forward(gpu_->Activations(*x, 400, 32), gpu_->Activations(*y, 400, 64));
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << s.ToString();
  // Shapes that do not match the product.
  s = (*lin)->Forward(gpu_->Activations(*x, 4, 16), yv);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << s.ToString();
  // The backend still works afterwards.
  EXPECT_TRUE((*lin)->Forward(gpu_->Activations(*x, 4, 32), yv).ok());
  EXPECT_TRUE(gpu_->CopyToHost(yv, host_y.data()).ok());
}

TEST_P(CudaOpsTest, MemoryBudgetIsEnforced) {
  RuntimeOptions o;
  o.device = "cuda";
  o.dtype = std::string(ComputeTypeName(GetParam()));
  o.gpu_memory_fraction = 1e-6;  // less than the cuBLASLt workspace
  auto b = CreateBackend(o);
  ASSERT_FALSE(b.ok());
  EXPECT_EQ(b.status().code(), StatusCode::kResourceExhausted) << b.status().ToString();
  EXPECT_NE(b.status().message().find("gpu-memory-utilization"), std::string::npos);
}

INSTANTIATE_TEST_SUITE_P(Types, CudaOpsTest,
                         ::testing::Values(ComputeType::kFloat32, ComputeType::kFloat16,
                                           ComputeType::kBFloat16),
                         TypeName);

}  // namespace
}  // namespace floe
