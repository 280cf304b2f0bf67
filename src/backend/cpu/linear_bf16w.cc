// bfloat16-weight products (linear_bf16w.h): packing, the portable kernel,
// and the AVX2 / AVX-512 kernels, compiled for their instruction sets by
// target attributes and called only where RunIsa has them.
//
// Each tile of R rows x one panel keeps its R x width sums in registers over
// the whole of k (one weight load, widened once, feeds R rows of FMAs), then
// adds the bias (and y) once. Every output is summed over i = 0 .. k - 1 in
// order, in whatever tile it falls, so a row's result does not depend on the
// other rows of the batch.
#include "backend/cpu/linear_bf16w.h"

#include <algorithm>
#include <vector>

#include "backend/cpu/kernels.h"
#include "core/half.h"

#if defined(__x86_64__)
// GCC 12 warns falsely inside its own AVX-512 intrinsics (as kernels_avx512.cc).
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#define FLOE_TARGET_AVX2 __attribute__((target("avx2,fma")))
#define FLOE_TARGET_AVX512 __attribute__((target("avx512f,avx2,fma")))
#endif

namespace floe::cpu {

Bf16wKernel ChooseBf16wKernel() {
#if defined(__x86_64__)
  if (RunIsa().avx512f) return Bf16wKernel::kAvx512;
  if (RunIsa().avx2 && RunIsa().fma) return Bf16wKernel::kAvx2;
#endif
  return Bf16wKernel::kGeneric;
}

const char* Bf16wKernelName(Bf16wKernel kernel) {
  switch (kernel) {
    case Bf16wKernel::kAvx512:
      return "avx512";
    case Bf16wKernel::kAvx2:
      return "avx2";
    case Bf16wKernel::kGeneric:
      break;
  }
  return "generic";
}

bool Bf16wKernelRuns(Bf16wKernel kernel) {
  switch (kernel) {
    case Bf16wKernel::kAvx512:
      return ChooseBf16wKernel() == Bf16wKernel::kAvx512;
    case Bf16wKernel::kAvx2:
      return ChooseBf16wKernel() != Bf16wKernel::kGeneric;
    case Bf16wKernel::kGeneric:
      break;
  }
  return true;
}

Bf16Weights PackBf16Weights(const float* w, int64_t n, int64_t k, Bf16wKernel kernel) {
  Bf16Weights out;
  out.kernel = kernel;
  out.k = k;
  out.n = n;
  out.width = kernel == Bf16wKernel::kAvx512 ? 32 : 16;
  const int64_t W = out.width, half = W / 2, panels = out.num_panels();
  out.panels.assign(static_cast<size_t>(panels * k * W), 0);
#pragma omp parallel for schedule(static)
  for (int64_t p = 0; p < panels; ++p) {
    std::vector<uint16_t> row(static_cast<size_t>(k));
    for (int64_t c = 0; c < W && p * W + c < n; ++c) {
      FloatToBf16Row(w + (p * W + c) * k, k, row.data());
      // Column c of the panel: lane c (low half) or lane c - W/2 (high half).
      const int64_t pos = c < half ? 2 * c : 2 * (c - half) + 1;
      uint16_t* dst = out.panels.data() + p * k * W + pos;
      for (int64_t i = 0; i < k; ++i) dst[i * W] = row[i];
    }
  }
  return out;
}

namespace {

// Row i of W^T from the panels: o[p * W + c] for every column of panel p.
void WidenRowGeneric(const Bf16Weights& w, int64_t i, int64_t first_panel, float* o) {
  const int64_t W = w.width, half = W / 2;
  for (int64_t p = first_panel; p < w.num_panels(); ++p) {
    const uint16_t* src = w.panels.data() + (p * w.k + i) * W;
    const int64_t cols = std::min(W, w.n - p * W);
    for (int64_t c = 0; c < cols; ++c) {
      o[p * W + c] = BFloat16ToFloat(src[c < half ? 2 * c : 2 * (c - half) + 1]);
    }
  }
}

#if defined(__x86_64__)
// The full panels of row i (the last, partial one is WidenRowGeneric's);
// returns how many it did.
FLOE_TARGET_AVX2 int64_t WidenRowAvx2(const Bf16Weights& w, int64_t i, float* o) {
  const int64_t full = w.n / 16;
  const __m256i high = _mm256_set1_epi32(static_cast<int>(0xFFFF0000u));
  for (int64_t p = 0; p < full; ++p) {
    const __m256i v = _mm256_loadu_si256(
        reinterpret_cast<const __m256i*>(w.panels.data() + (p * w.k + i) * 16));
    _mm256_storeu_ps(o + p * 16, _mm256_castsi256_ps(_mm256_slli_epi32(v, 16)));
    _mm256_storeu_ps(o + p * 16 + 8, _mm256_castsi256_ps(_mm256_and_si256(v, high)));
  }
  return full;
}

FLOE_TARGET_AVX512 int64_t WidenRowAvx512(const Bf16Weights& w, int64_t i, float* o) {
  const int64_t full = w.n / 32;
  const __m512i high = _mm512_set1_epi32(static_cast<int>(0xFFFF0000u));
  for (int64_t p = 0; p < full; ++p) {
    const __m512i v = _mm512_loadu_si512(w.panels.data() + (p * w.k + i) * 32);
    _mm512_storeu_ps(o + p * 32, _mm512_castsi512_ps(_mm512_slli_epi32(v, 16)));
    _mm512_storeu_ps(o + p * 32 + 16, _mm512_castsi512_ps(_mm512_and_si512(v, high)));
  }
  return full;
}
#endif

}  // namespace

void WidenBf16Weights(const Bf16Weights& w, float* out) {
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < w.k; ++i) {
    float* o = out + i * w.n;
    int64_t done = 0;
#if defined(__x86_64__)
    if (w.kernel == Bf16wKernel::kAvx2) done = WidenRowAvx2(w, i, o);
    if (w.kernel == Bf16wKernel::kAvx512) done = WidenRowAvx512(w, i, o);
#endif
    WidenRowGeneric(w, i, done, o);
  }
}

namespace {

// y[r][j] = c[r][j] + bias[j] (+ y[r][j]) for the tile's rows and its first
// `cols` columns; c is [rows, width].
void Finish(const float* c, int64_t rows, int64_t width, int64_t cols, const float* bias,
            bool accumulate, float* y, int64_t ldy) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* cr = c + r * width;
    float* yr = y + r * ldy;
    for (int64_t j = 0; j < cols; ++j) {
      const float v = cr[j] + (bias != nullptr ? bias[j] : 0.f);
      yr[j] = accumulate ? yr[j] + v : v;
    }
  }
}

// Calls tile(panel, first row, rows) for every tile of m rows: blocks of 8
// full tiles (the last block takes the rest), tiles of `mr` rows, except
// that a remainder below `min_rows` joins the block's last full tile as two
// tiles of about equal size (a tile of 1 or 2 rows has too few independent
// sums to hide the FMA latency). Parallel over (row block, panel).
template <typename Tile>
void ForEachTile(int64_t m, int64_t panels, int64_t mr, int64_t min_rows, Tile&& tile) {
  const int64_t mc = 8 * mr;
  const int64_t blocks = std::max<int64_t>(1, m / mc);
#pragma omp parallel for collapse(2) schedule(static)
  for (int64_t b = 0; b < blocks; ++b) {
    for (int64_t p = 0; p < panels; ++p) {
      const int64_t end = b == blocks - 1 ? m : (b + 1) * mc;
      int64_t r = b * mc;
      while (end - r >= mr) {
        const int64_t left = end - r - mr;
        if (left > 0 && left < min_rows) {
          const int64_t first = (mr + left + 1) / 2;
          tile(p, r, first);
          tile(p, r + first, mr + left - first);
          r = end;
          break;
        }
        tile(p, r, mr);
        r += mr;
      }
      if (r < end) tile(p, r, end - r);
    }
  }
}

// Portable: 4 x 16 tiles, columns in panel order.
constexpr int64_t kGenericRows = 4;

void GenericTile(const Bf16Weights& w, int64_t p, const float* x, int64_t rows, float* c) {
  const int64_t k = w.k;
  float acc[kGenericRows][16] = {};
  for (int64_t i = 0; i < k; ++i) {
    const uint16_t* v = w.panels.data() + (p * k + i) * 16;
    float wf[16];
    for (int j = 0; j < 8; ++j) {
      wf[j] = BFloat16ToFloat(v[2 * j]);
      wf[8 + j] = BFloat16ToFloat(v[2 * j + 1]);
    }
    for (int64_t r = 0; r < rows; ++r) {
      const float a = x[r * k + i];
      for (int j = 0; j < 16; ++j) acc[r][j] += a * wf[j];
    }
  }
  for (int64_t r = 0; r < rows; ++r) std::copy(acc[r], acc[r] + 16, c + r * 16);
}

#if defined(__x86_64__)

// AVX2: R rows x 16 columns, 2R accumulators (R <= 6 of 16 registers).
template <int R>
FLOE_TARGET_AVX2 void Avx2Tile(const uint16_t* pw, const float* x, int64_t k, float* c) {
  __m256 acc[R][2];
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) acc[r][0] = acc[r][1] = _mm256_setzero_ps();
  const __m256i high = _mm256_set1_epi32(static_cast<int>(0xFFFF0000u));
  for (int64_t i = 0; i < k; ++i) {
    const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(pw + i * 16));
    const __m256 w0 = _mm256_castsi256_ps(_mm256_slli_epi32(v, 16));
    const __m256 w1 = _mm256_castsi256_ps(_mm256_and_si256(v, high));
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      const __m256 a = _mm256_broadcast_ss(x + r * k + i);
      acc[r][0] = _mm256_fmadd_ps(a, w0, acc[r][0]);
      acc[r][1] = _mm256_fmadd_ps(a, w1, acc[r][1]);
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) {
    _mm256_storeu_ps(c + r * 16, acc[r][0]);
    _mm256_storeu_ps(c + r * 16 + 8, acc[r][1]);
  }
}

FLOE_TARGET_AVX2 void Avx2Rows(const uint16_t* pw, const float* x, int64_t k, int64_t rows,
                               float* c) {
  switch (rows) {
    case 1: return Avx2Tile<1>(pw, x, k, c);
    case 2: return Avx2Tile<2>(pw, x, k, c);
    case 3: return Avx2Tile<3>(pw, x, k, c);
    case 4: return Avx2Tile<4>(pw, x, k, c);
    case 5: return Avx2Tile<5>(pw, x, k, c);
    default: return Avx2Tile<6>(pw, x, k, c);
  }
}

// AVX-512: R rows x 32 columns, 2R accumulators (R <= 12 of 32 registers).
template <int R>
FLOE_TARGET_AVX512 void Avx512Tile(const uint16_t* pw, const float* x, int64_t k, float* c) {
  __m512 acc[R][2];
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r) acc[r][0] = acc[r][1] = _mm512_setzero_ps();
  const __m512i high = _mm512_set1_epi32(static_cast<int>(0xFFFF0000u));
  for (int64_t i = 0; i < k; ++i) {
    const __m512i v = _mm512_loadu_si512(pw + i * 32);
    const __m512 w0 = _mm512_castsi512_ps(_mm512_slli_epi32(v, 16));
    const __m512 w1 = _mm512_castsi512_ps(_mm512_and_si512(v, high));
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r) {
      const __m512 a = _mm512_set1_ps(x[r * k + i]);
      acc[r][0] = _mm512_fmadd_ps(a, w0, acc[r][0]);
      acc[r][1] = _mm512_fmadd_ps(a, w1, acc[r][1]);
    }
  }
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r) {
    _mm512_storeu_ps(c + r * 32, acc[r][0]);
    _mm512_storeu_ps(c + r * 32 + 16, acc[r][1]);
  }
}

FLOE_TARGET_AVX512 void Avx512Rows(const uint16_t* pw, const float* x, int64_t k,
                                   int64_t rows, float* c) {
  switch (rows) {
    case 1: return Avx512Tile<1>(pw, x, k, c);
    case 2: return Avx512Tile<2>(pw, x, k, c);
    case 3: return Avx512Tile<3>(pw, x, k, c);
    case 4: return Avx512Tile<4>(pw, x, k, c);
    case 5: return Avx512Tile<5>(pw, x, k, c);
    case 6: return Avx512Tile<6>(pw, x, k, c);
    case 7: return Avx512Tile<7>(pw, x, k, c);
    case 8: return Avx512Tile<8>(pw, x, k, c);
    case 9: return Avx512Tile<9>(pw, x, k, c);
    case 10: return Avx512Tile<10>(pw, x, k, c);
    case 11: return Avx512Tile<11>(pw, x, k, c);
    default: return Avx512Tile<12>(pw, x, k, c);
  }
}

#endif  // __x86_64__

}  // namespace

void Bf16WeightProduct(const Bf16Weights& w, const float* x, int64_t m, const float* bias,
                       bool accumulate, float* y) {
  const int64_t k = w.k, n = w.n, W = w.width;
  int64_t mr = kGenericRows, min_rows = 1;
#if defined(__x86_64__)
  if (w.kernel != Bf16wKernel::kGeneric) {
    mr = w.kernel == Bf16wKernel::kAvx512 ? 12 : 6;
    min_rows = 4;
  }
#endif
  ForEachTile(m, w.num_panels(), mr, min_rows, [&](int64_t p, int64_t r, int64_t rows) {
    alignas(64) float c[12 * 32];
    const uint16_t* pw = w.panels.data() + p * k * W;
    const float* xr = x + r * k;
    switch (w.kernel) {
#if defined(__x86_64__)
      case Bf16wKernel::kAvx512:
        Avx512Rows(pw, xr, k, rows, c);
        break;
      case Bf16wKernel::kAvx2:
        Avx2Rows(pw, xr, k, rows, c);
        break;
#endif
      default:
        GenericTile(w, p, xr, rows, c);
        break;
    }
    Finish(c, rows, W, std::min(W, n - p * W), bias == nullptr ? nullptr : bias + p * W,
           accumulate, y + r * n + p * W, n);
  });
}

}  // namespace floe::cpu
