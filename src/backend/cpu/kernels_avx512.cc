// AVX-512 versions of kernels.h. This file alone is compiled with -mavx512f
// (see CMakeLists.txt); kernels.cc calls it only on CPUs that have AVX-512F.
// x86-64 only: elsewhere (aarch64) it is empty and the generic kernels run.
#if defined(__x86_64__)
// GCC 12 warns falsely inside its own _mm512_reduce_* intrinsics.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <cmath>

#include "backend/cpu/avx512_math.h"
#include "backend/cpu/kernels.h"

namespace floe::cpu::avx512 {
namespace {

inline __mmask16 TailMask(int64_t left) {
  return left >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << left) - 1);
}

// max(init, x[0..n)).
inline float RowMax(const float* x, int64_t n, float init) {
  __m512 vmax = _mm512_set1_ps(init);
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 m = TailMask(n - i);
    vmax = _mm512_mask_max_ps(vmax, m, vmax, _mm512_maskz_loadu_ps(m, x + i));
  }
  return _mm512_reduce_max_ps(vmax);
}

// x[i] = exp(x[i] - mx) for i < n; returns their sum.
inline float ExpMinus(float* x, int64_t n, float mx) {
  const __m512 vmx = _mm512_set1_ps(mx);
  __m512 vsum = _mm512_setzero_ps();
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 m = TailMask(n - i);
    const __m512 e = Exp(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, x + i), vmx));
    vsum = _mm512_mask_add_ps(vsum, m, vsum, e);
    _mm512_mask_storeu_ps(x + i, m, e);
  }
  return _mm512_reduce_add_ps(vsum);
}

}  // namespace

namespace {

// bf16(v) per lane, rounded to nearest even (finite inputs).
inline __m256i ToBf16(__m512 v) {
  __m512i b = _mm512_castps_si512(v);
  const __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(b, 16), _mm512_set1_epi32(1));
  b = _mm512_add_epi32(b, _mm512_add_epi32(_mm512_set1_epi32(0x7FFF), lsb));
  return _mm512_cvtepi32_epi16(_mm512_srli_epi32(b, 16));
}

// Softmax of each row; `store(r, i, mask, p)` writes the 16 (masked)
// probabilities of row r from column i.
template <typename Store>
void Softmax(float* x, int64_t rows, int64_t cols, int64_t ld, Store store) {
  for (int64_t r = 0; r < rows; ++r) {
    float* row = x + r * ld;
    const float sum = ExpMinus(row, cols, RowMax(row, cols, -INFINITY));
    const __m512 inv = _mm512_set1_ps(1.f / sum);
    for (int64_t i = 0; i < cols; i += 16) {
      const __mmask16 m = TailMask(cols - i);
      store(r, i, m, _mm512_mul_ps(_mm512_maskz_loadu_ps(m, row + i), inv));
    }
  }
}

}  // namespace

void SoftmaxRows(float* x, int64_t rows, int64_t cols, int64_t ld) {
  Softmax(x, rows, cols, ld, [&](int64_t r, int64_t i, __mmask16 m, __m512 p) {
    _mm512_mask_storeu_ps(x + r * ld + i, m, p);
  });
}

void RowsTimesRows(const float* a, int64_t lda, const float* b, int64_t ldb, int64_t m,
                   int64_t kd, int64_t n, float scale, float* c, int64_t ldc) {
  const __m512 vscale = _mm512_set1_ps(scale);
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j0 = 0; j0 < n; j0 += 16) {
      const __mmask16 mask = TailMask(n - j0);
      __m512 acc = _mm512_setzero_ps();
      for (int64_t e = 0; e < kd; ++e) {
        acc = _mm512_fmadd_ps(_mm512_set1_ps(a[i * lda + e]),
                              _mm512_maskz_loadu_ps(mask, b + e * ldb + j0), acc);
      }
      if (scale != 1.f) acc = _mm512_mul_ps(acc, vscale);
      _mm512_mask_storeu_ps(c + i * ldc + j0, mask, acc);
    }
  }
}

float SoftmaxStep(float* x, int64_t n, float* max, float* sum) {
  const float mx = RowMax(x, n, *max);
  const float s = ExpMinus(x, n, mx);
  const float factor = std::exp(*max - mx);
  *sum = *sum * factor + s;
  *max = mx;
  return factor;
}

void SoftmaxRowsToBf16(float* x, int64_t rows, int64_t cols, int64_t ld, uint16_t* out,
                       int64_t ldo) {
  Softmax(x, rows, cols, ld, [&](int64_t r, int64_t i, __mmask16 m, __m512 p) {
    _mm256_mask_storeu_epi16(out + r * ldo + i, m, ToBf16(p));
  });
}

void FloatToBf16Row(const float* src, int64_t n, uint16_t* dst) {
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 m = TailMask(n - i);
    _mm256_mask_storeu_epi16(dst + i, m, ToBf16(_mm512_maskz_loadu_ps(m, src + i)));
  }
}

void LayerNormRow(const float* x, int64_t n, const float* gamma, const float* beta, float eps,
                  float* y) {
  __m512 vsum = _mm512_setzero_ps();
  for (int64_t i = 0; i < n; i += 16) {
    vsum = _mm512_add_ps(vsum, _mm512_maskz_loadu_ps(TailMask(n - i), x + i));
  }
  const float mean = _mm512_reduce_add_ps(vsum) / static_cast<float>(n);
  const __m512 vmean = _mm512_set1_ps(mean);
  __m512 vsq = _mm512_setzero_ps();
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 m = TailMask(n - i);
    const __m512 d = _mm512_maskz_sub_ps(m, _mm512_maskz_loadu_ps(m, x + i), vmean);
    vsq = _mm512_fmadd_ps(d, d, vsq);
  }
  const float inv = 1.f / std::sqrt(_mm512_reduce_add_ps(vsq) / static_cast<float>(n) + eps);
  const __m512 vinv = _mm512_set1_ps(inv);
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 m = TailMask(n - i);
    const __m512 d = _mm512_mul_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, x + i), vmean), vinv);
    const __m512 o = _mm512_fmadd_ps(d, _mm512_maskz_loadu_ps(m, gamma + i),
                                     _mm512_maskz_loadu_ps(m, beta + i));
    _mm512_mask_storeu_ps(y + i, m, o);
  }
}

}  // namespace floe::cpu::avx512
#endif  // __x86_64__
