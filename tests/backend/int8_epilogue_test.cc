// The plain s8 products' epilogue (backend/cpu/int8_epilogue.h): row scale,
// bias, each activation and the residual against float64 formulas, at widths
// around the vector sizes and over the activations' whole range (large
// negative and positive inputs, where exp under- or overflows); on each x86
// class through ctest cpu_isa_<class>_backend.
#include "backend/cpu/int8_epilogue.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

namespace floe {
namespace {

double Reference(Activation act, double v) {
  switch (act) {
    case Activation::kGeluErf:
      return 0.5 * v * (1 + std::erf(v / std::sqrt(2.0)));
    case Activation::kGeluTanh:
      return 0.5 * v * (1 + std::tanh(0.79788456080286536 * (v + 0.044715 * v * v * v)));
    case Activation::kSilu:
      return v / (1 + std::exp(-v));
    case Activation::kRelu:
      return v > 0 ? v : 0;
    case Activation::kNone:
      break;
  }
  return v;
}

TEST(Int8EpilogueTest, AppliesScaleBiasActivationAndResidual) {
  const Activation acts[] = {Activation::kNone, Activation::kGeluErf,
                             Activation::kGeluTanh, Activation::kSilu, Activation::kRelu};
  std::mt19937 gen(7);
  std::normal_distribution<float> normal(0.f, 3.f);
  for (const Activation act : acts) {
    for (const int64_t n : {int64_t{1}, int64_t{15}, int64_t{17}, int64_t{3075}}) {
      for (const bool with_bias : {false, true}) {
        for (const bool accumulate : {false, true}) {
          const int64_t rows = 3;
          std::vector<float> acc(rows * n), bias(n), scale = {0.5f, 1.f, 2.f};
          for (float& a : acc) a = normal(gen);
          for (float& b : bias) b = normal(gen);
          // The ends of the range: exp's clamps, erf's and tanh's tails.
          const float ends[] = {-60.f, -12.f, -5.f, -1e-4f, 0.f, 1e-4f, 5.f, 12.f, 60.f};
          for (int64_t i = 0; i < std::min<int64_t>(n, 9); ++i) acc[i] = ends[i];
          std::vector<float> y0(rows * n);
          for (float& v : y0) v = normal(gen);
          std::vector<float> y = y0;
          cpu::S8Epilogue(acc.data(), rows, n, scale.data(),
                          with_bias ? bias.data() : nullptr, act, accumulate, y.data());
          for (int64_t r = 0; r < rows; ++r) {
            for (int64_t j = 0; j < n; ++j) {
              const double v = static_cast<double>(scale[r]) * acc[r * n + j] +
                               (with_bias ? bias[j] : 0.0);
              double want = Reference(act, v);
              if (accumulate) want += y0[r * n + j];
              // erf's approximation (1.5e-7) and float32 rounding.
              const double tol =
                  1e-6 * (1 + std::fabs(v) + (accumulate ? std::fabs(want) : 0));
              ASSERT_NEAR(y[r * n + j], want, tol)
                  << "activation " << static_cast<int>(act) << " n " << n << " row " << r
                  << " col " << j << " input " << v << " bias " << with_bias
                  << " accumulate " << accumulate;
            }
          }
        }
      }
    }
  }
}

}  // namespace
}  // namespace floe
