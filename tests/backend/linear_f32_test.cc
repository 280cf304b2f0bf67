// Few-row float32 products on floe's AVX-512 kernel (backend/cpu/linear_f32.h)
// on the panel layouts oneDNN packs (64-, 48-, 16-column panels, plain [k, n])
// with m = 1 .. 25 against the float64 product, and the CPU backend's float32
// Linear on both of its paths (the kernel up to kF32SmallRows rows, oneDNN
// above, with FLOE_CPU_F32_SMALL_ROWS=0, and on classes without AVX-512:
// ctest cpu_isa_avx2_backend).
#include "backend/cpu/linear_f32.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "backend/linear_check.h"

namespace floe {
namespace {

// W [n, k] as F32Panels of `width` columns (width == n: plain [k, n]); the
// padding rows of k (to 16) hold garbage the kernel must not read.
std::vector<float> Pack(const Vec& w, int64_t n, int64_t k, int64_t width,
                        int64_t* panel_stride) {
  const int64_t kp = (k + 15) / 16 * 16;
  *panel_stride = width == n ? 0 : kp * width;
  const int64_t panels = (n + width - 1) / width;
  std::vector<float> out(static_cast<size_t>(panels * kp * width), 1e30f);
  for (int64_t j = 0; j < n; ++j) {
    for (int64_t i = 0; i < k; ++i) {
      out[(j / width) * kp * width + i * width + j % width] = w[j * k + i];
    }
  }
  return out;
}

double Relu(double v) { return v > 0 ? v : 0; }

TEST(F32KernelTest, EachKernelMatchesTheFloat64ProductOnEveryPanelLayout) {
  const struct {
    int64_t k, n, width;
  } shapes[] = {
      {384, 1152, 64}, {1536, 384, 64}, {37, 96, 48}, {100, 48, 16}, {29, 80, 80}};
  for (cpu::F32Kernel kernel : {cpu::F32Kernel::kAvx512}) {
    const std::string name = cpu::F32KernelName(kernel);
    if (!cpu::F32KernelRuns(kernel)) {
      std::printf("[ skip ] %s kernel: not on this CPU / class\n", name.c_str());
      continue;
    }
    for (const auto& [k, n, width] : shapes) {
      const Vec w = Random(n * k, 1 + k, 0.1f), bias = Random(n, 2 + n);
      cpu::F32Panels p;
      const std::vector<float> packed = Pack(w, n, k, width, &p.panel_stride);
      p.kernel = kernel;
      p.data = packed.data();
      p.k = k;
      p.n = n;
      p.width = width;
      const std::string what = name + " " + std::to_string(k) + "x" + std::to_string(n) +
                               " panels of " + std::to_string(width);
      for (int64_t m : {1, 2, 5, 12, 13, 16, 25}) {
        const Vec x = Random(m * k, 3 + m);
        Vec y(m * n);
        cpu::F32SmallProduct(p, x.data(), m, bias.data(), Activation::kNone, false,
                             y.data());
        CheckProduct(x, w, bias, nullptr, false, y.data(), m, k, n, what);
        // Residual form, no bias: y0 + product.
        const Vec y0 = Random(m * n, 5 + m);
        Vec ya = y0;
        const Vec zero(n, 0.f);
        cpu::F32SmallProduct(p, x.data(), m, nullptr, Activation::kNone, true, ya.data());
        CheckProduct(x, w, zero, &y0, false, ya.data(), m, k, n, what + " accumulate");
        // The fused activations, against the activation of the float64 sum.
        if (cpu::F32KernelFuses(kernel, Activation::kGeluErf)) {
          Vec yg(m * n);
          cpu::F32SmallProduct(p, x.data(), m, bias.data(), Activation::kGeluErf, false,
                               yg.data());
          CheckProduct(x, w, bias, nullptr, true, yg.data(), m, k, n, what + " gelu");
        }
        ASSERT_TRUE(cpu::F32KernelFuses(kernel, Activation::kRelu));
        Vec yr(m * n);
        cpu::F32SmallProduct(p, x.data(), m, bias.data(), Activation::kRelu, false,
                             yr.data());
        for (int64_t i = 0; i < m * n; ++i) {
          ASSERT_EQ(yr[i], Relu(y[i])) << what << " relu m " << m << " at " << i;
        }
        // A row's result does not depend on the rows around it.
        if (m > 1) {
          Vec y1(n);
          cpu::F32SmallProduct(p, x.data() + (m - 1) * k, 1, bias.data(),
                               Activation::kNone, false, y1.data());
          for (int64_t j = 0; j < n; ++j) {
            ASSERT_EQ(y1[j], y[(m - 1) * n + j]) << what << " m " << m << " col " << j;
          }
        }
      }
    }
  }
}

// The backend's float32 Linear on MiniLM's shapes and an odd one (n not a
// multiple of 16: oneDNN only), plain, with GELU and with the residual, at
// rows on both sides of kF32SmallRows, and with the kernel turned off.
TEST(F32SmallLinearTest, BackendMatchesTheFloat64ProductOnBothPaths) {
  for (const char* rows_env : {"", "0"}) {
    if (rows_env[0] != '\0') setenv("FLOE_CPU_F32_SMALL_ROWS", rows_env, 1);
    RuntimeOptions o;
    auto b = CreateBackend(o);
    unsetenv("FLOE_CPU_F32_SMALL_ROWS");
    ASSERT_TRUE(b.ok()) << b.status().ToString();
    const struct { int64_t k, n; } shapes[] = {{384, 1536}, {1536, 384}, {389, 77}};
    for (const auto& [k, n] : shapes) {
      const Vec w = Random(n * k, 41 + k, 0.05f), bias = Random(n, 42);
      for (int mode = 0; mode < 3; ++mode) {  // plain, GELU, residual
        auto lin = (*b)->CreateLinear(ModeSpec(w, bias, k, n, mode, "f32"));
        ASSERT_TRUE(lin.ok()) << lin.status().ToString();
        for (int64_t m : {1, 12, 16, 17, 70}) {
          CheckModeForward(**b, **lin, w, bias, k, n, m, mode,
                           std::string("rows limit '") + rows_env + "' " +
                               std::to_string(k) + "x" + std::to_string(n));
        }
      }
    }
  }
}

}  // namespace
}  // namespace floe
