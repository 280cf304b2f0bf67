// int8 with outliers split off (backend/cpu/int8_outliers.h): the quantizer's
// split and rounding on rows with outlier channels and odd widths, and the CPU
// backend's int8 Linear in that mode (s8o) against the float64 product of the
// quantized operands (s8 weights per output channel, s8 rows, the outliers in
// float32 against bf16 weights), with bias, GELU and the residual fused, at m = 1, 17, 300 and k, n
// not multiples of 16; on each x86 class through ctest cpu_isa_<class>_backend.
#include "backend/cpu/int8_outliers.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <memory>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "backend/cpu/kernels.h"
#include "backend/linear_check.h"
#if __has_include("backend/tensor.h")
#include "backend/tensor.h"
#endif

namespace floe {
namespace {

// GELU-like rows ([-0.17, ...), mostly small) with a few outlier channels
// (every row) and a few outlier values at random places.
Vec GeluRows(int64_t rows, int64_t k, uint32_t seed) {
  Vec x = Random(rows * k, seed, 0.3f);
  std::mt19937 gen(seed + 1);
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t i = 0; i < k; ++i) {
      float& v = x[r * k + i];
      v = 0.5f * v * (1.f + std::erf(v / std::sqrt(2.f)));
    }
    for (int64_t c : {int64_t{3}, k / 2, k - 1}) x[r * k + c] = 8.f + static_cast<float>(r % 5);
    x[r * k + gen() % k] = -6.f;
  }
  return x;
}

// Calls Forward with raw pointers or tensor views, whichever the API takes.
template <typename Op>
Status Forward(Op& op, const Vec& x, int64_t m, int64_t k, Vec& y, int64_t n) {
#if __has_include("backend/tensor.h")
  if constexpr (!requires { op.Forward(x.data(), m, y.data()); }) {
    return op.Forward(HostF32(x.data(), {m, k}, x.size() * sizeof(float)),
                      HostF32(y.data(), {m, n}, y.size() * sizeof(float)));
  } else {
    return op.Forward(x.data(), m, y.data());
  }
#else
  (void)k;
  (void)n;
  return op.Forward(x.data(), m, y.data());
#endif
}

// Sets an environment variable for a scope.
struct ScopedEnv {
  ScopedEnv(const char* name, const char* value) : name_(name) { setenv(name, value, 1); }
  ~ScopedEnv() { unsetenv(name_); }
  const char* name_;
};

struct Quantized {
  std::vector<int8_t> q;
  Vec scale;
  std::vector<int32_t> count, index;
  Vec value;
  cpu::OutlierRows rows;
};

Quantized Quantize(const Vec& x, int64_t rows, int64_t k, float beta, int cap) {
  Quantized z;
  z.q.resize(rows * k);
  z.scale.resize(rows);
  z.count.resize(rows, -1);
  z.index.resize(rows * std::max(cap, 1));
  z.value.resize(rows * std::max(cap, 1));
  z.rows = cpu::OutlierRows{cap, z.count.data(), z.index.data(), z.value.data()};
  cpu::QuantizeRowsS8Split(x.data(), rows, k, beta, z.rows, z.q.data(), z.scale.data());
  return z;
}

TEST(Int8OutlierQuantizerTest, SplitsTheLargestValuesAndRoundsTheRest) {
  for (int64_t k : {1, 5, 17, 300, 389, 3075}) {
    const int64_t rows = 7;
    const int cap = cpu::OutlierCap(k);
    const Vec x = GeluRows(rows, k, 10 + k);
    const Quantized z = Quantize(x, rows, k, 6.f, cap);
    for (int64_t r = 0; r < rows; ++r) {
      const float* xr = x.data() + r * k;
      const int cnt = cap > 0 ? z.count[r] : 0;
      ASSERT_GE(cnt, 0);
      ASSERT_LE(cnt, cap) << "k " << k;
      std::vector<bool> listed(k, false);
      float min_listed = INFINITY, max_rest = 0.f;
      for (int o = 0; o < cnt; ++o) {
        const int32_t i = z.index[r * cap + o];
        ASSERT_TRUE(i >= 0 && i < k && !listed[i]) << "k " << k << " index " << i;
        if (o > 0) {
          ASSERT_GT(i, z.index[r * cap + o - 1]) << "in column order";
        }
        listed[i] = true;
        ASSERT_EQ(z.value[r * cap + o], xr[i]);
        ASSERT_EQ(z.q[r * k + i], 0) << "an outlier's s8 value is 0";
        min_listed = std::min(min_listed, std::fabs(xr[i]));
      }
      for (int64_t i = 0; i < k; ++i) {
        if (!listed[i]) max_rest = std::max(max_rest, std::fabs(xr[i]));
      }
      // A threshold separates them, and the scale follows the rest.
      EXPECT_GT(min_listed, max_rest) << "k " << k << " row " << r;
      EXPECT_FLOAT_EQ(z.scale[r], max_rest > 0 ? max_rest / 127.f : 1.f) << "k " << k;
      const float s = z.scale[r];
      for (int64_t i = 0; i < k; ++i) {
        if (listed[i]) continue;
        ASSERT_LE(std::abs(static_cast<int>(z.q[r * k + i])), 127);
        ASSERT_LE(std::fabs(xr[i] - s * z.q[r * k + i]), 0.5f * s * (1 + 1e-5f) + 1e-30f)
            << "k " << k << " row " << r << " col " << i;
      }
      // The 8+ channels are 27x the rows' mean |x| and more: split off
      // wherever the row is wide enough to have room for them.
      if (k >= 300) {
        EXPECT_TRUE(listed[3] && listed[k / 2] && listed[k - 1]) << "k " << k << " row " << r;
      }
    }
    // beta 0: plain symmetric rows, nothing listed.
    const Quantized plain = Quantize(x, rows, k, 0.f, cap);
    for (int64_t r = 0; r < rows; ++r) {
      float amax = 0.f;
      for (int64_t i = 0; i < k; ++i) amax = std::max(amax, std::fabs(x[r * k + i]));
      EXPECT_FLOAT_EQ(plain.scale[r], amax / 127.f);
      if (cap > 0) {
        EXPECT_EQ(plain.count[r], 0);
      }
    }
  }
}

// More values above the first threshold than the cap: it doubles until they
// fit (24 above 6 x mean|x|, the 3 largest above twice that), and nothing is
// split off when they never do; a zero row gets scale 1.
TEST(Int8OutlierQuantizerTest, CapsTheListAndHandlesZeroRows) {
  const int64_t k = 320;
  const int cap = cpu::OutlierCap(k);
  ASSERT_EQ(cap, 20);
  Vec x(3 * k, 0.001f);
  for (int64_t i = 0; i < 21; ++i) x[i * 13] = 1.f;
  for (int64_t i : {5, 100, 301}) x[i] = -10.f;
  for (int64_t i = 0; i < 21; ++i) x[k + i * 11] = 1.f;  // 21 alike: never fit
  for (int64_t i = 0; i < k; ++i) x[2 * k + i] = 0.f;
  const Quantized z = Quantize(x, 3, k, 6.f, cap);
  ASSERT_EQ(z.count[0], 3);
  EXPECT_EQ(z.index[0], 5);
  EXPECT_EQ(z.index[1], 100);
  EXPECT_EQ(z.index[2], 301);
  EXPECT_FLOAT_EQ(z.scale[0], 1.f / 127.f);
  EXPECT_EQ(z.count[1], 0);
  EXPECT_FLOAT_EQ(z.scale[1], 1.f / 127.f);
  EXPECT_EQ(z.count[2], 0);
  EXPECT_EQ(z.scale[2], 1.f);
  for (int64_t i = 0; i < k; ++i) EXPECT_EQ(z.q[2 * k + i], 0);
}

// The backend's s8o Linear against float64 of the operands it multiplies:
// weights rounded as CreateLinear rounds them, rows split and rounded by the
// same quantizer, the outliers against the bf16-rounded weight.
TEST(Int8OutlierLinearTest, MatchesTheFloat64ProductOfTheQuantizedOperands) {
  RuntimeOptions o;
  o.dtype = "int8";
  auto b = CreateBackend(o);
  if (!b.ok()) GTEST_SKIP() << b.status().ToString();
  const float qmax = cpu::RunIsa().avx512_vnni || cpu::RunIsa().avx_vnni ? 127.f : 63.f;
  const int64_t k = 389, n = 77;
  const int cap = cpu::OutlierCap(k);
  const Vec w = Random(n * k, 51, 0.05f), bias = Random(n, 52);
  Vec wq(n * k), ws(n);  // the rounded weight, as float: q * scale
  for (int64_t j = 0; j < n; ++j) {
    float mx = 0.f;
    for (int64_t i = 0; i < k; ++i) mx = std::max(mx, std::fabs(w[j * k + i]));
    ws[j] = mx / qmax;
    const float inv = 1.f / ws[j];
    for (int64_t i = 0; i < k; ++i) {
      wq[j * k + i] = std::lrint(std::clamp(w[j * k + i] * inv, -qmax, qmax));
    }
  }
  const ScopedEnv s8o("FLOE_CPU_INT8_PRODUCTS", "s8o");
  for (int mode = 0; mode < 3; ++mode) {  // bias, bias + GELU, residual
    auto lin = (*b)->CreateLinear(ModeSpec(w, bias, k, n, mode, "s8o"));
    ASSERT_TRUE(lin.ok()) << lin.status().ToString();
    for (int64_t m : {1, 17, 300}) {
      const int64_t rows = (*b)->RoundUpRows(m);
      const Vec x = GeluRows(rows, k, 53 + m);
      const Vec y0 = Random(rows * n, 54 + m);
      Vec y = y0;
      ASSERT_TRUE(Forward(**lin, x, m, k, y, n).ok());
      const Quantized z = Quantize(x, m, k, cpu::OutlierBeta(), cap);
      int listed = 0;
      for (int64_t r = 0; r < m; ++r) {
        listed += z.count[r];
        for (int64_t j = 0; j < n; ++j) {
          double s = 0, mag = 0;
          for (int64_t i = 0; i < k; ++i) {
            const double p = static_cast<double>(z.q[r * k + i]) * wq[j * k + i];
            s += p;
            mag += std::abs(p);
          }
          s *= static_cast<double>(z.scale[r]) * ws[j];
          mag *= static_cast<double>(z.scale[r]) * ws[j];
          for (int c = 0; c < z.count[r]; ++c) {
            const double p = static_cast<double>(z.value[r * cap + c]) *
                             cpu::Bf16RoundTrip(w[j * k + z.index[r * cap + c]]);
            s += p;
            mag += std::abs(p);
          }
          if (mode != 2) {
            s += bias[j];
            mag += std::abs(bias[j]);
          }
          if (mode == 1) s = Gelu(s);
          if (mode == 2) {
            s += y0[r * n + j];
            mag += std::abs(y0[r * n + j]);
          }
          ASSERT_NEAR(y[r * n + j], s, 4e-6 * mag + 1e-6)
              << "mode " << mode << " m " << m << " row " << r << " col " << j;
        }
      }
      EXPECT_GE(listed, 3 * m) << "the outlier channels are split off";
    }
  }
}

// What the split is for: with outlier channels in the rows, plain s8 rounds
// the others to a few levels; s8o stays within int8's own rounding of the
// float64 product of the unrounded operands.
TEST(Int8OutlierLinearTest, OutlierChannelsCostPlainS8ButNotTheSplit) {
  RuntimeOptions o;
  o.dtype = "int8";
  auto b = CreateBackend(o);
  if (!b.ok()) GTEST_SKIP() << b.status().ToString();
  const int64_t k = 1536, n = 64, m = 17;
  const Vec w = Random(n * k, 61, 0.05f), bias = Random(n, 62);
  const int64_t rows = (*b)->RoundUpRows(m);
  Vec x = Random(rows * k, 63, 0.2f);
  for (int64_t r = 0; r < rows; ++r) x[r * k + 7] = 60.f;
  double rel[2];
  const char* modes[2] = {"s8", "s8o"};
  for (int p = 0; p < 2; ++p) {
    const ScopedEnv env("FLOE_CPU_INT8_PRODUCTS", modes[p]);
    auto lin = (*b)->CreateLinear(ModeSpec(w, bias, k, n, 0, modes[p]));
    ASSERT_TRUE(lin.ok()) << lin.status().ToString();
    Vec y(rows * n);
    ASSERT_TRUE(Forward(**lin, x, m, k, y, n).ok());
    rel[p] = RelativeError(x, w, bias, nullptr, y.data(), m, k, n);
  }
  std::printf("[ outlier channel ] relative error s8 %.3g, s8o %.3g\n", rel[0], rel[1]);
  EXPECT_GT(rel[0], 0.05);
  EXPECT_LT(rel[1], 1e-2);
}

// LinearOp::ForwardInto, the FFN's up projection (s8, bias, GELU) handing its
// rows to the down projection (s8o by default on VNNI classes, plain s8, and
// float32 where the class has no VNNI: there it is two Forwards): the same
// vectors, to the bit, as Forward into the intermediate and then Forward from
// it, at row counts below and above the chunk sizes.
TEST(Int8OutlierLinearTest, ForwardIntoGivesTheVectorsOfTwoForwards) {
  RuntimeOptions o;
  o.dtype = "int8";
  auto b = CreateBackend(o);
  if (!b.ok()) GTEST_SKIP() << b.status().ToString();
  const int64_t k = 96, mid = 389, n = 77;
  const Vec w_in = Random(mid * k, 71, 0.2f), b_in = Random(mid, 72);
  const Vec w_out = Random(n * mid, 73, 0.05f), b_out = Random(n, 74);
  for (const char* down : {"default", "s8"}) {
    std::unique_ptr<ScopedEnv> env;
    if (std::string(down) != "default")
      env = std::make_unique<ScopedEnv>("FLOE_CPU_INT8_FFN_OUT", down);
    LinearSpec up;
    up.weight = w_in.data();
    up.bias = b_in.data();
    up.in_features = k;
    up.out_features = mid;
    up.activation = Activation::kGeluErf;
    up.name = "up";
    LinearSpec dn;
    dn.weight = w_out.data();
    dn.bias = b_out.data();
    dn.in_features = mid;
    dn.out_features = n;
    dn.accumulate = true;
    dn.precision = LinearPrecision::kNoInt8;
    dn.name = "down";
    auto lin_up = (*b)->CreateLinear(up);
    auto lin_dn = (*b)->CreateLinear(dn);
    ASSERT_TRUE(lin_up.ok() && lin_dn.ok());
    for (int64_t m : {1, 17, 300, 1500}) {
      const int64_t rows = (*b)->RoundUpRows(m);
      Vec x = Random(rows * k, 75 + m);
      x[3] = 40.f;  // an outlier input: large GELU outputs in row 0
      const Vec y0 = Random(rows * n, 76 + m);
      Vec inter(rows * mid), y_two = y0, y_fused = y0;
      ASSERT_TRUE(Forward(**lin_up, x, m, k, inter, mid).ok());
      ASSERT_TRUE(Forward(**lin_dn, inter, m, mid, y_two, n).ok());
      Vec inter2(rows * mid);
      ASSERT_TRUE((*lin_up)
                      ->ForwardInto(
                          HostF32(x.data(), {m, k}, x.size() * sizeof(float)),
                          HostF32(inter2.data(), {m, mid}, inter2.size() * sizeof(float)),
                          **lin_dn,
                          HostF32(y_fused.data(), {m, n}, y_fused.size() * sizeof(float)))
                      .ok());
      for (int64_t i = 0; i < m * n; ++i) {
        ASSERT_EQ(y_fused[i], y_two[i]) << down << " m " << m << " at " << i;
      }
      // Where both are s8 (VNNI without AMX) the pair is fused: the
      // intermediate is never written.
      const cpu::CpuIsa& isa = cpu::RunIsa();
      if ((isa.avx512_vnni || isa.avx_vnni) && !isa.amx) {
        EXPECT_TRUE(
            std::all_of(inter2.begin(), inter2.end(), [](float v) { return v == 0.f; }))
            << down << " m " << m;
      }
    }
  }
}

}  // namespace
}  // namespace floe
