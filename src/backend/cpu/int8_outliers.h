// Dynamic int8 activations with the outliers split off (LLM.int8()'s mixed
// decomposition, per row, no calibration): in each row the few values far
// above the row's typical magnitude are taken out of the s8 rounding and
// multiplied in float32, so the row's s8 scale follows the rest. The FFN down
// projection's inputs (GELU outputs) and LayerNorm outputs of trained BERTs
// carry a few such channels; with them in the s8 range, a row's other values
// keep only a few levels.
//
//   x W^T = s q W^T + sum_(outliers o) x_o W[:, o]^T
//
// where q is the s8 row (outliers zeroed) and s its scale. Per row, so a
// text's vector does not depend on its batch. Vectorised per CPU class
// (AVX-512, AVX2, portable C++), chosen at run time (RunIsa); parallel over
// rows (OpenMP). Used by cpu_linear.cc's int8 products.
#pragma once

#include <cstdint>

namespace floe::cpu {

// Outlier lists of a batch: up to `cap` entries per row, row r's at
// index/value[r * cap ..], count[r] of them.
struct OutlierRows {
  int cap = 0;
  int32_t* count = nullptr;
  int32_t* index = nullptr;
  float* value = nullptr;
};

// Quantizes `rows` rows of `k` floats to s8, per row: with beta > 0 and
// out.cap > 0, the values with |x| > t are outliers, t = beta * mean|x| of
// the row, doubled until at most out.cap values exceed it (or t reaches the
// row's max: none); they are listed in `out` (in column order) and q is 0
// there. scale[r] = max |x| over the others / 127 (1 when that is 0),
// q[r][i] = round(x[r][i] / scale[r]) (nearest even), |q| <= 127. beta <= 0
// or cap 0: plain symmetric per row (out untouched; may be empty).
void QuantizeRowsS8Split(const float* x, int64_t rows, int64_t k, float beta,
                         const OutlierRows& out, int8_t* q, float* scale);

// One row of QuantizeRowsS8Split, on the calling thread: the row's outlier
// list is count / index / value (cap entries; all null when cap is 0).
void QuantizeRowS8Split(const float* x, int64_t k, float beta, int cap, int32_t* count,
                        int32_t* index, float* value, int8_t* q, float* scale);

// The float32 result of a split product:
//   y[r][j] (+)= scale[r] * acc[r][j] + bias[j]
//               + sum_o value[r][o] * wt[index[r][o]][j]
// acc: the s8 x s8 product with the weight's per-column scales applied,
// [rows, n]; wt: the weight transposed, [k, n], as bfloat16 bits (the
// outliers are large, so their weights keep 8 significant bits rather than
// the s8 step of their column's largest weight); bias may be null; out.cap
// 0: no outlier terms; accumulate adds to what y holds (the residual). acc
// and y may not alias. Parallel (OpenMP) over rows.
void SplitEpilogue(const float* acc, int64_t rows, int64_t n, const float* scale,
                   const OutlierRows& out, const uint16_t* wt, const float* bias,
                   bool accumulate, float* y);

// Outlier lists for `rows` rows of `cap` entries, in the calling thread's
// scratch (grown on demand, reused by its next call).
OutlierRows OutlierScratch(int64_t rows, int cap);

// Entries per row that a k-wide product keeps for outliers: at most 64, and
// at most k / 16.
int OutlierCap(int64_t k);

// The row threshold factor beta of QuantizeRowsS8Split for the int8
// products with outliers split off: FLOE_CPU_INT8_OUTLIER_BETA, else 6 (on
// the real all-MiniLM-L6-v2 min cosine 0.9922 against 0.9915 at 8 and 0.9903
// at 12; docs/cpu-performance.md).
float OutlierBeta();

}  // namespace floe::cpu
