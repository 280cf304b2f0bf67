// bfloat16 weights with float32 arithmetic (backend/cpu/linear_bf16w.h): each
// kernel this CPU runs (portable C++, AVX2, AVX-512) on odd shapes (m = 1, 3,
// 17, 64, 300; k and n not multiples of 16) against the float64 product of
// the bf16-rounded weight, and the CPU backend's bfloat16 Linear on a class
// without AVX512_BF16 (ctest cpu_isa_<class>_backend) on both of its paths.
#include "backend/cpu/linear_bf16w.h"

#include <cstdlib>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "backend/cpu/kernels.h"
#include "backend/linear_check.h"
#include "engine/cpu_isa_reference.h"

namespace floe {
namespace {

Vec RoundedToBf16(const Vec& w) {
  Vec r(w.size());
  for (size_t i = 0; i < w.size(); ++i) r[i] = cpu::Bf16RoundTrip(w[i]);
  return r;
}

TEST(Bf16WeightKernelTest, EachKernelMatchesTheFloat64ProductOfTheRoundedWeight) {
  const struct {
    int64_t k, n;
  } shapes[] = {{37, 45}, {391, 70}, {100, 33}};
  for (cpu::Bf16wKernel kernel :
       {cpu::Bf16wKernel::kGeneric, cpu::Bf16wKernel::kAvx2, cpu::Bf16wKernel::kAvx512}) {
    const std::string name = cpu::Bf16wKernelName(kernel);
    if (!cpu::Bf16wKernelRuns(kernel)) {
      std::printf("[ skip ] %s kernel: not on this CPU / class\n", name.c_str());
      continue;
    }
    for (const auto& [k, n] : shapes) {
      const Vec w = Random(n * k, 1 + k, 0.1f), bias = Random(n, 2 + n);
      const Vec wr = RoundedToBf16(w);
      const cpu::Bf16Weights packed = cpu::PackBf16Weights(w.data(), n, k, kernel);
      // The widened weight is W^T rounded to bf16, exactly.
      Vec wide(k * n);
      cpu::WidenBf16Weights(packed, wide.data());
      for (int64_t i = 0; i < k; ++i) {
        for (int64_t j = 0; j < n; ++j) {
          ASSERT_EQ(wide[i * n + j], wr[j * k + i]) << name << " k " << i << " n " << j;
        }
      }
      for (int64_t m : {1, 3, 17, 64, 300}) {
        const Vec x = Random(m * k, 3 + m);
        const std::string what = name + " " + std::to_string(k) + "x" + std::to_string(n);
        Vec y(m * n);
        cpu::Bf16WeightProduct(packed, x.data(), m, bias.data(), false, y.data());
        CheckProduct(x, wr, bias, nullptr, false, y.data(), m, k, n, what);
        // Against the unrounded weight the error is the weight's rounding
        // (2^-9 relative at most): the weight really is bf16.
        const double rounding =
            RelativeLinearError(x.data(), w.data(), bias.data(), y.data(), m, k, n);
        EXPECT_GT(rounding, 1e-4) << what << " m " << m;
        EXPECT_LT(rounding, 4e-3) << what << " m " << m;
        // Residual form: y0 + product, no bias.
        const Vec y0 = Random(m * n, 5 + m);
        Vec ya = y0;
        const Vec zero(n, 0.f);
        cpu::Bf16WeightProduct(packed, x.data(), m, nullptr, true, ya.data());
        CheckProduct(x, wr, zero, &y0, false, ya.data(), m, k, n, what + " accumulate");
        // A row's result does not depend on the rows around it.
        if (m > 1) {
          Vec y1(n);
          cpu::Bf16WeightProduct(packed, x.data() + (m - 1) * k, 1, bias.data(), false,
                                 y1.data());
          for (int64_t j = 0; j < n; ++j) {
            ASSERT_EQ(y1[j], y[(m - 1) * n + j]) << what << " m " << m << " col " << j;
          }
        }
      }
    }
  }
}

// The CPU backend's bfloat16 Linear on the bf16-weight path (Intel without
// AMX and every CPU without AVX512_BF16 take it; elsewhere it is forced here,
// FLOE_CPU_BF16_PRODUCTS=bf16w, cpu_linear.cc's NativeBf16Products): few rows
// on floe's kernel, many on the widened float32 product (bias, GELU and the
// residual fused there, applied after the kernel here), both against the
// float64 product of the rounded weight.
TEST(Bf16WeightLinearTest, BackendRunsBothPathsWithinFloat32Rounding) {
  const char* products = std::getenv("FLOE_CPU_BF16_PRODUCTS");
  const std::string started = products != nullptr ? products : "";
  if (products != nullptr && started != "bf16w") {
    GTEST_SKIP() << "FLOE_CPU_BF16_PRODUCTS=" << started << " chooses another path";
  }
  // Forced for this test only (the process's own setting comes back).
  struct ForceBf16w {
    bool was_set;
    ForceBf16w() : was_set(std::getenv("FLOE_CPU_BF16_PRODUCTS") != nullptr) {
      setenv("FLOE_CPU_BF16_PRODUCTS", "bf16w", 1);
    }
    ~ForceBf16w() {
      if (!was_set) unsetenv("FLOE_CPU_BF16_PRODUCTS");
    }
  } force;
  RuntimeOptions o;
  o.dtype = "bfloat16";
  auto b = CreateBackend(o);
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  const int64_t k = 389, n = 77;
  const Vec w = Random(n * k, 41, 0.05f), bias = Random(n, 42);
  const Vec wr = RoundedToBf16(w);
  for (int mode = 0; mode < 3; ++mode) {  // plain, GELU, residual
    auto lin = (*b)->CreateLinear(ModeSpec(w, bias, k, n, mode, "bf16w"));
    ASSERT_TRUE(lin.ok()) << lin.status().ToString();
    for (int64_t m : {1, 17, 300}) {
      CheckModeForward(**b, **lin, wr, bias, k, n, m, mode, "backend");
    }
  }
}

}  // namespace
}  // namespace floe
