// The float64 reference of a Linear product, for the CPU tests: the relative
// (Frobenius) error of y [m, N] against x [m, K] W^T [K, N] + bias.
#pragma once

#include <cmath>
#include <cstdint>

namespace floe {

inline double RelativeLinearError(const float* x, const float* w, const float* bias,
                                  const float* y, int64_t m, int64_t K, int64_t N) {
  double err = 0, norm = 0;
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = 0; j < N; ++j) {
      double s = bias[j];
      for (int64_t k = 0; k < K; ++k) s += static_cast<double>(x[i * K + k]) * w[j * K + k];
      err += (y[i * N + j] - s) * (y[i * N + j] - s);
      norm += s * s;
    }
  }
  return std::sqrt(err / norm);
}

}  // namespace floe
