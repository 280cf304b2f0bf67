// The epilogue of the CPU backend's plain s8 products (cpu_linear.cc): the
// activations' per-row scales, the bias, the activation and the residual, in
// one pass over the product (it replaced a oneDNN binary primitive with
// post-ops, issue 16). Vectorised per CPU class (AVX-512, AVX2 + FMA,
// portable C++), chosen at run time (RunIsa); parallel over rows (OpenMP).
//
// The activations follow oneDNN's eltwise formulas, which the float32 and
// bfloat16 products fuse as post-ops, so a model's dtypes agree:
//   GELU (erf)   0.5 v (1 + erf(v / sqrt 2)), erf by Abramowitz and Stegun
//                7.1.26 (absolute error <= 1.5e-7)
//   GELU (tanh)  0.5 v (1 + tanh(sqrt(2 / pi) (v + 0.044715 v^3)))
//   SiLU         v / (1 + exp(-v));  ReLU  max(v, 0)
// with exp by Cephes' polynomial (about 1 ulp).
#pragma once

#include <cstdint>

#include "backend/backend.h"
#include "backend/cpu/int8_outliers.h"

namespace floe::cpu {

// y[r][j] = act(scale[r] * acc[r][j] + bias[j]) (+ y[r][j] when accumulate)
// for `rows` rows of n floats. acc: the s8 x s8 product with the weight's
// per-column scales applied; bias may be null. acc and y may not alias.
// Parallel (OpenMP) over rows.
void S8Epilogue(const float* acc, int64_t rows, int64_t n, const float* scale,
                const float* bias, Activation act, bool accumulate, float* y);

// S8Epilogue without a residual, each row then quantized for the next s8
// product as QuantizeRowsS8Split does (beta, out, q: [rows, n], qscale:
// [rows]), from a row in the thread's cache instead of y: the FFN's up
// projection handing its GELU rows to the down projection (LinearOp::
// ForwardInto). The same q, qscale and outliers as S8Epilogue followed by
// QuantizeRowsS8Split. Parallel (OpenMP) over rows.
void S8EpilogueQuantize(const float* acc, int64_t rows, int64_t n, const float* scale,
                        const float* bias, Activation act, float beta,
                        const OutlierRows& out, int8_t* q, float* qscale);

}  // namespace floe::cpu
