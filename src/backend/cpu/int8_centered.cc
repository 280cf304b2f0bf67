// Row-centred int8 (int8_centered.h).
#include "backend/cpu/int8_centered.h"

#include <algorithm>
#include <cmath>

namespace floe::cpu {

void QuantizeRowsS8Centered(const float* src, int64_t rows, int64_t k, int8_t* dst,
                            float* scale, float* center) {
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < rows; ++r) {
    const float* x = src + r * k;
    float mn = x[0], mx = x[0];
#pragma omp simd reduction(min : mn) reduction(max : mx)
    for (int64_t i = 0; i < k; ++i) {
      mn = std::min(mn, x[i]);
      mx = std::max(mx, x[i]);
    }
    const float c = 0.5f * (mx + mn);
    const float s = mx > mn ? (mx - mn) / 254.f : 1.f;
    const float inv = 1.f / s;
    scale[r] = s;
    center[r] = c;
    int8_t* o = dst + r * k;
#pragma omp simd
    for (int64_t i = 0; i < k; ++i) {
      // |x - c| <= (max - min) / 2, so the quotient is within [-127, 127]
      // up to rounding; the clamp keeps the last ulp from wrapping.
      const float q = std::nearbyint((x[i] - c) * inv);
      o[i] = static_cast<int8_t>(std::clamp(q, -127.f, 127.f));
    }
  }
}

void CenteredEpilogue(const float* acc, int64_t rows, int64_t n, const float* scale,
                      const float* center, const float* colsum, const float* bias,
                      bool accumulate, float* y) {
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < rows; ++r) {
    const float s = scale[r], c = center[r];
    const float* a = acc + r * n;
    float* o = y + r * n;
    if (bias != nullptr && accumulate) {
#pragma omp simd
      for (int64_t j = 0; j < n; ++j) o[j] += s * a[j] + c * colsum[j] + bias[j];
    } else if (bias != nullptr) {
#pragma omp simd
      for (int64_t j = 0; j < n; ++j) o[j] = s * a[j] + c * colsum[j] + bias[j];
    } else if (accumulate) {
#pragma omp simd
      for (int64_t j = 0; j < n; ++j) o[j] += s * a[j] + c * colsum[j];
    } else {
#pragma omp simd
      for (int64_t j = 0; j < n; ++j) o[j] = s * a[j] + c * colsum[j];
    }
  }
}

}  // namespace floe::cpu
