// Float32 products of a few rows (one short text: M = 1 .. 16 tokens) on
// floe's own kernels, reading the weight in place where oneDNN packed it.
// At such M a product streams its whole weight once for a few FMAs per
// element, and oneDNN's matmul (sized for hundreds of rows) ran at about half
// of the FMA peak there (docs/cpu-performance.md, "One short text").
//
// Shapes: x [m, k] (row stride k), y [m, n] (row stride n), W^T [k, n] as
// column panels (F32Panels). Each tile (R rows x 64 columns, R <= 6: a whole
// 256-byte row of a 64-column panel; or R x 32 / R x 16, R <= 12) sums over
// k in order in registers, then adds the bias, the activation and the
// residual once: a row's result does not depend on the other rows of the
// batch. The threads split the column tiles (each streams its share of the
// weight once); with more rows than a tile holds, the row groups go over k
// together in chunks of kF32ChunkRows (the sums wait in a buffer between
// chunks), the later groups reading each chunk from L1. AVX-512 only: on AVX2
// classes oneDNN's gemm:jit beat an AVX2 version of the kernel at 12 rows
// (docs/cpu-performance.md), so there, and off x86, oneDNN's product runs.
#pragma once

#include <cstdint>

#include "backend/backend.h"

namespace floe::cpu {

enum class F32Kernel { kNone, kAvx512 };

// Weight rows fetched ahead of the FMAs (2 to 8 KiB ahead in panels of 32 to
// 64 columns): the weight comes from memory once per product.
inline constexpr int64_t kF32PrefetchRows = 24;

// With more rows than one tile holds, a tile goes over k in chunks of this
// many weight rows, all its row groups per chunk (16 KiB of a 64-column
// panel: the groups after the first find the chunk in L1, not L2).
inline constexpr int64_t kF32ChunkRows = 64;

// The kernel this process runs (RunIsa: AVX-512F), else kNone.
F32Kernel ChooseF32Kernel();
// "avx512", "none".
const char* F32KernelName(F32Kernel kernel);
// Whether this CPU (and its cap) can run `kernel` (kNone: false).
bool F32KernelRuns(F32Kernel kernel);
// Whether `kernel` applies `act` itself (else the caller applies it after).
// AVX-512: none, ReLU, GELU (erf).
bool F32KernelFuses(F32Kernel kernel, Activation act);

// W^T [k, n]: element (i, j) at data[(j / width) * panel_stride + i * width +
// j % width]. oneDNN's BA16a<width>b layouts (panel_stride: k rounded up to 16,
// times width) and plain "ab" (width n, one panel) are such panels. width and
// n are multiples of 16.
struct F32Panels {
  F32Kernel kernel = F32Kernel::kNone;
  const float* data = nullptr;
  int64_t k = 0, n = 0, width = 0, panel_stride = 0;
  // How far ahead of the FMAs the kernels prefetch the weight, in rows of k.
  int64_t prefetch_rows = kF32PrefetchRows;
  // Chunk of k for tiles of several row groups (0: the whole of k).
  int64_t chunk_rows = kF32ChunkRows;

  int64_t num_panels() const { return (n + width - 1) / width; }
};

// y = act(x W^T + bias) (+ y when accumulate) for m >= 1 rows; bias may be
// null; act one that w.kernel fuses. Parallel (OpenMP) over column tiles.
void F32SmallProduct(const F32Panels& w, const float* x, int64_t m, const float* bias,
                     Activation act, bool accumulate, float* y);

namespace avx512 {
// One tile: rows (1 .. 12; 1 .. 6 at 64 columns) x cols (16, 32 or 64) of y
// from the panel columns at pw (row stride ldw), x [rows, k], over weight
// rows [k0, k1): sums from zero at k0 == 0, else from `part` (rows x cols
// floats); the epilogue into y at k1 == k, else the sums back to `part`. The
// weight prefetched `ahead` floats ahead (none at 0). linear_f32_avx512.cc.
void F32Tile(const float* pw, int64_t ldw, int64_t ahead, const float* x, int64_t k,
             int64_t k0, int64_t k1, float* part, int64_t rows, int64_t cols,
             const float* bias, Activation act, bool accumulate, float* y, int64_t ldy);
}  // namespace avx512

}  // namespace floe::cpu
