// Q/K/V on float32 copies (issue 17, src/backend/cuda/host/wide_qkv.h) and
// the fused bias + GELU kernel, against the CPU backend (float32). Skips
// without a GPU.
//
// CudaQkvTest: LayerNorm -> kHigh product -> Attention with sharp scores
// (std ~16, like the base-shaped random model's), per compute type, with
// FLOE_CUDA_QKV = tf32 (default), f32 and compute.
// CudaBaseModelGoldenTest.HalfTypesMatchCpuFloat32AtMixedLengths: the whole
// encoder on FLOE_BASE_MODEL (scripts/gpu-proof.sh's "base" suite sets it)
// against the CPU backend in float32, 24 sequences of 2 to 512 tokens, at
// the bound cuda_test::BaseModelMinCosine gives (0.999 in float16).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "backend/cuda/cuda_backend.h"
#include "cuda/cuda_test_util.h"
#include "engine/bert_encoder.h"
#include "model/config.h"

namespace floe {
namespace {

using cuda_test::Alloc;
using cuda_test::Download;
using cuda_test::MakeBackend;
using cuda_test::MakeBatch;
using cuda_test::Nmse;
using cuda_test::NmseTolerance;
using cuda_test::Random;
using cuda_test::RoundTo;
using cuda_test::ScopedEnv;
using cuda_test::Upload;
using cuda_test::UploadActivations;

class CudaQkvTest : public cuda_test::CpuReferenceTest<false> {};

constexpr int64_t kHeads = 4, kHead = 64, kD = kHeads * kHead;

struct QkvErrors {
  double product = 0;    // the kHigh product's y against the CPU's
  double attention = 0;  // the attention output against the CPU's
};

// LayerNorm (or not: with_ln false runs the product on x as uploaded) ->
// kHigh Q/K/V product -> Attention on the CPU (float32) and on a CUDA backend
// created with FLOE_CUDA_QKV = qkv; the normalised errors of the product's y
// and of the attention output.
QkvErrors RunLayer(Backend* cpu, ComputeType t, const char* qkv, bool with_ln) {
  ScopedEnv env("FLOE_CUDA_QKV", qkv);
  auto gpu = MakeBackend("cuda", t);
  if (!gpu) return {INFINITY, INFINITY};
  auto batch = MakeBatch(cpu, gpu.get(), {0, 1, 18, 82, 147, 347});
  const int64_t T = batch.cu.back();
  const int64_t rows = std::max(cpu->RoundUpRows(T), gpu->RoundUpRows(T));
  // Inputs rounded to the type first, so that both backends start equal.
  const auto x = RoundTo(t, Random(rows * kD, 21));
  const auto gamma = Random(kD, 22, 0.1f), beta = Random(kD, 23, 0.05f);
  // Weights of std 0.25 on unit LayerNorm outputs: scores of std ~16.
  const auto w = Random(3 * kD * kD, 24, 0.25f), bias = Random(3 * kD, 25, 0.05f);
  std::vector<float> ones(kD, 1.f);
  for (int64_t i = 0; i < kD; ++i) ones[i] += gamma[i];
  LinearSpec spec = cuda_test::MakeLinearSpec(w, bias, kD, 3 * kD, Activation::kNone, false,
                                              "qkv");
  spec.precision = LinearPrecision::kHigh;
  auto lc = cpu->CreateLinear(spec);
  auto lg = gpu->CreateLinear(spec);
  EXPECT_TRUE(lc.ok() && lg.ok()) << lc.status().ToString() << lg.status().ToString();
  if (!lc.ok() || !lg.ok()) return {INFINITY, INFINITY};
  auto gc = Upload(cpu, ones), bc = Upload(cpu, beta);
  auto gg = Upload(gpu.get(), ones), bg = Upload(gpu.get(), beta);
  auto xc = Upload(cpu, x), xg = UploadActivations(gpu.get(), x);
  auto qc = Alloc(cpu, rows * 3 * kD * 4), qg = Alloc(gpu.get(), rows * 3 * kD * 4);
  auto oc = Alloc(cpu, rows * kD * 4), og = Alloc(gpu.get(), rows * kD * 4);
  const TensorView xvc = cpu->Activations(*xc, T, kD), xvg = gpu->Activations(*xg, T, kD);
  const TensorView qvc = cpu->Activations(*qc, T, 3 * kD), qvg = gpu->Activations(*qg, T, 3 * kD);
  const TensorView ovc = cpu->Activations(*oc, T, kD), ovg = gpu->Activations(*og, T, kD);
  const float scale = 1.f / std::sqrt(static_cast<float>(kHead));
  if (with_ln) {
    EXPECT_TRUE(cpu->LayerNorm(xvc, gc->f32(), bc->f32(), 1e-12f).ok());
    const Status s = gpu->LayerNorm(xvg, gg->f32(), bg->f32(), 1e-12f);
    EXPECT_TRUE(s.ok()) << s.ToString();
  }
  EXPECT_TRUE((*lc)->Forward(xvc, qvc).ok());
  Status s = (*lg)->Forward(xvg, qvg);
  EXPECT_TRUE(s.ok()) << s.ToString();
  EXPECT_TRUE(cpu->Attention(qvc, batch.cpu, kHeads, kHead, scale, ovc).ok());
  s = gpu->Attention(qvg, batch.gpu, kHeads, kHead, scale, ovg);
  EXPECT_TRUE(s.ok()) << s.ToString();
  QkvErrors e;
  e.attention = Nmse(Download(gpu.get(), ovg), Download(cpu, ovc));
  e.product = Nmse(Download(gpu.get(), qvg), Download(cpu, qvc));
  return e;
}

// y holds the product (rounded once) in every mode; float32 Q/K/V bring the
// attention output to the rounding of the output alone, where compute-type
// Q/K/V miss by what the sharp softmax makes of their rounding.
TEST_P(CudaQkvTest, Float32QkvHoldTheAttentionOfSharpScores) {
  const ComputeType t = GetParam();
  const QkvErrors f32 = RunLayer(cpu_.get(), t, "f32", true);
  const QkvErrors tf32 = RunLayer(cpu_.get(), t, "tf32", true);
  const QkvErrors compute = RunLayer(cpu_.get(), t, "compute", true);
  std::printf("[ %s ] attention nmse: f32 %.3g, tf32 %.3g, compute %.3g; product nmse: f32 "
              "%.3g, tf32 %.3g, compute %.3g\n",
              ComputeTypeName(t).data(), f32.attention, tf32.attention, compute.attention,
              f32.product, tf32.product, compute.product);
  EXPECT_LE(f32.product, tol());
  EXPECT_LE(tf32.product, tol());
  EXPECT_LE(f32.attention, tol());
  EXPECT_LT(f32.attention, compute.attention);
  if (t == ComputeType::kBFloat16) {
    // TF32 operands carry 3 more bits than bfloat16's.
    EXPECT_LT(tf32.attention, compute.attention);
  }
}

// Without a LayerNorm right before, the product converts x as stored: the
// same values, so float32 Q/K/V still hold.
TEST_P(CudaQkvTest, WithoutALayerNormBeforeTheProductReadsXAsStored) {
  const QkvErrors e = RunLayer(cpu_.get(), GetParam(), "f32", false);
  EXPECT_LE(e.product, tol());
  EXPECT_LE(e.attention, tol());
}

// bias + exact GELU: the vectorised kernel (n a multiple of 16 bytes), its
// one-element fallback (n = 36, 3) and the old epilogue + erf path.
TEST_P(CudaQkvTest, BiasGeluErfFusedAndNotMatchesCpu) {
  for (const char* fused : {"1", "0"}) {
    ScopedEnv env("FLOE_CUDA_FUSED_BIAS_GELU", fused);
    auto gpu = MakeBackend("cuda", GetParam());
    ASSERT_TRUE(gpu);
    for (int64_t n : {72, 36, 3}) {
      const int64_t k = 64, m = 45;
      const int64_t rows = std::max(cpu_->RoundUpRows(m), gpu->RoundUpRows(m));
      const auto w = Random(n * k, 31, 0.2f), bias = Random(n, 32, 0.5f);
      const auto x = Random(rows * k, 33);
      const LinearSpec spec =
          cuda_test::MakeLinearSpec(w, bias, k, n, Activation::kGeluErf, false, "ffn");
      auto lc = cpu_->CreateLinear(spec);
      auto lg = gpu->CreateLinear(spec);
      ASSERT_TRUE(lc.ok() && lg.ok()) << lc.status().ToString() << lg.status().ToString();
      auto xc = Upload(cpu_.get(), x), yc = Alloc(cpu_.get(), rows * n * 4);
      auto xg = UploadActivations(gpu.get(), x), yg = Alloc(gpu.get(), rows * n * 4);
      const TensorView yvc = cpu_->Activations(*yc, m, n), yvg = gpu->Activations(*yg, m, n);
      ASSERT_TRUE((*lc)->Forward(cpu_->Activations(*xc, m, k), yvc).ok());
      const Status s = (*lg)->Forward(gpu->Activations(*xg, m, k), yvg);
      ASSERT_TRUE(s.ok()) << s.ToString();
      EXPECT_LE(Nmse(Download(gpu.get(), yvg), Download(cpu_.get(), yvc)), tol())
          << "fused " << fused << " n " << n;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Types, CudaQkvTest,
                         ::testing::Values(ComputeType::kFloat16, ComputeType::kBFloat16),
                         cuda_test::TypeName);

// [CLS] random ids [SEP]: lengths 5, 10, 26, 77, 254, 512, then log-uniform
// in 2..512 (seeded).
std::vector<std::vector<int32_t>> MixedSequences(int count, int64_t vocab) {
  std::mt19937 rng(17);
  std::vector<int64_t> lengths = {5, 10, 26, 77, 254, 512};
  std::uniform_real_distribution<double> u(std::log(2.0), std::log(512.0));
  while (static_cast<int>(lengths.size()) < count) {
    lengths.push_back(static_cast<int64_t>(std::lround(std::exp(u(rng)))));
  }
  std::uniform_int_distribution<int32_t> id(1000, static_cast<int32_t>(vocab - 1));
  std::vector<std::vector<int32_t>> seqs;
  for (int64_t L : lengths) {
    std::vector<int32_t> s = {101};
    for (int64_t i = 2; i < L; ++i) s.push_back(id(rng));
    s.push_back(102);
    seqs.push_back(std::move(s));
  }
  return seqs;
}

double Cosine(const float* a, const float* b, int64_t n) {
  double ab = 0, aa = 0, bb = 0;
  for (int64_t i = 0; i < n; ++i) {
    ab += static_cast<double>(a[i]) * b[i];
    aa += static_cast<double>(a[i]) * a[i];
    bb += static_cast<double>(b[i]) * b[i];
  }
  return aa == 0 && bb == 0 ? 1.0 : ab / std::sqrt(aa * bb);
}

// The smallest cosine of `seqs` embedded (batched) by the encoder on a CUDA
// backend of type t against `want` (the CPU's float32 vectors).
double MinCosine(const ModelFolder& model, ComputeType t,
                 const std::vector<const std::vector<int32_t>*>& seqs,
                 const std::vector<float>& want) {
  auto gpu = MakeBackend("cuda", t);
  if (!gpu) return 0;
  auto enc = BertEncoder::Create(model, gpu.get());
  EXPECT_TRUE(enc.ok()) << enc.status().ToString();
  if (!enc.ok()) return 0;
  const int64_t D = model.config.hidden_size;
  std::vector<float> got(seqs.size() * D);
  const Status s = (*enc)->Forward(seqs, cuda_test::PoolFor(model.st.pooling), got.data());
  EXPECT_TRUE(s.ok()) << s.ToString();
  double min_cos = 1.0;
  for (size_t i = 0; i < seqs.size(); ++i) {
    min_cos = std::min(min_cos, Cosine(&got[i * D], &want[i * D], D));
  }
  return min_cos;
}

TEST(CudaBaseModelGoldenTest, HalfTypesMatchCpuFloat32AtMixedLengths) {
  FLOE_SKIP_WITHOUT_GPU();
  const char* dir = std::getenv("FLOE_BASE_MODEL");
  if (dir == nullptr) GTEST_SKIP() << "FLOE_BASE_MODEL unset";
  auto model = ModelFolder::Open(dir);
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  const auto seqs = MixedSequences(24, (*model)->config.vocab_size);
  std::vector<const std::vector<int32_t>*> ptrs;
  for (const auto& s : seqs) ptrs.push_back(&s);
  auto cpu = MakeBackend("cpu", ComputeType::kFloat32);
  ASSERT_TRUE(cpu);
  auto cpu_enc = BertEncoder::Create(**model, cpu.get());
  ASSERT_TRUE(cpu_enc.ok()) << cpu_enc.status().ToString();
  const int64_t D = (*model)->config.hidden_size;
  std::vector<float> want(seqs.size() * D);
  const Status s = (*cpu_enc)->Forward(ptrs, cuda_test::PoolFor((*model)->st.pooling), want.data());
  ASSERT_TRUE(s.ok()) << s.ToString();
  for (ComputeType t : {ComputeType::kFloat16, ComputeType::kBFloat16}) {
    const double min_cos = MinCosine(**model, t, ptrs, want);
    double compute = 0;
    {
      ScopedEnv env("FLOE_CUDA_QKV", "compute");
      compute = MinCosine(**model, t, ptrs, want);
    }
    std::printf("[ base %s ] min cosine to the CPU's float32: %.6f (Q/K/V in the compute type: "
                "%.6f)\n",
                ComputeTypeName(t).data(), min_cos, compute);
    EXPECT_GE(min_cos, cuda_test::BaseModelMinCosine(t)) << ComputeTypeName(t);
  }
}

}  // namespace
}  // namespace floe
