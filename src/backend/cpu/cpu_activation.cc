// The CPU backend's activations and gated FFN activations (SwiGLU, GeGLU).
#include <cmath>
#include <type_traits>

#include "backend/cpu/cpu_backend_impl.h"

namespace floe::cpu {
namespace {

template <Activation A>
inline float Act(float x) {
  if constexpr (A == Activation::kSilu) {
    return x / (1.f + std::exp(-x));
  } else if constexpr (A == Activation::kGeluErf) {
    return 0.5f * x * (1.f + std::erf(x * 0.70710678118654752f));
  } else if constexpr (A == Activation::kGeluTanh) {
    return 0.5f * x *
           (1.f + std::tanh(0.79788456080286536f * (x + 0.044715f * x * x * x)));
  } else if constexpr (A == Activation::kRelu) {
    return x > 0.f ? x : 0.f;
  } else {
    return x;
  }
}

template <Activation A>
void ActivateAll(float* x, int64_t n) {
#pragma omp parallel for simd schedule(static)
  for (int64_t i = 0; i < n; ++i) x[i] = Act<A>(x[i]);
}

template <Activation A>
void Gated(const float* x, int64_t rows, int64_t inner, float* out) {
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < rows; ++r) {
    const float* gate = x + r * 2 * inner;
    const float* up = gate + inner;
    float* o = out + r * inner;
#pragma omp simd
    for (int64_t i = 0; i < inner; ++i) o[i] = Act<A>(gate[i]) * up[i];
  }
}

// Calls f(std::integral_constant<Activation, act>{}); nothing for kNone.
template <typename F>
void WithActivation(Activation act, F&& f) {
  switch (act) {
    case Activation::kSilu:
      return f(std::integral_constant<Activation, Activation::kSilu>{});
    case Activation::kGeluErf:
      return f(std::integral_constant<Activation, Activation::kGeluErf>{});
    case Activation::kGeluTanh:
      return f(std::integral_constant<Activation, Activation::kGeluTanh>{});
    case Activation::kRelu:
      return f(std::integral_constant<Activation, Activation::kRelu>{});
    case Activation::kNone:
      return;
  }
}

}  // namespace

Status CpuBackend::Activate(const TensorView& x_view, Activation act) {
  if (Status s = CheckActivate(*this, x_view, act); !s.ok()) return s;
  float* x = x_view.f32();
  const int64_t n = x_view.numel();
  UseThreads();
  WithActivation(act, [&](auto a) { ActivateAll<decltype(a)::value>(x, n); });
  return OkStatus();
}

Status CpuBackend::GatedActivation(const TensorView& x_view, Activation act,
                                   const TensorView& out_view) {
  if (Status s = CheckGatedActivation(*this, x_view, act, out_view); !s.ok()) return s;
  const float* x = x_view.f32();
  float* out = out_view.f32();
  const int64_t rows = x_view.rows(), inner = out_view.cols();
  UseThreads();
  WithActivation(act, [&](auto a) { Gated<decltype(a)::value>(x, rows, inner, out); });
  return OkStatus();
}

}  // namespace floe::cpu
