// The CPU backend's row norms (LayerNorm, RMSNorm).
#include <cmath>

#include "backend/cpu/cpu_backend_impl.h"
#include "backend/cpu/kernels.h"

namespace floe::cpu {

Status CpuBackend::LayerNorm(const TensorView& x_view, const float* gamma,
                             const float* beta, float eps) {
  FLOE_RETURN_IF_ERROR(CheckLayerNorm(*this, x_view, gamma, beta));
  float* x = x_view.f32();
  const int64_t rows = x_view.rows(), hidden = x_view.cols();
  UseThreads();
#pragma omp parallel for schedule(static) if (Parallel(rows * hidden))
  for (int64_t r = 0; r < rows; ++r) {
    LayerNormRow(x + r * hidden, hidden, gamma, beta, eps, x + r * hidden);
  }
  return OkStatus();
}

void RmsNormRow(const float* x, int64_t n, const float* w, const float* b, float w_offset,
                float eps, float* y) {
  float ss = 0.f;
#pragma omp simd reduction(+ : ss)
  for (int64_t i = 0; i < n; ++i) ss += x[i] * x[i];
  const float r = 1.f / std::sqrt(ss / static_cast<float>(n) + eps);
  if (w == nullptr) {
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) y[i] = x[i] * r;
  } else {
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) y[i] = x[i] * r * (w[i] + w_offset);
  }
  if (b != nullptr) {
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) y[i] += b[i];
  }
}

Status CpuBackend::RmsNorm(const TensorView& x_view, const RmsNormSpec& spec) {
  if (Status s = CheckRmsNorm(*this, x_view, spec); !s.ok()) return s;
  float* x = x_view.f32();
  const int64_t rows = x_view.rows();
  UseThreads();
  const int64_t n = spec.hidden;
#pragma omp parallel for schedule(static) if (Parallel(rows * n))
  for (int64_t r = 0; r < rows; ++r) {
    RmsNormRow(x + r * n, n, spec.weight, spec.bias, spec.weight_offset, spec.eps,
               x + r * n);
  }
  return OkStatus();
}

}  // namespace floe::cpu
