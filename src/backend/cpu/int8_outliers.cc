// int8 activations with outliers split off (int8_outliers.h): AVX-512
// intrinsics, and portable loops compiled twice (plain x86-64 / aarch64, and
// AVX2 + FMA through a target attribute), chosen per call by RunIsa().
#include "backend/cpu/int8_outliers.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <vector>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "backend/cpu/kernels.h"
#include "core/half.h"

namespace floe::cpu {
namespace {

constexpr float kNoThreshold = std::numeric_limits<float>::infinity();
constexpr int kMaxDoublings = 64;

// How many of k values have |x| > t; *m gets the max |x| of the others.
using CountFn = int (*)(const float* x, int64_t k, float t, float* m);

// The threshold of a row with max |x| `amax` and sum |x| `l1` (see
// QuantizeRowsS8Split): kNoThreshold when nothing is split off; *inmax gets
// the max |x| of the rest.
inline float Threshold(const float* x, float amax, float l1, int64_t k, float beta, int cap,
                       CountFn count, float* inmax) {
  *inmax = amax;
  if (beta <= 0.f || cap <= 0) return kNoThreshold;
  float t = beta * (l1 / static_cast<float>(k));
  for (int it = 0; it < kMaxDoublings && t < amax; ++it, t *= 2.f) {
    float m = 0.f;
    if (count(x, k, t, &m) <= cap) {
      *inmax = m;
      return t;
    }
  }
  return kNoThreshold;
}

__attribute__((always_inline)) inline int CountPortable(const float* x, int64_t k, float t,
                                                        float* m) {
  int c = 0;
  float mx = 0.f;
#pragma omp simd reduction(+ : c) reduction(max : mx)
  for (int64_t i = 0; i < k; ++i) {
    const float a = std::fabs(x[i]);
    c += a > t ? 1 : 0;
    mx = std::max(mx, a > t ? 0.f : a);
  }
  *m = mx;
  return c;
}

// Portable row kernels, inlined into each instantiation below so the
// compiler vectorises them for that target.
__attribute__((always_inline)) inline void QuantRowPortable(const float* x, int64_t k,
                                                            float beta, int cap, int32_t* count,
                                                            int32_t* index, float* value,
                                                            int8_t* q, float* scale,
                                                            CountFn count_fn) {
  float amax = 0.f, l1 = 0.f;
#pragma omp simd reduction(max : amax) reduction(+ : l1)
  for (int64_t i = 0; i < k; ++i) {
    const float a = std::fabs(x[i]);
    amax = std::max(amax, a);
    l1 += a;
  }
  float inmax;
  const float thr = Threshold(x, amax, l1, k, beta, cap, count_fn, &inmax);
  const float s = inmax > 0.f ? inmax / 127.f : 1.f;
  const float inv = 1.f / s;
  *scale = s;
#pragma omp simd
  for (int64_t i = 0; i < k; ++i) {
    const float v = std::fabs(x[i]) > thr ? 0.f : x[i] * inv;
    q[i] = static_cast<int8_t>(static_cast<int32_t>(RoundHalfEven(v)));
  }
  if (thr == kNoThreshold) return;
  int o = 0;
  for (int64_t i = 0; i < k; ++i) {
    if (std::fabs(x[i]) > thr) {
      index[o] = static_cast<int32_t>(i);
      value[o] = x[i];
      ++o;
    }
  }
  *count = o;
}

inline float Bf16Bits(uint16_t h) { return BFloat16ToFloat(h); }

__attribute__((always_inline)) inline void EpilogueRowPortable(
    const float* acc, int64_t n, float s, int cnt, const int32_t* index, const float* value,
    const uint16_t* wt, const float* bias, bool accumulate, float* y) {
  if (accumulate) {
#pragma omp simd
    for (int64_t j = 0; j < n; ++j) y[j] += s * acc[j] + (bias != nullptr ? bias[j] : 0.f);
  } else {
#pragma omp simd
    for (int64_t j = 0; j < n; ++j) y[j] = s * acc[j] + (bias != nullptr ? bias[j] : 0.f);
  }
  for (int t = 0; t < cnt; ++t) {
    const float v = value[t];
    const uint16_t* w = wt + static_cast<int64_t>(index[t]) * n;
#pragma omp simd
    for (int64_t j = 0; j < n; ++j) y[j] += v * Bf16Bits(w[j]);
  }
}

int CountGeneric(const float* x, int64_t k, float t, float* m) {
  return CountPortable(x, k, t, m);
}
void QuantRowGeneric(const float* x, int64_t k, float beta, int cap, int32_t* count,
                     int32_t* index, float* value, int8_t* q, float* scale) {
  QuantRowPortable(x, k, beta, cap, count, index, value, q, scale, CountGeneric);
}
void EpilogueRowGeneric(const float* acc, int64_t n, float s, int cnt, const int32_t* index,
                        const float* value, const uint16_t* wt, const float* bias,
                        bool accumulate, float* y) {
  EpilogueRowPortable(acc, n, s, cnt, index, value, wt, bias, accumulate, y);
}

#if defined(__x86_64__)
// GCC 12's AVX-512 headers start some intrinsics from a self-initialised
// register (`__m512i __Y = __Y;`), which -Wmaybe-uninitialized reports once
// they are inlined into a target("avx512f") function.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#define FLOE_INT8_AVX2 __attribute__((target("avx2,fma")))
#define FLOE_INT8_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx2,fma")))

FLOE_INT8_AVX2 int CountAvx2(const float* x, int64_t k, float t, float* m) {
  return CountPortable(x, k, t, m);
}
FLOE_INT8_AVX2 void QuantRowAvx2(const float* x, int64_t k, float beta, int cap,
                                 int32_t* count, int32_t* index, float* value, int8_t* q,
                                 float* scale) {
  QuantRowPortable(x, k, beta, cap, count, index, value, q, scale, CountAvx2);
}
FLOE_INT8_AVX2 void EpilogueRowAvx2(const float* acc, int64_t n, float s, int cnt,
                                    const int32_t* index, const float* value,
                                    const uint16_t* wt, const float* bias, bool accumulate,
                                    float* y) {
  EpilogueRowPortable(acc, n, s, cnt, index, value, wt, bias, accumulate, y);
}

FLOE_INT8_AVX512 inline __mmask16 TailMask(int64_t left) {
  return left >= 16 ? static_cast<__mmask16>(0xFFFF)
                    : static_cast<__mmask16>((1u << left) - 1u);
}

FLOE_INT8_AVX512 int CountAvx512(const float* x, int64_t k, float t, float* m) {
  const __m512 sign = _mm512_set1_ps(-0.f), vt = _mm512_set1_ps(t);
  __m512 vm = _mm512_setzero_ps();
  int c = 0;
  for (int64_t i = 0; i < k; i += 16) {
    // Lanes past the end load 0: never above t, and no larger max.
    const __m512 a = _mm512_andnot_ps(sign, _mm512_maskz_loadu_ps(TailMask(k - i), x + i));
    const __mmask16 o = _mm512_cmp_ps_mask(a, vt, _CMP_GT_OQ);
    c += __builtin_popcount(static_cast<unsigned>(o));
    vm = _mm512_mask_max_ps(vm, static_cast<__mmask16>(~o), vm, a);
  }
  *m = _mm512_reduce_max_ps(vm);
  return c;
}

FLOE_INT8_AVX512 void QuantRowAvx512(const float* x, int64_t k, float beta, int cap,
                                     int32_t* count, int32_t* index, float* value, int8_t* q,
                                     float* scale) {
  const __m512 sign = _mm512_set1_ps(-0.f);
  __m512 vmax = _mm512_setzero_ps(), vsum = _mm512_setzero_ps();
  for (int64_t i = 0; i < k; i += 16) {
    const __m512 a = _mm512_andnot_ps(sign, _mm512_maskz_loadu_ps(TailMask(k - i), x + i));
    vmax = _mm512_max_ps(vmax, a);
    vsum = _mm512_add_ps(vsum, a);
  }
  const float amax = _mm512_reduce_max_ps(vmax), l1 = _mm512_reduce_add_ps(vsum);
  float inmax;
  const float thr = Threshold(x, amax, l1, k, beta, cap, CountAvx512, &inmax);
  const float s = inmax > 0.f ? inmax / 127.f : 1.f;
  *scale = s;
  const __m512 vinv = _mm512_set1_ps(1.f / s), vt = _mm512_set1_ps(thr);
  const __m512i iota = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  int o = 0;
  for (int64_t i = 0; i < k; i += 16) {
    const __mmask16 in = TailMask(k - i);
    const __m512 v = _mm512_maskz_loadu_ps(in, x + i);
    const __mmask16 out = _mm512_cmp_ps_mask(_mm512_andnot_ps(sign, v), vt, _CMP_GT_OQ);
    const __m512i qi =
        _mm512_cvtps_epi32(_mm512_maskz_mul_ps(static_cast<__mmask16>(~out), v, vinv));
    _mm512_mask_cvtsepi32_storeu_epi8(q + i, in, qi);
    if (out != 0) {
      _mm512_mask_compressstoreu_ps(value + o, out, v);
      _mm512_mask_compressstoreu_epi32(
          index + o, out, _mm512_add_epi32(iota, _mm512_set1_epi32(static_cast<int32_t>(i))));
      o += __builtin_popcount(static_cast<unsigned>(out));
    }
  }
  if (thr != kNoThreshold) *count = o;
}

// 16 bf16 bits to float32: the top half of each lane.
FLOE_INT8_AVX512 inline __m512 Bf16x16(const uint16_t* w) {
  const __m256i w16 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w));
  return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(w16), 16));
}

FLOE_INT8_AVX512 void EpilogueRowAvx512(const float* acc, int64_t n, float s, int cnt,
                                        const int32_t* index, const float* value,
                                        const uint16_t* wt, const float* bias,
                                        bool accumulate, float* y) {
  const __m512 vs = _mm512_set1_ps(s);
  int64_t j = 0;
  // 64 columns at a time: each outlier's value and weight row are looked up
  // once per 4 vectors. The terms add in the same order as below.
  for (; j + 64 <= n; j += 64) {
    __m512 r[4];
    for (int b = 0; b < 4; ++b) {
      r[b] = _mm512_mul_ps(_mm512_loadu_ps(acc + j + 16 * b), vs);
      if (bias != nullptr) r[b] = _mm512_add_ps(r[b], _mm512_loadu_ps(bias + j + 16 * b));
    }
    for (int t = 0; t < cnt; ++t) {
      const __m512 v = _mm512_set1_ps(value[t]);
      const uint16_t* w = wt + static_cast<int64_t>(index[t]) * n + j;
      for (int b = 0; b < 4; ++b) r[b] = _mm512_fmadd_ps(v, Bf16x16(w + 16 * b), r[b]);
    }
    for (int b = 0; b < 4; ++b) {
      if (accumulate) r[b] = _mm512_add_ps(r[b], _mm512_loadu_ps(y + j + 16 * b));
      _mm512_storeu_ps(y + j + 16 * b, r[b]);
    }
  }
  for (; j < n; j += 16) {
    const __mmask16 m = TailMask(n - j);
    __m512 r = _mm512_mul_ps(_mm512_maskz_loadu_ps(m, acc + j), vs);
    if (bias != nullptr) r = _mm512_add_ps(r, _mm512_maskz_loadu_ps(m, bias + j));
    for (int t = 0; t < cnt; ++t) {
      // bf16 bits to float32: the top half of each lane.
      const __m256i w16 =
          _mm256_maskz_loadu_epi16(m, wt + static_cast<int64_t>(index[t]) * n + j);
      const __m512 w = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(w16), 16));
      r = _mm512_fmadd_ps(_mm512_set1_ps(value[t]), w, r);
    }
    if (accumulate) r = _mm512_add_ps(r, _mm512_maskz_loadu_ps(m, y + j));
    _mm512_mask_storeu_ps(y + j, m, r);
  }
}
#endif

using QuantRowFn = void (*)(const float*, int64_t, float, int, int32_t*, int32_t*, float*,
                            int8_t*, float*);
using EpilogueRowFn = void (*)(const float*, int64_t, float, int, const int32_t*,
                               const float*, const uint16_t*, const float*, bool, float*);

QuantRowFn ChooseQuantRow() {
#if defined(__x86_64__)
  if (RunIsa().avx512f) return QuantRowAvx512;
  if (RunIsa().avx2 && RunIsa().fma) return QuantRowAvx2;
#endif
  return QuantRowGeneric;
}
EpilogueRowFn ChooseEpilogueRow() {
#if defined(__x86_64__)
  if (RunIsa().avx512f) return EpilogueRowAvx512;
  if (RunIsa().avx2 && RunIsa().fma) return EpilogueRowAvx2;
#endif
  return EpilogueRowGeneric;
}

struct Scratch {
  std::vector<int32_t> count, index;
  std::vector<float> value;
};

}  // namespace

void QuantizeRowS8Split(const float* x, int64_t k, float beta, int cap, int32_t* count,
                        int32_t* index, float* value, int8_t* q, float* scale) {
  if (count != nullptr) *count = 0;
  ChooseQuantRow()(x, k, beta, cap, count, index, value, q, scale);
}

void QuantizeRowsS8Split(const float* x, int64_t rows, int64_t k, float beta,
                         const OutlierRows& out, int8_t* q, float* scale) {
  const int cap = out.cap;
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < rows; ++r) {
    QuantizeRowS8Split(x + r * k, k, beta, cap, cap > 0 ? out.count + r : nullptr,
                       cap > 0 ? out.index + r * cap : nullptr,
                       cap > 0 ? out.value + r * cap : nullptr, q + r * k, scale + r);
  }
}

void SplitEpilogue(const float* acc, int64_t rows, int64_t n, const float* scale,
                   const OutlierRows& out, const uint16_t* wt, const float* bias,
                   bool accumulate, float* y) {
  const EpilogueRowFn row = ChooseEpilogueRow();
  const int cap = out.cap;
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < rows; ++r) {
    const int cnt = cap > 0 ? out.count[r] : 0;
    row(acc + r * n, n, scale[r], cnt, cap > 0 ? out.index + r * cap : nullptr,
        cap > 0 ? out.value + r * cap : nullptr, wt, bias, accumulate, y + r * n);
  }
}

OutlierRows OutlierScratch(int64_t rows, int cap) {
  thread_local Scratch s;
  const size_t entries = static_cast<size_t>(rows) * static_cast<size_t>(std::max(cap, 0));
  if (s.count.size() < static_cast<size_t>(rows)) s.count.resize(rows);
  if (s.index.size() < entries) {
    s.index.resize(entries);
    s.value.resize(entries);
  }
  return OutlierRows{cap, s.count.data(), s.index.data(), s.value.data()};
}

int OutlierCap(int64_t k) { return static_cast<int>(std::min<int64_t>(64, k / 16)); }

float OutlierBeta() {
  static const float beta = [] {
    const char* env = std::getenv("FLOE_CPU_INT8_OUTLIER_BETA");
    return env != nullptr ? std::strtof(env, nullptr) : 6.f;
  }();
  return beta;
}

}  // namespace floe::cpu
