// The CPU backend's Linear: oneDNN matmul primitives with each weight
// reordered once into the blocked layout oneDNN picks, and primitives kept
// per (shape, fused ops, padded row count) so the layers of a model share
// them (cpu_matmul.h). Rows go in chunks of a few sizes (NextChunk), so a
// server sees a bounded number of primitives, not one per batch size.
// float32, bfloat16 (plain or split products) and int8 (s8 per channel);
// bfloat16 without AVX512_BF16 is cpu_linear_bf16w.cc's. Float32 products
// of a few rows run on floe's kernel (linear_f32.h) over the same packed
// weight where oneDNN's layout is one of column panels.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "backend/cpu/cpu_backend_impl.h"
#include "backend/cpu/int8_centered.h"
#include "backend/cpu/int8_epilogue.h"
#include "backend/cpu/int8_outliers.h"
#include "backend/cpu/kernels.h"
#include "backend/cpu/linear_f32.h"
#include "core/half.h"

namespace floe::cpu {

dnnl::algorithm EltwiseFor(Activation a) {
  switch (a) {
    case Activation::kGeluErf:
      return dnnl::algorithm::eltwise_gelu_erf;
    case Activation::kGeluTanh:
      return dnnl::algorithm::eltwise_gelu_tanh;
    case Activation::kRelu:
      return dnnl::algorithm::eltwise_relu;
    case Activation::kSilu:  // x * sigmoid(alpha x), alpha 1 (EltwiseAlpha)
      return dnnl::algorithm::eltwise_swish;
    case Activation::kNone:
      break;
  }
  return dnnl::algorithm::undef;
}

float EltwiseAlpha(Activation a) { return a == Activation::kSilu ? 1.f : 0.f; }

ProductMode ParseMode(const char* s, ProductMode fallback) {
  if (s == nullptr) return fallback;
  const std::string v = s;
  if (v == "f32") return {memory::data_type::f32, 0};
  if (v == "bf16") return {memory::data_type::bf16, 1};
  if (v == "bf16x2") return {memory::data_type::bf16, 2};
  if (v == "bf16x3") return {memory::data_type::bf16, 3};
  if (v == "s8") return {memory::data_type::s8, 0};
  if (v == "s8c" || v == "s8o") {
    ProductMode m{memory::data_type::s8, 0};
    m.centered = v == "s8c";
    m.outliers = v == "s8o";
    return m;
  }
  return fallback;
}

namespace {

class CpuLinear : public LinearOp {
 public:
  CpuLinear(CpuBackend* backend, MatmulFamily* family, int64_t k, int64_t n, int parts,
            memory weights, memory bias, std::string name, bool accumulate = false,
            std::vector<float> colsum = {}, Activation act = Activation::kNone,
            std::vector<uint16_t> wt = {}, F32Panels small = {})
      : backend_(backend),
        family_(family),
        k_(k),
        n_(n),
        parts_(parts),
        weights_(std::move(weights)),
        bias_(std::move(bias)),
        name_(std::move(name)),
        accumulate_(accumulate),
        colsum_(std::move(colsum)),
        act_(act),
        wt_(std::move(wt)),
        beta_(OutlierBeta()),
        small_(small) {}

  Status Forward(const TensorView& x, const TensorView& y) override;
  // Fused when this is a plain s8 product without residual and next an s8
  // product (plain or with outliers split off) of k = this op's n: this op's
  // epilogue quantizes its rows for next (S8EpilogueQuantize), mid is not
  // written. Otherwise Forward, then next.Forward.
  Status ForwardInto(const TensorView& x, const TensorView& mid, LinearOp& next,
                     const TensorView& y) override;
  int64_t in_features() const override { return k_; }
  int64_t out_features() const override { return n_; }

 private:
  // Rows already quantized for this op (ForwardInto's hand-off): [rows, k_],
  // their scales, and their outliers when wt_ is not empty.
  struct S8Rows {
    int8_t* q = nullptr;
    float* scale = nullptr;
    OutlierRows split;
  };
  // The product of m rows, from x (float32) or, when `pre` is given, from
  // rows quantized for it; writes y, or with `handoff` (a plain s8 product
  // without residual) quantizes its output rows into *handoff as the next
  // product of threshold factor `next_beta` takes them.
  Status Run(const float* x, int64_t m, const S8Rows* pre, float* y, const S8Rows* handoff,
             float next_beta);

  CpuBackend* backend_;
  MatmulFamily* family_;
  int64_t k_, n_;
  int parts_;  // bf16 parts per operand (1, 2, 3); 0 for float32
  memory weights_;
  memory bias_;
  std::string name_;
  // Row-centred int8 (int8_centered.h) when colsum_ is not empty: the
  // weight's column sums, the residual flag, and the rows' centres.
  bool accumulate_;
  std::vector<float> colsum_;
  std::vector<float> center_;
  // The activation: in S8Epilogue on plain s8 products, after the split
  // epilogue with outliers split off (int8_outliers.h), when wt_ is not
  // empty: the weight transposed [k, n] as bf16 bits; the row threshold
  // factor.
  Activation act_;
  std::vector<uint16_t> wt_;
  float beta_;
  // float32: weights_ as floe's kernel reads it (data null where oneDNN's
  // layout is not one of panels, or the kernel cannot run this Linear).
  F32Panels small_;
};

// weights_md's float32 weight [k, n] at `data` as column panels, when oneDNN
// chose one of their layouts (BA16a<width>b: brgemm's on AVX-512; plain ab);
// else data null.
F32Panels PanelsOf(const memory::desc& md, void* data, int64_t k, int64_t n,
                   F32Kernel kernel) {
  F32Panels p;
  if (kernel == F32Kernel::kNone || n % 16 != 0) return p;
  using tag = memory::format_tag;
  const struct {
    tag t;
    int64_t width;
  } blocked[] = {{tag::BA16a64b, 64}, {tag::BA16a48b, 48}, {tag::BA16a32b, 32},
                 {tag::BA16a16b, 16}};
  for (const auto& b : blocked) {
    if (md == memory::desc({k, n}, memory::data_type::f32, b.t)) {
      p.width = b.width;
      p.panel_stride = (k + 15) / 16 * 16 * b.width;
    }
  }
  if (p.width == 0 && md == memory::desc({k, n}, memory::data_type::f32, tag::ab)) {
    p.width = n;
  }
  if (p.width == 0) return p;
  p.kernel = kernel;
  p.data = static_cast<const float*>(data);
  p.k = k;
  p.n = n;
  return p;
}

}  // namespace

ProductMode CpuBackend::ModeFor(LinearPrecision p) const {
  if (ct_ == ComputeType::kInt8) {
    // int8: weights s8 per output channel, activations s8 per row
    // (dynamic). With AMX, kHigh products (Q, K, V) and kNoInt8 ones (the FFN
    // down projection) run in plain bf16 (splitting Q, K, V,
    // FLOE_CPU_INT8_HIGH=bf16x3, costs a quarter of the time and changes the
    // cosine by < 0.005, as int8's own rounding dominates).
    // Without AMX, with VNNI, every product is s8 (issue 16: oneDNN 2.6's bf16 products
    // are slower than its float32 ones there, and float32 Q, K, V and FFN
    // down left 7/12 of the FLOPs in float32), Q, K, V and the FFN down
    // projection with each row's outliers split off (s8o, int8_outliers.h):
    // their inputs (LayerNorm and GELU outputs of a trained BERT) carry a few
    // channels far above the rest, which plain s8 lets set the row's scale.
    // Real all-MiniLM-L6-v2, the 1,156 texts of
    // tests/real/lower_precision_test.py, min cosine to float32: Q, K, V in
    // plain s8 0.978; FFN down in plain s8 0.988, row-centred (s8c,
    // int8_centered.h) 0.9889; both s8o 0.9922; both float32 (the default
    // before) 0.9927 (docs/cpu-performance.md). Without VNNI the weights
    // keep 7 bits (CreateLinear), and s8o there gave 0.9809
    // (ONEDNN_MAX_CPU_ISA=AVX2): those classes keep Q, K, V and FFN down in
    // float32 (0.9914).
    // FLOE_CPU_INT8_HIGH / FLOE_CPU_INT8_FFN_OUT / FLOE_CPU_INT8_PRODUCTS =
    // f32 | bf16 | bf16x3 | s8 | s8c | s8o choose another.
    ProductMode split{memory::data_type::s8, 0};
    split.outliers = true;
    const bool vnni = RunIsa().avx512_vnni || RunIsa().avx_vnni;
    const ProductMode wide = RunIsa().amx ? ProductMode{memory::data_type::bf16, 1}
                             : vnni       ? split
                                          : ProductMode{};
    if (p == LinearPrecision::kHigh) {
      return ParseMode(std::getenv("FLOE_CPU_INT8_HIGH"), wide);
    }
    if (p == LinearPrecision::kNoInt8) {
      return ParseMode(std::getenv("FLOE_CPU_INT8_FFN_OUT"), wide);
    }
    return ParseMode(std::getenv("FLOE_CPU_INT8_PRODUCTS"), {memory::data_type::s8, 0});
  }
  if (ct_ != ComputeType::kBFloat16) return {};
  const char* products = std::getenv("FLOE_CPU_BF16_PRODUCTS");
  if (products != nullptr && std::string(products) == "f32") return {};
  if (!NativeBf16Products()) {
    // bf16 weights, float32 arithmetic (linear_bf16w.h), every product (Q,
    // K, V too: with float32 activations only the weight's rounding is left;
    // docs/cpu-performance.md); for kHigh alone FLOE_CPU_BF16W_HIGH=f32
    // turns it off.
    const char* high = std::getenv("FLOE_CPU_BF16W_HIGH");
    if (p == LinearPrecision::kHigh && high != nullptr && std::string(high) == "f32") return {};
    ProductMode m;
    m.bf16_weights = true;
    return m;
  }
  // oneDNN's bf16 products: plain bf16 unless FLOE_CPU_BF16_PRODUCTS says
  // bf16x2 / bf16x3; kHigh (Q, K, V) the same unless FLOE_CPU_BF16_HIGH says
  // (f32 | bf16 | bf16x2 | bf16x3). Plain Q, K, V since session 9 (issue 16):
  // the split cost 48% of the product time, and plain bf16 is what OpenVINO
  // runs; trained all-MiniLM-L6-v2 min cosine to float32 0.999949 (split
  // 0.999953), the random base-shaped model 0.967 (split 0.989, OpenVINO bf16
  // 0.934): docs/cpu-performance.md.
  const ProductMode chosen = ParseMode(products, {memory::data_type::bf16, 1});
  if (p == LinearPrecision::kHigh) return ParseMode(std::getenv("FLOE_CPU_BF16_HIGH"), chosen);
  return chosen;
}

bool CpuBackend::NativeBf16Products() {
  // oneDNN's bf16 products (vdpbf16ps, or AMX tiles) where they beat
  // float32: with AMX, and on AMD Zen 4+ (AVX512_BF16 there: 1.47x the
  // bf16-weight path's tokens/s, 1.26x float32's, on the base-shaped model
  // at 512 x 16; issue 16, docs/cpu-performance.md). On Intel's AVX512_BF16 CPUs without AMX
  // (Cooper Lake, Ice/Sapphire Rapids capped) oneDNN 2.6's bf16 products
  // ran at 0.55-0.6x its float32 ones at 1,024 rows, so those CPUs, and
  // every CPU without AVX512_BF16, run bfloat16 as bf16 weights with float32
  // arithmetic. Chosen by vendor rather than a timed calibration: a few ms of
  // timing at startup on a loaded or shared machine would flip between runs.
  // FLOE_CPU_BF16_PRODUCTS=bf16w forces the bf16-weight path anywhere;
  // bf16 | bf16x2 | bf16x3 force oneDNN's products where the CPU has
  // AVX512_BF16.
  const CpuIsa& isa = RunIsa();
  if (!isa.avx512_bf16) return false;
  const char* env = std::getenv("FLOE_CPU_BF16_PRODUCTS");
  const std::string v = env != nullptr ? env : "";
  if (v == "bf16w") return false;
  if (v.rfind("bf16", 0) == 0) return true;
  return isa.amx || isa.amd;
}

StatusOr<std::unique_ptr<LinearOp>> CpuBackend::CreateLinear(const LinearSpec& spec) {
  if (spec.weight == nullptr || spec.in_features <= 0 || spec.out_features <= 0) {
    return InvalidArgumentError("linear " + spec.name + ": empty weight");
  }
  try {
    const ProductMode mode = ModeFor(spec.precision);
    if (mode.bf16_weights) return CreateBf16WeightLinear(spec);
    const int64_t k_eff = spec.in_features * std::max(1, mode.parts);
    const bool s8 = mode.dt == memory::data_type::s8;
    // Symmetric per output channel: W[n] ~ wscale[n] * q[n], |q| <= qmax:
    // 127, or 63 without VNNI, where oneDNN's u8 x s8 pairs (vpmaddubsw)
    // saturate at int16 (255 * 127 * 2 > 32767; 255 * 63 * 2 is not).
    const float qmax = RunIsa().avx512_vnni || RunIsa().avx_vnni ? 127.f : 63.f;
    std::vector<float> wscale;
    std::vector<int8_t> q;
    if (s8) {
      const int64_t K = spec.in_features, N = spec.out_features;
      wscale.resize(N);
      q.resize(static_cast<size_t>(N * K));
      for (int64_t n = 0; n < N; ++n) {
        const float* w = spec.weight + n * K;
        float mx = 0.f;
        for (int64_t i = 0; i < K; ++i) mx = std::max(mx, std::fabs(w[i]));
        wscale[n] = mx > 0.f ? mx / qmax : 1.f;
        const float inv = 1.f / wscale[n];
        int8_t* qn = q.data() + n * K;
        // RoundHalfEven rounds as lrint does, without a libm call per weight.
#pragma omp simd
        for (int64_t i = 0; i < K; ++i) {
          qn[i] = static_cast<int8_t>(
              static_cast<int32_t>(RoundHalfEven(std::clamp(w[i] * inv, -qmax, qmax))));
        }
      }
    }
    // Row-centred int8 needs the column sums of the weight as the product
    // sees it (wscale * q: then x W^T = (x - c) W^T + c colsum holds for the
    // quantized weight, whose rounding error stays multiplied by x, not by
    // x - c). Its epilogue has no activation, so a fused one keeps plain s8.
    std::vector<float> colsum;
    if (s8 && mode.centered && spec.activation == Activation::kNone) {
      const int64_t K = spec.in_features;
      colsum.resize(static_cast<size_t>(spec.out_features));
      for (int64_t n = 0; n < spec.out_features; ++n) {
        int64_t acc = 0;
        for (int64_t i = 0; i < K; ++i) acc += q[n * K + i];
        colsum[n] = wscale[n] * static_cast<float>(acc);
      }
    }
    // Outliers split off: the weight transposed, [k, n], in bf16 for their
    // float32 terms. An activation runs after the split epilogue, so one with
    // a residual as well keeps plain s8.
    std::vector<uint16_t> wt;
    if (s8 && mode.outliers &&
        !(spec.activation != Activation::kNone && spec.accumulate)) {
      const int64_t K = spec.in_features, N = spec.out_features;
      wt.resize(static_cast<size_t>(K * N));
      for (int64_t n = 0; n < N; ++n) {
        for (int64_t i = 0; i < K; ++i) wt[i * N + n] = FloatToBFloat16(spec.weight[n * K + i]);
      }
    }
    const auto key = std::make_tuple(
        k_eff, spec.out_features, static_cast<int>(spec.activation), spec.accumulate,
        static_cast<int>(mode.dt), s8 ? static_cast<int64_t>(++s8_linears_) : int64_t{0});
    auto& fam = families_[key];
    if (!fam) {
      fam = std::make_unique<MatmulFamily>(&eng_, k_eff, spec.out_features,
                                           spec.activation, spec.accumulate, kChunkRows,
                                           mode.dt, std::move(wscale));
    }
    // The stored weight is [out, in] row-major, i.e. W^T of shape {in, out}
    // in "ba" order. Split products stack the weight's bf16 parts along
    // the inner dimension to match the activation's parts (see
    // SplitToBf16): [hi ; hi] for 2, [hi ; hi ; lo] for 3.
    std::vector<float> split;
    const float* wsrc = spec.weight;
    if (mode.parts >= 2) {
      const int64_t K = spec.in_features;
      split.resize(static_cast<size_t>(spec.out_features * k_eff));
      for (int64_t n = 0; n < spec.out_features; ++n) {
        const float* w = spec.weight + n * K;
        float* o = split.data() + n * k_eff;
        for (int64_t i = 0; i < K; ++i) {
          const float hi = Bf16RoundTrip(w[i]);
          o[i] = hi;
          o[K + i] = hi;
          if (mode.parts == 3) o[2 * K + i] = Bf16RoundTrip(w[i] - hi);
        }
      }
      wsrc = split.data();
    }
    memory packed(fam->weights_md(), eng_);
    if (s8) {
      memory user(memory::desc({spec.in_features, spec.out_features},
                               memory::data_type::s8, memory::format_tag::ba),
                  eng_, q.data());
      dnnl::reorder(user, packed).execute(stream_, user, packed);
      stream_.wait();
    } else {
      const memory::desc user_md({k_eff, spec.out_features}, memory::data_type::f32,
                                 memory::format_tag::ba);
      memory user(user_md, eng_, const_cast<float*>(wsrc));
      dnnl::reorder(user, packed).execute(stream_, user, packed);
    }
    memory bias(memory::desc({1, spec.out_features}, memory::data_type::f32,
                             memory::format_tag::ab),
                eng_);
    float* b = static_cast<float*>(bias.get_data_handle());
    if (spec.bias != nullptr) {
      std::memcpy(b, spec.bias, spec.out_features * sizeof(float));
    } else {
      std::memset(b, 0, spec.out_features * sizeof(float));
    }
    stream_.wait();
    // A residual after an activation the kernel does not fuse would come
    // before it: such a Linear keeps oneDNN's product.
    F32Panels small;
    if (mode.dt == memory::data_type::f32 && mode.parts == 0 &&
        (!spec.accumulate || F32KernelFuses(f32_kernel_, spec.activation))) {
      small = PanelsOf(fam->weights_md(), packed.get_data_handle(), spec.in_features,
                       spec.out_features, f32_kernel_);
      if (small.data == nullptr && f32_kernel_ != F32Kernel::kNone) {
        LogOnce(LogLevel::kDebug,
                "f32-small-" + std::to_string(spec.in_features) + "x" +
                    std::to_string(spec.out_features),
                "linear " + spec.name + ": oneDNN's weight layout is not column panels; few "
                "rows run on oneDNN's product");
      }
      small.prefetch_rows = f32_prefetch_rows_;
      small.chunk_rows = f32_chunk_rows_;
    }
    return std::unique_ptr<LinearOp>(
        new CpuLinear(this, fam.get(), spec.in_features, spec.out_features, mode.parts,
                      std::move(packed), std::move(bias), spec.name, spec.accumulate,
                      std::move(colsum), spec.activation, std::move(wt), small));
  } catch (const dnnl::error& e) {
    return DnnlError("linear " + spec.name, e);
  }
}

Status CpuLinear::Forward(const TensorView& x_view, const TensorView& y_view) {
  FLOE_RETURN_IF_ERROR(CheckLinear(*backend_, name_, x_view, y_view, k_, n_));
  return Run(x_view.f32(), x_view.rows(), nullptr, y_view.f32(), nullptr, 0.f);
}

Status CpuLinear::ForwardInto(const TensorView& x_view, const TensorView& mid_view,
                              LinearOp& next_op, const TensorView& y_view) {
  auto* next = dynamic_cast<CpuLinear*>(&next_op);
  const bool plain_s8 = family_->int8() && wt_.empty() && colsum_.empty() && !accumulate_;
  if (next == nullptr || next->backend_ != backend_ || !plain_s8 ||
      !next->family_->int8() || !next->colsum_.empty() || next->k_ != n_) {
    return LinearOp::ForwardInto(x_view, mid_view, next_op, y_view);
  }
  FLOE_RETURN_IF_ERROR(CheckLinear(*backend_, name_, x_view, mid_view, k_, n_));
  FLOE_RETURN_IF_ERROR(
      CheckLinear(*backend_, next->name_, mid_view, y_view, next->k_, next->n_));
  const int64_t m = x_view.rows();
  const int64_t padded = backend_->RoundUpRows(m);
  S8Rows rows;
  rows.q = backend_->S8Handoff(padded, n_, &rows.scale);
  if (!next->wt_.empty()) rows.split = OutlierScratch(padded, OutlierCap(n_));
  FLOE_RETURN_IF_ERROR(Run(x_view.f32(), m, nullptr, mid_view.f32(), &rows, next->beta_));
  return next->Run(nullptr, m, &rows, y_view.f32(), nullptr, 0.f);
}

Status CpuLinear::Run(const float* x, int64_t m, const S8Rows* pre, float* y,
                      const S8Rows* handoff, float next_beta) {
  backend_->UseThreads();
  const int64_t padded = backend_->RoundUpRows(m);
  try {
    if (small_.data != nullptr && m <= backend_->f32_small_rows()) {
      const bool fused = F32KernelFuses(small_.kernel, act_);
      F32SmallProduct(small_, x, m, static_cast<const float*>(bias_.get_data_handle()),
                      fused ? act_ : Activation::kNone, accumulate_, y);
      if (!fused && act_ != Activation::kNone) backend_->ActivateInPlace(act_, y, m, n_);
      return OkStatus();
    }
    dnnl::engine& eng = backend_->engine();
    const memory::data_type in = family_->input_type();
    void* src_base = const_cast<float*>(x);
    size_t src_elem = sizeof(float);
    const int64_t k_eff = k_ * std::max(1, parts_);
    float* row_scales = nullptr;
    float* acc = nullptr;
    OutlierRows split;  // s8 with outliers split off: their lists
    if (in == memory::data_type::bf16) {
      uint16_t* staging = backend_->Bf16Staging(static_cast<size_t>(padded * k_eff));
      SplitToBf16(x, padded, k_, parts_, staging);
      src_base = staging;
      src_elem = sizeof(uint16_t);
    } else if (in == memory::data_type::s8) {
      int8_t* q = backend_->S8Staging(padded, k_, n_, &row_scales, &acc);
      if (pre != nullptr) {
        q = pre->q;
        row_scales = pre->scale;
        split = pre->split;
      } else if (!colsum_.empty()) {
        if (center_.size() < static_cast<size_t>(padded)) center_.resize(padded);
        QuantizeRowsS8Centered(x, padded, k_, q, row_scales, center_.data());
      } else {
        if (!wt_.empty()) split = OutlierScratch(padded, OutlierCap(k_));
        QuantizeRowsS8Split(x, padded, k_, beta_, split, q, row_scales);
      }
      src_base = q;
      src_elem = 1;
    }
    for (int64_t off = 0, rows = 0; off < padded; off += rows) {
      rows = backend_->NextChunk(padded - off);
      dnnl::matmul& prim = family_->Get(rows);
      memory src(memory::desc({rows, k_eff}, in, memory::format_tag::ab), eng,
                 static_cast<char*>(src_base) + off * k_eff * src_elem);
      memory dst(memory::desc({rows, n_}, memory::data_type::f32, memory::format_tag::ab),
                 eng, y + off * n_);
      if (in == memory::data_type::s8) {
        const memory::desc acc_md({rows, n_}, memory::data_type::f32,
                                  memory::format_tag::ab);
        memory accm(acc_md, eng, acc + off * n_);
        prim.execute(
            backend_->stream(),
            {{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, weights_}, {DNNL_ARG_DST, accm}});
        if (!wt_.empty()) {
          backend_->stream().wait();
          const OutlierRows part{split.cap, split.count + off,
                                 split.index + off * split.cap,
                                 split.value + off * split.cap};
          SplitEpilogue(acc + off * n_, rows, n_, row_scales + off, part, wt_.data(),
                        static_cast<const float*>(bias_.get_data_handle()), accumulate_,
                        y + off * n_);
          if (act_ != Activation::kNone)
            backend_->ActivateInPlace(act_, y + off * n_, rows, n_);
          continue;
        }
        if (!colsum_.empty()) {
          backend_->stream().wait();
          CenteredEpilogue(acc + off * n_, rows, n_, row_scales + off,
                           center_.data() + off, colsum_.data(),
                           static_cast<const float*>(bias_.get_data_handle()),
                           accumulate_, y + off * n_);
          continue;
        }
        backend_->stream().wait();
        const float* bias = static_cast<const float*>(bias_.get_data_handle());
        if (handoff != nullptr) {
          const OutlierRows& o = handoff->split;
          const OutlierRows part{o.cap, o.cap > 0 ? o.count + off : nullptr,
                                 o.cap > 0 ? o.index + off * o.cap : nullptr,
                                 o.cap > 0 ? o.value + off * o.cap : nullptr};
          S8EpilogueQuantize(acc + off * n_, rows, n_, row_scales + off, bias, act_,
                             next_beta, part, handoff->q + off * n_,
                             handoff->scale + off);
        } else {
          S8Epilogue(acc + off * n_, rows, n_, row_scales + off, bias, act_, accumulate_,
                     y + off * n_);
        }
        continue;
      }
      prim.execute(backend_->stream(), {{DNNL_ARG_SRC, src},
                                        {DNNL_ARG_WEIGHTS, weights_},
                                        {DNNL_ARG_BIAS, bias_},
                                        {DNNL_ARG_DST, dst}});
    }
    backend_->stream().wait();
  } catch (const dnnl::error& e) {
    return DnnlError("linear " + name_ + " at " + std::to_string(m) + " rows", e);
  }
  return OkStatus();
}

}  // namespace floe::cpu
