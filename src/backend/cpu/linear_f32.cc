// Few-row float32 products (linear_f32.h): the kernel choice and the split of
// the column tiles over the threads. The AVX-512 tile is linear_f32_avx512.cc's.
#include "backend/cpu/linear_f32.h"

#include <omp.h>

#include <algorithm>
#include <vector>

#include "backend/cpu/kernels.h"

namespace floe::cpu {

F32Kernel ChooseF32Kernel() {
#if defined(__x86_64__)
  if (RunIsa().avx512f) return F32Kernel::kAvx512;
#endif
  return F32Kernel::kNone;
}

const char* F32KernelName(F32Kernel kernel) {
  return kernel == F32Kernel::kAvx512 ? "avx512" : "none";
}

bool F32KernelRuns(F32Kernel kernel) {
  return kernel != F32Kernel::kNone && ChooseF32Kernel() == kernel;
}

bool F32KernelFuses(F32Kernel kernel, Activation act) {
  return kernel == F32Kernel::kAvx512 &&
         (act == Activation::kNone || act == Activation::kRelu ||
          act == Activation::kGeluErf);
}

void F32SmallProduct(const F32Panels& w, const float* x, int64_t m, const float* bias,
                     Activation act, bool accumulate, float* y) {
#if defined(__x86_64__)
  const int64_t k = w.k, n = w.n, W = w.width;
  // Column tiles, panel by panel: 64 columns (a BA16a64b panel's 256-byte
  // row, read whole: one stream from memory), else 32 or 16.
  struct ColumnTile {
    const float* pw;
    int64_t j0, cols;
  };
  std::vector<ColumnTile> tiles;
  tiles.reserve(static_cast<size_t>(n / 16));
  for (int64_t p = 0; p < w.num_panels(); ++p) {
    const int64_t width = std::min(W, n - p * W);
    for (int64_t c = 0, cols = 0; c < width; c += cols) {
      const int64_t left = width - c;
      cols = left >= 64 ? 64 : left >= 32 ? 32 : 16;
      tiles.push_back({w.data + p * w.panel_stride + c, p * W + c, cols});
    }
  }
  const int64_t count = static_cast<int64_t>(tiles.size());
  const int64_t chunk_rows = w.chunk_rows > 0 ? w.chunk_rows : k;
#pragma omp parallel
  {
    // Each thread a contiguous run of column tiles: its share of the weight,
    // panel after panel, read once.
    const int64_t nt = omp_get_num_threads(), t = omp_get_thread_num();
    const int64_t begin = count * t / nt, end = count * (t + 1) / nt;
    // The partial sums of the tile's rows (m x at most 64 columns).
    alignas(64) float stack_part[16 * 64];
    std::vector<float> heap_part;
    if (m > 16) heap_part.resize(static_cast<size_t>(m) * 64);
    float* part = m > 16 ? heap_part.data() : stack_part;
    for (int64_t ti = begin; ti < end; ++ti) {
      const ColumnTile& tile = tiles[static_cast<size_t>(ti)];
      const int64_t mr = tile.cols < 64 ? 12 : 6;  // tile rows at most
      // Rows in groups of about equal size (13 rows: 7 + 6, not 12 + 1). One
      // group goes over the whole of k; more go over it chunk by chunk, all
      // groups per chunk: the first brings the chunk in, the others find it in
      // L1, the last prefetching the next chunk. Every sum still runs over k
      // in order, so a row's vector does not depend on the other rows.
      const int64_t groups = (m + mr - 1) / mr;
      const int64_t chunk = groups == 1 ? k : chunk_rows;
      const float* b = bias != nullptr ? bias + tile.j0 : nullptr;
      for (int64_t k0 = 0; k0 < k; k0 += chunk) {
        const int64_t k1 = std::min(k, k0 + chunk);
        for (int64_t g = 0, r0 = 0; g < groups; ++g) {
          const int64_t rows = m / groups + (g < m % groups ? 1 : 0);
          // The first group prefetches its rows' weight a little ahead, the
          // last the next chunk's: memory stays busy while the groups after
          // the first compute on the chunk in L1.
          const int64_t ahead = g == 0                         ? w.prefetch_rows * W
                                : g == groups - 1 && k1 < k ? chunk * W
                                                            : 0;
          float* yo = y + r0 * n + tile.j0;
          avx512::F32Tile(tile.pw, W, ahead, x + r0 * k, k, k0, k1, part + r0 * tile.cols,
                          rows, tile.cols, b, act, accumulate, yo, n);
          r0 += rows;
        }
      }
    }
  }
#else
  (void)w, (void)x, (void)m, (void)bias, (void)act, (void)accumulate, (void)y;
#endif
}

}  // namespace floe::cpu
