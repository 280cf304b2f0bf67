// The AVX-512 tile of the few-row float32 product (linear_f32.h). This file is
// compiled with -mavx512f (see CMakeLists.txt); linear_f32.cc calls it only
// where RunIsa has AVX-512F. x86-64 only.
#if defined(__x86_64__)
// GCC 12 warns falsely inside its own AVX-512 intrinsics (as kernels_avx512.cc).
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include "backend/cpu/avx512_math.h"
#include "backend/cpu/linear_f32.h"

namespace floe::cpu::avx512 {
namespace {

// R rows x 16 V columns over weight rows [k0, k1): R V sums in registers,
// started from zero (k0 == 0) or from the partial sums at `part` (R x 16 V
// floats); at k1 == k the bias, activation and residual go to y, before that
// the sums go back to `part`. The weight's next rows prefetched `ahead`
// floats ahead (when `ahead` > 0).
template <int R, int V>
void Tile(const float* pw, int64_t ldw, int64_t ahead, const float* x, int64_t k,
          int64_t k0, int64_t k1, float* part, const float* bias, Activation act,
          bool accumulate, float* y, int64_t ldy) {
  __m512 acc[R][V];
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r) {
#pragma GCC unroll 4
    for (int v = 0; v < V; ++v) {
      acc[r][v] = k0 == 0 ? _mm512_setzero_ps() : _mm512_loadu_ps(part + (r * V + v) * 16);
    }
  }
  for (int64_t i = k0; i < k1; ++i) {
    const float* wi = pw + i * ldw;
    if (ahead > 0) {
      const char* next = reinterpret_cast<const char*>(wi + ahead);
#pragma GCC unroll 4
      for (int v = 0; v < V; ++v) _mm_prefetch(next + 64 * v, _MM_HINT_T0);
    }
    __m512 w[V];
#pragma GCC unroll 4
    for (int v = 0; v < V; ++v) w[v] = _mm512_loadu_ps(wi + 16 * v);
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r) {
      const __m512 a = _mm512_set1_ps(x[r * k + i]);
#pragma GCC unroll 4
      for (int v = 0; v < V; ++v) acc[r][v] = _mm512_fmadd_ps(a, w[v], acc[r][v]);
    }
  }
  if (k1 < k) {
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r) {
#pragma GCC unroll 4
      for (int v = 0; v < V; ++v) _mm512_storeu_ps(part + (r * V + v) * 16, acc[r][v]);
    }
    return;
  }
  // As oneDNN's post-ops: bias, then the activation, then the residual.
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r) {
#pragma GCC unroll 4
    for (int v = 0; v < V; ++v) {
      __m512 t = acc[r][v];
      if (bias != nullptr) t = _mm512_add_ps(t, _mm512_loadu_ps(bias + 16 * v));
      if (act == Activation::kRelu) t = _mm512_max_ps(t, _mm512_setzero_ps());
      if (act == Activation::kGeluErf) t = GeluErf(t);
      float* o = y + r * ldy + 16 * v;
      if (accumulate) t = _mm512_add_ps(t, _mm512_loadu_ps(o));
      _mm512_storeu_ps(o, t);
    }
  }
}

// Up to R rows (the tile of R rows for more): R x V sums must fit the 32 zmm
// registers with the weight's V vectors, so R = 12 for 16 or 32 columns and 6
// for 64 (a whole BA16a64b panel row, 256 contiguous bytes).
template <int R, int V>
void RowsUpTo(const float* pw, int64_t ldw, int64_t ahead, const float* x, int64_t k,
              int64_t k0, int64_t k1, float* part, int64_t rows, const float* bias,
              Activation act, bool accumulate, float* y, int64_t ldy) {
  if constexpr (R > 1) {
    if (rows < R) {
      return RowsUpTo<R - 1, V>(pw, ldw, ahead, x, k, k0, k1, part, rows, bias, act,
                                accumulate, y, ldy);
    }
  }
  Tile<R, V>(pw, ldw, ahead, x, k, k0, k1, part, bias, act, accumulate, y, ldy);
}

}  // namespace

void F32Tile(const float* pw, int64_t ldw, int64_t ahead, const float* x, int64_t k,
             int64_t k0, int64_t k1, float* part, int64_t rows, int64_t cols,
             const float* bias, Activation act, bool accumulate, float* y, int64_t ldy) {
  if (cols == 64) {
    return RowsUpTo<6, 4>(pw, ldw, ahead, x, k, k0, k1, part, rows, bias, act, accumulate, y,
                          ldy);
  }
  if (cols == 32) {
    return RowsUpTo<12, 2>(pw, ldw, ahead, x, k, k0, k1, part, rows, bias, act, accumulate,
                           y, ldy);
  }
  RowsUpTo<12, 1>(pw, ldw, ahead, x, k, k0, k1, part, rows, bias, act, accumulate, y, ldy);
}

}  // namespace floe::cpu::avx512
#endif  // __x86_64__
