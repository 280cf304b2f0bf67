// The plain s8 products' epilogue (int8_epilogue.h): one portable row kernel
// per activation, compiled three times (plain x86-64 / aarch64, AVX2 + FMA
// and AVX-512 through target attributes) so that the compiler vectorises it
// for each class; RunIsa() picks one per call.
#include "backend/cpu/int8_epilogue.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <vector>

#include "backend/cpu/kernels.h"

namespace floe::cpu {
namespace {

// exp(x) for x in [-87, 88] (clamped there): n = round(x log2 e), r = x - n
// ln 2 in two parts, Cephes' polynomial for exp(r), times 2^n built from its
// exponent bits. No libm call, so the loops vectorise.
__attribute__((always_inline)) inline float Exp(float x) {
  x = std::min(std::max(x, -87.f), 88.f);
  const float n = RoundHalfEven(x * 1.44269504088896341f);
  float r = x - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  float p = 1.9875691500E-4f;
  p = p * r + 1.3981999507E-3f;
  p = p * r + 8.3334519073E-3f;
  p = p * r + 4.1665795894E-2f;
  p = p * r + 1.6666665459E-1f;
  p = p * r + 5.0000001201E-1f;
  p = p * (r * r) + (r + 1.f);
  return p * std::bit_cast<float>((static_cast<int32_t>(n) + 127) << 23);
}

template <Activation A>
__attribute__((always_inline)) inline float Act(float v) {
  if constexpr (A == Activation::kGeluErf) {
    const float x = std::fabs(v) * 0.70710678118654752f;
    const float t = 1.f / (1.f + 0.3275911f * x);
    const float poly =
        t * (0.254829592f +
             t * (-0.284496736f +
                  t * (1.421413741f + t * (-1.453152027f + t * 1.061405429f))));
    const float erf_abs = 1.f - poly * Exp(-x * x);
    return 0.5f * v * (1.f + (v < 0.f ? -erf_abs : erf_abs));
  } else if constexpr (A == Activation::kGeluTanh) {
    // 0.5 v (1 + tanh(u)) = v / (1 + exp(-2u)): no cancellation near 0.
    const float u = 0.79788456080286536f * (v + 0.044715f * v * v * v);
    return v / (1.f + Exp(-2.f * u));
  } else if constexpr (A == Activation::kSilu) {
    return v / (1.f + Exp(-v));
  } else if constexpr (A == Activation::kRelu) {
    return v > 0.f ? v : 0.f;
  } else {
    return v;
  }
}

template <Activation A>
__attribute__((always_inline)) inline void RowPortable(const float* acc, int64_t n,
                                                       float s, const float* bias,
                                                       bool accumulate, float* y) {
  if (bias != nullptr && accumulate) {
#pragma omp simd
    for (int64_t j = 0; j < n; ++j) y[j] += Act<A>(s * acc[j] + bias[j]);
  } else if (bias != nullptr) {
#pragma omp simd
    for (int64_t j = 0; j < n; ++j) y[j] = Act<A>(s * acc[j] + bias[j]);
  } else if (accumulate) {
#pragma omp simd
    for (int64_t j = 0; j < n; ++j) y[j] += Act<A>(s * acc[j]);
  } else {
#pragma omp simd
    for (int64_t j = 0; j < n; ++j) y[j] = Act<A>(s * acc[j]);
  }
}

using RowFn = void (*)(const float*, int64_t, float, const float*, bool, float*);

template <Activation A>
void RowGeneric(const float* acc, int64_t n, float s, const float* bias, bool accumulate,
                float* y) {
  RowPortable<A>(acc, n, s, bias, accumulate, y);
}

#if defined(__x86_64__)
template <Activation A>
__attribute__((target("avx2,fma"))) void RowAvx2(const float* acc, int64_t n, float s,
                                                 const float* bias, bool accumulate,
                                                 float* y) {
  RowPortable<A>(acc, n, s, bias, accumulate, y);
}
template <Activation A>
__attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx2,fma"))) void RowAvx512(
    const float* acc, int64_t n, float s, const float* bias, bool accumulate, float* y) {
  RowPortable<A>(acc, n, s, bias, accumulate, y);
}
#endif

template <Activation A>
RowFn ChooseFor() {
#if defined(__x86_64__)
  if (RunIsa().avx512f) return RowAvx512<A>;
  if (RunIsa().avx2 && RunIsa().fma) return RowAvx2<A>;
#endif
  return RowGeneric<A>;
}

RowFn Choose(Activation act) {
  switch (act) {
    case Activation::kGeluErf:
      return ChooseFor<Activation::kGeluErf>();
    case Activation::kGeluTanh:
      return ChooseFor<Activation::kGeluTanh>();
    case Activation::kSilu:
      return ChooseFor<Activation::kSilu>();
    case Activation::kRelu:
      return ChooseFor<Activation::kRelu>();
    case Activation::kNone:
      break;
  }
  return ChooseFor<Activation::kNone>();
}

}  // namespace

void S8Epilogue(const float* acc, int64_t rows, int64_t n, const float* scale,
                const float* bias, Activation act, bool accumulate, float* y) {
  const RowFn row = Choose(act);
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < rows; ++r)
    row(acc + r * n, n, scale[r], bias, accumulate, y + r * n);
}

void S8EpilogueQuantize(const float* acc, int64_t rows, int64_t n, const float* scale,
                        const float* bias, Activation act, float beta,
                        const OutlierRows& out, int8_t* q, float* qscale) {
  const RowFn row = Choose(act);
  const int cap = out.cap;
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < rows; ++r) {
    thread_local std::vector<float> y;
    if (y.size() < static_cast<size_t>(n)) y.resize(n);
    row(acc + r * n, n, scale[r], bias, false, y.data());
    QuantizeRowS8Split(y.data(), n, beta, cap, cap > 0 ? out.count + r : nullptr,
                       cap > 0 ? out.index + r * cap : nullptr,
                       cap > 0 ? out.value + r * cap : nullptr, q + r * n, qscale + r);
  }
}

}  // namespace floe::cpu
