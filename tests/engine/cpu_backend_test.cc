// CPU backend ops against naive float64 loops (the reference every other
// backend will be compared with too).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "backend/cpu/kernels.h"
#include "backend/linear_check.h"

namespace floe {
namespace {

std::unique_ptr<Backend> Cpu() {
  auto b = CreateBackend({});
  EXPECT_TRUE(b.ok()) << b.status().ToString();
  return std::move(b).value();
}

// A K -> N product with bias; mode 0 plain, 1 GELU, 2 accumulating into y.
LinearSpec Spec(const std::vector<float>& w, const std::vector<float>& bias, int64_t k,
                int64_t n, int mode, const char* name) {
  LinearSpec spec;
  spec.weight = w.data();
  spec.bias = bias.data();
  spec.in_features = k;
  spec.out_features = n;
  spec.activation = mode == 1 ? Activation::kGeluErf : Activation::kNone;
  spec.accumulate = mode == 2;
  spec.name = name;
  return spec;
}

TEST(CpuLinearTest, MatchesNaiveProductAtManyRowCountsWithFusedOps) {
  auto be = Cpu();
  const int64_t K = 96, N = 80;
  const auto w = Random(N * K, 1, 0.1f), bias = Random(N, 2);
  for (int mode = 0; mode < 3; ++mode) {  // plain, gelu, accumulate
    const LinearSpec spec = Spec(w, bias, K, N, mode, "test");
    auto lin = be->CreateLinear(spec);
    ASSERT_TRUE(lin.ok()) << lin.status().ToString();
    for (int64_t m : {1, 7, 16, 17, 50, 255, 300, 512, 777, 2100, 4200}) {
      const int64_t rows = be->RoundUpRows(m);
      ASSERT_GE(rows, m);
      auto x = Random(rows * K, 3 + m);
      auto y0 = Random(rows * N, 4 + m);
      auto y = y0;
      ASSERT_TRUE((*lin)
                      ->Forward(HostF32(x.data(), {m, K}, x.size() * 4),
                                HostF32(y.data(), {m, N}, y.size() * 4))
                      .ok());
      for (int64_t i = 0; i < m; ++i) {
        for (int64_t j = 0; j < N; ++j) {
          double s = bias[j];
          for (int64_t k = 0; k < K; ++k) s += static_cast<double>(x[i * K + k]) * w[j * K + k];
          if (mode == 1) s = Gelu(s);
          if (mode == 2) s += y0[i * N + j];
          ASSERT_NEAR(y[i * N + j], s, 1e-4 * (1 + std::abs(s))) << "m " << m << " mode " << mode;
        }
      }
    }
  }
}

// bfloat16 products against the float64 product: split (the default,
// bf16x3, about 16 significant bits) and plain bf16 (8 bits), each within
// what its rounding allows.
TEST(CpuLinearTest, Bfloat16ProductsStayWithinTheirRounding) {
  if (!cpu::RunIsa().avx512_bf16) {
    GTEST_SKIP() << "no bf16 products on this class: bf16 weights with float32 arithmetic "
                    "(tests/backend/linear_bf16w_test.cc)";
  }
  RuntimeOptions o;
  o.dtype = "bfloat16";
  auto b = CreateBackend(o);
  if (!b.ok()) GTEST_SKIP() << b.status().ToString();
  const int64_t K = 768, N = 64;
  const auto w = Random(N * K, 11, 0.15f), bias = Random(N, 12);
  // (The mode this process was started with comes back afterwards: ctest
  // runs these tests with each bfloat16 path forced, tests/CMakeLists.txt.)
  const char* started = std::getenv("FLOE_CPU_BF16_PRODUCTS");
  const std::string restore = started ? started : "";
  for (const char* mode : {"bf16x3", "bf16"}) {
    setenv("FLOE_CPU_BF16_PRODUCTS", mode, 1);
    LinearSpec spec;
    spec.weight = w.data();
    spec.bias = bias.data();
    spec.in_features = K;
    spec.out_features = N;
    spec.name = mode;
    auto lin = (*b)->CreateLinear(spec);
    if (started) {
      setenv("FLOE_CPU_BF16_PRODUCTS", restore.c_str(), 1);
    } else {
      unsetenv("FLOE_CPU_BF16_PRODUCTS");
    }
    ASSERT_TRUE(lin.ok()) << lin.status().ToString();
    const int64_t m = 37;
    auto x = Random((*b)->RoundUpRows(m) * K, 13);
    std::vector<float> y((*b)->RoundUpRows(m) * N);
    ASSERT_TRUE((*lin)
                    ->Forward(HostF32(x.data(), {m, K}, x.size() * 4),
                              HostF32(y.data(), {m, N}, y.size() * 4))
                    .ok());
    double err = 0, norm = 0;
    for (int64_t i = 0; i < m; ++i) {
      for (int64_t j = 0; j < N; ++j) {
        double s = bias[j];
        for (int64_t k = 0; k < K; ++k) s += static_cast<double>(x[i * K + k]) * w[j * K + k];
        err += (y[i * N + j] - s) * (y[i * N + j] - s);
        norm += s * s;
      }
    }
    const double rel = std::sqrt(err / norm);
    std::printf("[ %s ] relative error %.3g\n", mode, rel);
    EXPECT_LT(rel, std::string(mode) == "bf16" ? 1e-2 : 2e-5) << mode;
  }
}

// int8 products (s8 weights per output channel, s8 activations per
// row) at row counts that exercise every chunk size and tail.
TEST(CpuLinearTest, Int8ProductsStayWithinTheirRounding) {
  RuntimeOptions o;
  o.dtype = "int8";
  auto b = CreateBackend(o);
  if (!b.ok()) GTEST_SKIP() << b.status().ToString();
  const int64_t K = 768, N = 64;
  const auto w = Random(N * K, 21, 0.15f), bias = Random(N, 22);
  for (int mode = 0; mode < 3; ++mode) {  // plain, gelu, accumulate
    const LinearSpec spec = Spec(w, bias, K, N, mode, "int8");
    auto lin = (*b)->CreateLinear(spec);
    ASSERT_TRUE(lin.ok()) << lin.status().ToString();
    for (int64_t m : {1, 37, 376, 512, 888, 3000}) {
      const int64_t rows = (*b)->RoundUpRows(m);
      auto x = Random(rows * K, 23 + m);
      auto y0 = Random(rows * N, 24 + m);
      auto y = y0;
      ASSERT_TRUE((*lin)
                      ->Forward(HostF32(x.data(), {m, K}, x.size() * 4),
                                HostF32(y.data(), {m, N}, y.size() * 4))
                      .ok());
      double err = 0, norm = 0;
      for (int64_t i = 0; i < m; ++i) {
        for (int64_t j = 0; j < N; ++j) {
          double s = bias[j];
          for (int64_t k = 0; k < K; ++k) s += static_cast<double>(x[i * K + k]) * w[j * K + k];
          if (mode == 1) s = 0.5 * s * (1 + std::erf(s / std::sqrt(2.0)));
          if (mode == 2) s += y0[i * N + j];
          err += (y[i * N + j] - s) * (y[i * N + j] - s);
          norm += s * s;
        }
      }
      EXPECT_LT(std::sqrt(err / norm), 3e-2) << "m " << m << " mode " << mode;
    }
  }
}

// Packed attention against a float64 reference, for N heads of size H over
// sequences cut at `cu`, each output within `tol` (absolute; inputs ~N(0,1)).
void ExpectNaiveAttention(int64_t N, int64_t H, const std::vector<int32_t>& cu, uint32_t seed,
                          std::unique_ptr<Backend> be = Cpu(), double tol = 1e-5) {
  const int64_t D = N * H;
  const int64_t T = cu.back(), B = cu.size() - 1;
  int32_t max_len = 0;
  for (int64_t b = 0; b < B; ++b) max_len = std::max(max_len, cu[b + 1] - cu[b]);
  const auto qkv = Random(T * 3 * D, seed);
  std::vector<float> out(T * D, -1.f);
  PackedBatch batch{cu.data(), cu.data(), B, T, max_len};
  const float scale = 1.f / std::sqrt(static_cast<float>(H));
  ASSERT_TRUE(be->Attention(HostF32(qkv.data(), {T, 3 * D}), batch, N, H, scale,
                            HostF32(out.data(), {T, D}))
                  .ok());
  for (int64_t b = 0; b < B; ++b) {
    for (int64_t h = 0; h < N; ++h) {
      for (int64_t i = cu[b]; i < cu[b + 1]; ++i) {
        std::vector<double> p;
        double mx = -1e300;
        for (int64_t j = cu[b]; j < cu[b + 1]; ++j) {
          double s = 0;
          for (int64_t d = 0; d < H; ++d) s += double(qkv[i * 3 * D + h * H + d]) * qkv[j * 3 * D + D + h * H + d];
          p.push_back(s * scale);
          mx = std::max(mx, p.back());
        }
        double sum = 0;
        for (auto& v : p) sum += (v = std::exp(v - mx));
        for (int64_t d = 0; d < H; ++d) {
          double o = 0;
          for (int64_t j = cu[b]; j < cu[b + 1]; ++j) o += p[j - cu[b]] / sum * qkv[j * 3 * D + 2 * D + h * H + d];
          ASSERT_NEAR(out[i * D + h * H + d], o, tol)
              << "head size " << H << ", sequence " << b << ", head " << h << ", row " << i;
        }
      }
    }
  }
}

TEST(CpuAttentionTest, MatchesNaiveAttentionPerSequence) {
  ExpectNaiveAttention(3, 8, {0, 1, 18, 318, 331}, 9);
}

// Real head sizes, lengths around every small block size, and a long one.
TEST(CpuAttentionTest, MatchesNaiveAttentionAtManyLengthsAndHeadSizes) {
  std::vector<int32_t> cu = {0};
  for (int32_t len : {1, 2, 7, 8, 9, 15, 16, 17, 31, 32, 33, 50, 64, 65, 130, 300}) {
    cu.push_back(cu.back() + len);
  }
  for (int64_t h : {16, 32, 64, 128}) ExpectNaiveAttention(2, h, cu, 10 + h);
}

// bfloat16 compute: P V of sequences from 128 tokens runs in bf16 (float32
// accumulation), shorter ones as in float32. bf16 keeps 8 significant bits:
// outputs (weighted means of ~N(0,1) values) within 2^-7.
TEST(CpuAttentionTest, Bfloat16ValueProductsStayWithinTheirRounding) {
  RuntimeOptions o;
  o.dtype = "bfloat16";
  auto be = CreateBackend(o);
  if (!be.ok()) GTEST_SKIP() << be.status().ToString();
  const std::vector<int32_t> cu = {0, 127, 255, 455, 967, 970};
  ExpectNaiveAttention(2, 64, cu, 21, std::move(be).value(), 1.0 / 128);
}

TEST(CpuKernelsTest, Avx512AndPortableKernelsAgree) {
#if !defined(__x86_64__)
  GTEST_SKIP() << "x86-64 only: no AVX-512 kernels are built for this CPU";
#else
  if (!__builtin_cpu_supports("avx512f")) GTEST_SKIP() << "no AVX-512 on this CPU";
  for (int64_t n : {1, 15, 16, 33, 384, 768, 1000}) {
    auto x = Random(n * 3, n, 4.f);
    x[0] = -200.f;  // a probability that underflows to zero
    auto a = x, b = x;
    cpu::avx512::SoftmaxRows(a.data(), 3, n, n);
    cpu::generic::SoftmaxRows(b.data(), 3, n, n);
    for (int64_t i = 0; i < 3 * n; ++i) ASSERT_NEAR(a[i], b[i], 2e-7 + 2e-6 * b[i]) << n;
    const auto g = Random(n, 7), be = Random(n, 8);
    std::vector<float> la(n), lb(n);
    cpu::avx512::LayerNormRow(x.data(), n, g.data(), be.data(), 1e-12f, la.data());
    cpu::generic::LayerNormRow(x.data(), n, g.data(), be.data(), 1e-12f, lb.data());
    for (int64_t i = 0; i < n; ++i) ASSERT_NEAR(la[i], lb[i], 1e-4 * (1 + std::abs(lb[i]))) << n;
  }
#endif
}

TEST(CpuPoolTest, MeanOfOneTokenIsThatToken) {
  auto be = Cpu();
  const auto h = Random(5 * 4, 3);
  const std::vector<int32_t> cu = {0, 1, 5};
  PackedBatch batch{cu.data(), cu.data(), 2, 5, 4};
  std::vector<float> out(8);
  ASSERT_TRUE(be->Pool(HostF32(h.data(), {5, 4}), batch, PoolKind::kMean,
                       HostF32(out.data(), {2, 4}))
                  .ok());
  for (int i = 0; i < 4; ++i) EXPECT_FLOAT_EQ(out[i], h[i]);
}


// In int8 mode a kNoInt8 product (the FFN down projection) keeps rows with one
// outlier channel (as GELU outputs have) accurate: plain s8 rounds the other
// channels to a few levels; kNoInt8 runs in float32, bf16 (AMX) or as s8 with
// the outliers split off (VNNI: int8_outliers.h), each within 1e-2.
TEST(CpuLinearTest, Int8ModeKeepsNoInt8ProductsAccurateOnOutlierRows) {
  RuntimeOptions o;
  o.dtype = "int8";
  auto b = CreateBackend(o);
  if (!b.ok()) GTEST_SKIP() << b.status().ToString();
  const int64_t K = 1536, N = 64, m = 9;
  const auto w = Random(N * K, 31, 0.05f), bias = Random(N, 32);
  const int64_t rows = (*b)->RoundUpRows(m);
  auto x = Random(rows * K, 33, 0.2f);
  for (int64_t i = 0; i < m; ++i) x[i * K + 7] = 60.f;  // the outlier channel
  double rel[2];
  for (int p = 0; p < 2; ++p) {
    LinearSpec spec = Spec(w, bias, K, N, 0, "ffn_out");
    spec.precision = p == 0 ? LinearPrecision::kDefault : LinearPrecision::kNoInt8;
    auto lin = (*b)->CreateLinear(spec);
    ASSERT_TRUE(lin.ok()) << lin.status().ToString();
    std::vector<float> y(rows * N);
    ASSERT_TRUE((*lin)
                    ->Forward(HostF32(x.data(), {m, K}, x.size() * 4),
                              HostF32(y.data(), {m, N}, y.size() * 4))
                    .ok());
    rel[p] = RelativeError(x, w, bias, nullptr, y.data(), m, K, N);
  }
  std::printf("[ outlier row ] relative error s8 %.3g, kNoInt8 %.3g\n", rel[0], rel[1]);
  EXPECT_GT(rel[0], 0.05);
  EXPECT_LT(rel[1], 1e-2);
}

// The bfloat16 / int8 refusal says what the CPU lacks; FLOE_NO_AVX512 is named
// only when it is what turned AVX-512 off.
TEST(CpuIsaTest, ShortfallNamesWhatTheCpuLacksAndTheVariableOnlyWhenSet) {
  cpu::CpuIsa avx2_only;  // e.g. Haswell..Alder Lake, Zen 1-3
  std::string note = cpu::IsaShortfall(avx2_only, false);
  EXPECT_NE(note.find("no AVX-512"), std::string::npos) << note;
  EXPECT_EQ(note.find("FLOE_NO_AVX512"), std::string::npos) << note;

  cpu::CpuIsa skylake;  // AVX-512F and VNNI (Cascade Lake) but no BF16
  skylake.avx512f = skylake.avx512_vnni = true;
  note = cpu::IsaShortfall(skylake, true);
  EXPECT_NE(note.find("lacks AVX512_BF16"), std::string::npos) << note;
  EXPECT_EQ(note.find("VNNI"), std::string::npos) << note;
  EXPECT_EQ(note.find("FLOE_NO_AVX512"), std::string::npos) << note;
  skylake.avx512_vnni = false;
  note = cpu::IsaShortfall(skylake, true);
  EXPECT_NE(note.find("AVX512_VNNI"), std::string::npos) << note;
  EXPECT_NE(note.find("AVX512_BF16"), std::string::npos) << note;
  EXPECT_EQ(cpu::IsaShortfall(skylake, false).find("VNNI"), std::string::npos);

  cpu::CpuIsa forced;  // a Sapphire Rapids with FLOE_NO_AVX512=1
  forced.avx512f = forced.avx512_bf16 = forced.avx512_vnni = true;
  forced.avx512_forced_off = true;
  note = cpu::IsaShortfall(forced, true);
  EXPECT_NE(note.find("FLOE_NO_AVX512"), std::string::npos) << note;
  EXPECT_EQ(note.find("lacks"), std::string::npos) << note;

  cpu::CpuIsa capped = forced;  // oneDNN capped by its own variable
  capped.avx512_forced_off = false;
  capped.onednn_cap = "ONEDNN_MAX_CPU_ISA=AVX2";
  note = cpu::IsaShortfall(capped, true);
  EXPECT_NE(note.find("ONEDNN_MAX_CPU_ISA=AVX2"), std::string::npos) << note;
  EXPECT_EQ(note.find("FLOE_NO_AVX512"), std::string::npos) << note;
}

// This machine as it is: the refusal (if any) agrees with what the CPU has.
TEST(CpuIsaTest, RefusedBfloat16NamesOnlyTheVariableThatIsSet) {
  RuntimeOptions o;
  o.dtype = "bfloat16";
  auto be = CreateBackend(o);
  if (be.ok()) GTEST_SKIP() << "bfloat16 runs on this CPU";
  const std::string msg = be.status().ToString();
  const cpu::CpuIsa isa = cpu::DetectCpuIsa();
  if (isa.arm) {  // aarch64: oneDNN's own refusal, with the CPU's features
    EXPECT_EQ(be.status().code(), StatusCode::kFailedPrecondition) << msg;
    EXPECT_NE(msg.find("oneDNN"), std::string::npos) << msg;
    EXPECT_NE(msg.find("aarch64"), std::string::npos) << msg;
    return;
  }
  // x86: refused only below AVX2 and FMA (bf16 weights need them), naming
  // what the CPU lacks or the cap that turned them off.
  EXPECT_NE(msg.find("needs a CPU with AVX2 and FMA"), std::string::npos) << msg;
  EXPECT_NE(msg.find(isa.avx2 && isa.fma ? "turns that off" : "lacks"), std::string::npos)
      << msg;
}

}  // namespace
}  // namespace floe
