// Products with bfloat16 weights and float32 arithmetic, for CPUs without a
// bf16 dot product (no AVX512_BF16: the AVX2, AVX2_VNNI, AVX512_CORE and
// AVX512_CORE_VNNI classes). The weight is stored once as bf16 (half of
// float32's memory and memory traffic) and widened to float32 on the fly:
// a bf16 is the top half of a float32, so a shift (or a mask) is the whole
// conversion. Activations, accumulation and output stay float32, so the
// result is a float32 product of the bf16-rounded weight.
//
// Shapes: x [m, k] (row stride k), W [n, k] as LinearSpec holds it, y [m, n]
// (row stride n). Kernels: AVX-512F (32-column panels, 12 x 32 tiles), AVX2 +
// FMA (16-column panels, 6 x 16 tiles) and portable C++ (16-column panels);
// the intrinsics are x86-64 only.
#pragma once

#include <cstdint>
#include <vector>

namespace floe::cpu {

enum class Bf16wKernel { kGeneric, kAvx2, kAvx512 };

// The fastest kernel this process runs (RunIsa: AVX-512F, else AVX2 and
// FMA, else portable C++).
Bf16wKernel ChooseBf16wKernel();
// "avx512", "avx2", "generic".
const char* Bf16wKernelName(Bf16wKernel kernel);
// Whether this CPU (and its cap) can run `kernel`.
bool Bf16wKernelRuns(Bf16wKernel kernel);

// W rounded to bf16 (nearest even) in column panels of `width` columns
// (32 for kAvx512, else 16): panel p holds, for each i < k, the bf16 of
// columns p * width .. p * width + width - 1 of row i of W^T, interleaved so
// that 32-bit lane j holds (column j, column width / 2 + j): shifting a lane
// left by 16 gives the first as a float32, masking its low half the second.
// Columns past n are zero.
struct Bf16Weights {
  Bf16wKernel kernel = Bf16wKernel::kGeneric;
  int64_t k = 0, n = 0, width = 16;
  std::vector<uint16_t> panels;  // [ceil(n / width), k, width]

  int64_t num_panels() const { return (n + width - 1) / width; }
};

// w: [n, k] row-major float32. Parallel (OpenMP).
Bf16Weights PackBf16Weights(const float* w, int64_t n, int64_t k, Bf16wKernel kernel);

// y = x W^T + bias (+ y when accumulate) for m >= 1 rows, float32 arithmetic
// on the bf16 weight; bias may be null. Parallel (OpenMP) over blocks of rows
// x column panels.
void Bf16WeightProduct(const Bf16Weights& w, const float* x, int64_t m, const float* bias,
                       bool accumulate, float* y);

// out [k, n] (n contiguous, oneDNN's "ab" weights) = the float32 values of
// W^T, for a float32 product of many rows. Parallel (OpenMP).
void WidenBf16Weights(const Bf16Weights& w, float* out);

}  // namespace floe::cpu
