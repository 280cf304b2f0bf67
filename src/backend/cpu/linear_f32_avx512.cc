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

// R rows x 16 V columns: R V sums in registers over the whole of k; the
// weight's next rows prefetched `ahead` floats ahead (when `ahead` > 0).
template <int R, int V>
void Tile(const float* pw, int64_t ldw, int64_t ahead, const float* x, int64_t k,
          const float* bias, Activation act, bool accumulate, float* y, int64_t ldy) {
  __m512 acc[R][V];
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r) {
#pragma GCC unroll 4
    for (int v = 0; v < V; ++v) acc[r][v] = _mm512_setzero_ps();
  }
  for (int64_t i = 0; i < k; ++i) {
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

#define FLOE_F32_TILE(R) \
  case R:                \
    return Tile<R, V>(pw, ldw, ahead, x, k, bias, act, accumulate, y, ldy)

// 16 or 32 columns: up to 12 rows (24 sums).
template <int V>
void Rows(const float* pw, int64_t ldw, int64_t ahead, const float* x, int64_t k,
          int64_t rows, const float* bias, Activation act, bool accumulate, float* y,
          int64_t ldy) {
  switch (rows) {
    FLOE_F32_TILE(1);
    FLOE_F32_TILE(2);
    FLOE_F32_TILE(3);
    FLOE_F32_TILE(4);
    FLOE_F32_TILE(5);
    FLOE_F32_TILE(6);
    FLOE_F32_TILE(7);
    FLOE_F32_TILE(8);
    FLOE_F32_TILE(9);
    FLOE_F32_TILE(10);
    FLOE_F32_TILE(11);
    default:
      return Tile<12, V>(pw, ldw, ahead, x, k, bias, act, accumulate, y, ldy);
  }
}

// 64 columns (a whole BA16a64b panel row, 256 contiguous bytes): up to 6 rows.
void Rows64(const float* pw, int64_t ldw, int64_t ahead, const float* x, int64_t k,
            int64_t rows, const float* bias, Activation act, bool accumulate, float* y,
            int64_t ldy) {
  constexpr int V = 4;
  switch (rows) {
    FLOE_F32_TILE(1);
    FLOE_F32_TILE(2);
    FLOE_F32_TILE(3);
    FLOE_F32_TILE(4);
    FLOE_F32_TILE(5);
    default:
      return Tile<6, V>(pw, ldw, ahead, x, k, bias, act, accumulate, y, ldy);
  }
}
#undef FLOE_F32_TILE

}  // namespace

void F32Tile(const float* pw, int64_t ldw, int64_t ahead, const float* x, int64_t k,
             int64_t rows, int64_t cols, const float* bias, Activation act,
             bool accumulate, float* y, int64_t ldy) {
  if (cols == 64) {
    return Rows64(pw, ldw, ahead, x, k, rows, bias, act, accumulate, y, ldy);
  }
  if (cols == 32) {
    return Rows<2>(pw, ldw, ahead, x, k, rows, bias, act, accumulate, y, ldy);
  }
  Rows<1>(pw, ldw, ahead, x, k, rows, bias, act, accumulate, y, ldy);
}

}  // namespace floe::cpu::avx512
#endif  // __x86_64__
