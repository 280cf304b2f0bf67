// Row-centred int8 for products whose inputs are far from symmetric around
// zero (the FFN down projection reads GELU/SiLU outputs in about [-0.17,
// max]): symmetric int8 spends half its 255 steps on values that never
// occur. Each row is shifted by its centre c = (max + min) / 2 first, so the
// same s8 x s8 product sees a symmetric range and gets the resolution of
// asymmetric u8 (step (max - min) / 254, not max|x| / 127); the shift comes
// back exactly in float32:
//   x W^T = (x - c) W^T + c * colsum(W),   colsum(W)[n] = sum_k W[n][k].
// Portable C++ (OpenMP simd); used by cpu_linear.cc's int8 products.
#pragma once

#include <cstdint>

namespace floe::cpu {

// Per row r of `rows` rows of `k` floats: center[r] = (max + min) / 2,
// scale[r] = (max - min) / 254 (1 for a constant row), dst[r][i] =
// round((x[r][i] - center[r]) / scale[r]) in [-127, 127]. Parallel (OpenMP).
void QuantizeRowsS8Centered(const float* src, int64_t rows, int64_t k, int8_t* dst,
                            float* scale, float* center);

// y[r][j] (+)= scale[r] * acc[r][j] + center[r] * colsum[j] + bias[j]:
// the float32 result of a centred product whose s8 x s8 part (with the
// weight's per-column scales applied) is acc. bias may be null; accumulate
// adds to what y holds (the residual). acc and y are [rows, n] row-major and
// may not alias. Parallel (OpenMP) over rows.
void CenteredEpilogue(const float* acc, int64_t rows, int64_t n, const float* scale,
                      const float* center, const float* colsum, const float* bias,
                      bool accumulate, float* y);

}  // namespace floe::cpu
