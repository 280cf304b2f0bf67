// The float64 checks of the CPU tests of Linear kernels (linear_bf16w_test.cc,
// linear_f32_test.cc): random operands and y against act(x W^T + bias) (+ y0).
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "backend/backend.h"

namespace floe {

using Vec = std::vector<float>;

inline Vec Random(size_t n, uint32_t seed, float scale = 1.f) {
  std::mt19937 gen(seed);
  std::normal_distribution<float> dist(0.f, scale);
  Vec v(n);
  for (float& x : v) x = dist(gen);
  return v;
}

// The Linear of W [n, k] in one of the three forms the encoders make: mode 0
// plain (+ bias), 1 with GELU (erf), 2 residual (no bias, accumulate).
inline LinearSpec ModeSpec(const Vec& w, const Vec& bias, int64_t k, int64_t n, int mode,
                           const char* name) {
  LinearSpec spec;
  spec.weight = w.data();
  spec.bias = mode == 2 ? nullptr : bias.data();
  spec.in_features = k;
  spec.out_features = n;
  spec.activation = mode == 1 ? Activation::kGeluErf : Activation::kNone;
  spec.accumulate = mode == 2;
  spec.name = name;
  return spec;
}

inline double Gelu(double x) { return 0.5 * x * (1 + std::erf(x / std::sqrt(2.0))); }

// Checks y [m, n] against act(x W^T + bias) (+ y0) in float64, W [n, k]:
// each output within float32 rounding of its terms' magnitudes (2e-6 of
// sum |x w| + |bias| + |y0|: sums in order over k stay far below that).
// Returns the relative (Frobenius) error.
inline double CheckProduct(const Vec& x, const Vec& w, const Vec& bias, const Vec* y0,
                           bool gelu, const float* y, int64_t m, int64_t k, int64_t n,
                           const std::string& what) {
  double err = 0, norm = 0;
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      double s = bias[j], mag = std::abs(bias[j]);
      for (int64_t t = 0; t < k; ++t) {
        const double p = static_cast<double>(x[i * k + t]) * w[j * k + t];
        s += p;
        mag += std::abs(p);
      }
      double ref = gelu ? Gelu(s) : s;
      if (y0 != nullptr) {
        ref += (*y0)[i * n + j];
        mag += std::abs((*y0)[i * n + j]);
      }
      const double d = y[i * n + j] - ref;
      EXPECT_LE(std::abs(d), 2e-6 * mag + 1e-30)
          << what << " m " << m << " row " << i << " col " << j << ": " << y[i * n + j]
          << " vs " << ref;
      if (std::abs(d) > 2e-6 * mag + 1e-30) return 1;  // one message per shape
      err += d * d;
      norm += ref * ref;
    }
  }
  return std::sqrt(err / norm);
}

// The relative (Frobenius) error of y [m, n] against x W^T + bias (+ y0) in
// float64, W [n, k], x [m, k]: for products allowed more than float32's
// rounding (int8, bf16), where the tests bound the error, not each output.
inline double RelativeError(const Vec& x, const Vec& w, const Vec& bias, const Vec* y0,
                            const float* y, int64_t m, int64_t k, int64_t n) {
  double err = 0, norm = 0;
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      double s = bias[j] + (y0 != nullptr ? (*y0)[i * n + j] : 0.0);
      for (int64_t t = 0; t < k; ++t) s += static_cast<double>(x[i * k + t]) * w[j * k + t];
      err += (y[i * n + j] - s) * (y[i * n + j] - s);
      norm += s * s;
    }
  }
  return std::sqrt(err / norm);
}

// Runs `lin` (made by ModeSpec(.., mode, ..)) on m random rows over a random y
// (room for b.RoundUpRows(m) rows) and checks y against the float64 product
// of w_ref [n, k] in that mode.
inline void CheckModeForward(const Backend& b, LinearOp& lin, const Vec& w_ref,
                             const Vec& bias, int64_t k, int64_t n, int64_t m, int mode,
                             const std::string& what) {
  const int64_t rows = b.RoundUpRows(m);
  const Vec x = Random(rows * k, 43 + m);
  const Vec y0 = Random(rows * n, 44 + m);
  Vec y = y0;
  ASSERT_TRUE(lin.Forward(HostF32(x.data(), {m, k}, x.size() * 4),
                          HostF32(y.data(), {m, n}, y.size() * 4))
                  .ok());
  const Vec zero(n, 0.f);
  CheckProduct(x, w_ref, mode == 2 ? zero : bias, mode == 2 ? &y0 : nullptr, mode == 1,
               y.data(), m, k, n, what + " mode " + std::to_string(mode));
}

}  // namespace floe
