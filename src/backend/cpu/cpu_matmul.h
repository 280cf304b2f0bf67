// oneDNN matmul primitives of the CPU backend's Linear (cpu_linear.cc): the
// packed weight layout and primitives per padded row count of one weight
// shape + fused ops, and the product modes (float32, bf16 splits, int8).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "core/log.h"
#include "dnnl.hpp"

namespace floe::cpu {

using dnnl::memory;

inline Status DnnlError(const std::string& what, const dnnl::error& e) {
  return InternalError(what + ": oneDNN: " + e.what());
}

dnnl::algorithm EltwiseFor(Activation a);
// The eltwise post-op's alpha for `a` (1 for SiLU's swish, else unused).
float EltwiseAlpha(Activation a);

// Everything the products of one weight shape + fused ops share: the packed
// weight layout and one primitive per padded row count.
class MatmulFamily {
 public:
  // `in` is the type of activations and weights: f32, bf16 (f32
  // accumulation and output), or s8: int32 accumulation, the output scaled
  // per column by the weight's per-channel scales (static output scales, so
  // an s8 family belongs to one weight), then floe's epilogue applies the
  // activations' per-row scales, bias, activation and residual
  // (int8_epilogue.h, int8_outliers.h). oneDNN 2.6 runs runtime output
  // scales on gemm:jit and a per-row [M, 1] binary post-op on its reference
  // kernel, hence the separate epilogue, which keeps the product on brgemm
  // AMX/VNNI and per-row scales (a text's vector does not depend on its
  // batch). `weights_tag` any lets oneDNN choose the
  // weight layout; ab fixes it to plain [k, n] (bf16-weight Linears widen
  // into that, cpu_linear_bf16w.cc).
  MatmulFamily(dnnl::engine* eng, int64_t k, int64_t n, Activation act, bool accumulate,
               int64_t reference_rows, memory::data_type in,
               std::vector<float> weight_scales = {},
               memory::format_tag weights_tag = memory::format_tag::any)
      : eng_(eng),
        k_(k),
        n_(n),
        act_(act),
        accumulate_(accumulate),
        in_(in),
        weight_scales_(std::move(weight_scales)) {
    // Let oneDNN choose the weight layout for a typical batch; every later
    // primitive is created for that same layout.
    const memory::desc src({reference_rows, k_}, in_, memory::format_tag::ab);
    const memory::desc wei({k_, n_}, in_, weights_tag);
    const memory::desc dst({reference_rows, n_}, memory::data_type::f32,
                           memory::format_tag::ab);
    dnnl::matmul::primitive_desc pd(MakeDesc(src, wei, dst), Attr(reference_rows), *eng_);
    weights_md_ = pd.weights_desc();
    impl_ = pd.impl_info_str();
    prims_.emplace(reference_rows, dnnl::matmul(pd));
  }

  bool int8() const { return in_ == memory::data_type::s8; }

  const memory::desc& weights_md() const { return weights_md_; }
  memory::data_type input_type() const { return in_; }

  // Throws dnnl::error.
  dnnl::matmul& Get(int64_t rows) {
    auto it = prims_.find(rows);
    if (it != prims_.end()) return it->second;
    const memory::desc src({rows, k_}, in_, memory::format_tag::ab);
    const memory::desc dst({rows, n_}, memory::data_type::f32, memory::format_tag::ab);
    dnnl::matmul::primitive_desc pd(MakeDesc(src, weights_md_, dst), Attr(rows), *eng_);
    const std::string impl = pd.impl_info_str();
    if (impl != impl_) {
      LogOnce(
          LogLevel::kWarn, "matmul-impl-" + std::to_string(k_) + "x" + std::to_string(n_),
          "oneDNN matmul " + std::to_string(k_) + "x" + std::to_string(n_) + " uses " +
              impl + " at " + std::to_string(rows) + " rows (" + impl_ + " elsewhere)");
    }
    return prims_.emplace(rows, dnnl::matmul(pd)).first->second;
  }

 private:
  dnnl::matmul::desc MakeDesc(const memory::desc& src, const memory::desc& wei,
                              const memory::desc& dst) const {
    if (int8()) return dnnl::matmul::desc(src, wei, dst);
    const memory::desc bias({1, n_}, memory::data_type::f32, memory::format_tag::ab);
    return dnnl::matmul::desc(src, wei, bias, dst);
  }
  dnnl::primitive_attr Attr(int64_t rows) const {
    dnnl::primitive_attr attr;
    dnnl::post_ops po;
    if (int8()) {
      // Only the weight's scales here; the rest is floe's epilogue's.
      attr.set_output_scales(1 << 1, weight_scales_);
      return attr;
    }
    if (act_ != Activation::kNone)
      po.append_eltwise(1.f, EltwiseFor(act_), EltwiseAlpha(act_), 0.f);
    if (accumulate_) po.append_sum(1.f);
    attr.set_post_ops(po);
    return attr;
  }

  dnnl::engine* eng_;
  int64_t k_, n_;
  Activation act_;
  bool accumulate_;
  memory::data_type in_;
  std::vector<float> weight_scales_;
  memory::desc weights_md_;
  std::string impl_;
  std::map<int64_t, dnnl::matmul> prims_;
};

// How one product runs: operand type, and for bf16 how many bf16 parts carry
// each operand (1: plain bf16; 2: activation as hi + lo, weight hi; 3: both
// as hi + lo, the lo x lo term dropped, about 16 significant bits).
// bf16_weights: the weight stored as bf16, the product in float32
// (linear_bf16w.h), for CPUs without AVX512_BF16; dt is then f32.
struct ProductMode {
  memory::data_type dt = memory::data_type::f32;
  int parts = 0;
  bool bf16_weights = false;
  // s8 only: row-centred activations (int8_centered.h).
  bool centered = false;
  // s8 only: each row's outliers split off and multiplied in float32
  // (int8_outliers.h).
  bool outliers = false;
};

// "f32" | "bf16" | "bf16x2" | "bf16x3" | "s8" | "s8c" (row-centred s8) |
// "s8o" (s8 with outliers split off); `fallback` otherwise.
ProductMode ParseMode(const char* s, ProductMode fallback);

}  // namespace floe::cpu
