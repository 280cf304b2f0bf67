// The CPU backend's Linear with bfloat16 weights and float32 arithmetic, for
// `--dtype bfloat16` on CPUs without AVX512_BF16 (linear_bf16w.h). The weight
// is kept once, as bf16 panels. Up to bf16w_rows() rows (few tokens, where
// reading the weight is much of the cost) floe's kernel widens it on the fly;
// above, the weight is widened once per call into a float32 scratch and the
// float32 oneDNN product runs as for --dtype float32 (chunks of NextChunk
// rows, bias, activation and residual fused), so bfloat16 stays about as
// fast as float32 on large batches.
#include <cstring>
#include <vector>

#include "backend/cpu/cpu_backend_impl.h"
#include "backend/cpu/linear_bf16w.h"

namespace floe::cpu {
namespace {

class Bf16WeightLinear : public LinearOp {
 public:
  Bf16WeightLinear(CpuBackend* backend, MatmulFamily* family, Bf16Weights w,
                   std::vector<float> bias, Activation act, bool accumulate, std::string name)
      : backend_(backend),
        family_(family),
        w_(std::move(w)),
        bias_(std::move(bias)),
        act_(act),
        accumulate_(accumulate),
        name_(std::move(name)) {}

  Status Forward(const TensorView& x, const TensorView& y) override;
  int64_t in_features() const override { return w_.k; }
  int64_t out_features() const override { return w_.n; }

 private:
  CpuBackend* backend_;
  MatmulFamily* family_;  // float32, weights [k, n] "ab": the many-rows path
  Bf16Weights w_;
  std::vector<float> bias_;  // [n], zeros without a bias
  Activation act_;
  bool accumulate_;
  std::string name_;
};

Status Bf16WeightLinear::Forward(const TensorView& x_view, const TensorView& y_view) {
  FLOE_RETURN_IF_ERROR(CheckLinear(*backend_, name_, x_view, y_view, w_.k, w_.n));
  const float* x = x_view.f32();
  float* y = y_view.f32();
  const int64_t m = x_view.rows();
  backend_->UseThreads();
  const int64_t k = w_.k, n = w_.n;
  try {
    if (m <= backend_->bf16w_rows()) {
      Bf16WeightProduct(w_, x, m, bias_.data(), accumulate_, y);
      if (act_ != Activation::kNone) backend_->ActivateInPlace(act_, y, m, n);
      return OkStatus();
    }
    dnnl::engine& eng = backend_->engine();
    float* widened = backend_->Bf16wScratch(static_cast<size_t>(k * n));
    WidenBf16Weights(w_, widened);
    const memory weights(family_->weights_md(), eng, widened);
    const memory bias(memory::desc({1, n}, memory::data_type::f32, memory::format_tag::ab),
                      eng, bias_.data());
    const int64_t padded = backend_->RoundUpRows(m);
    for (int64_t off = 0, rows = 0; off < padded; off += rows) {
      rows = backend_->NextChunk(padded - off);
      const memory src(memory::desc({rows, k}, memory::data_type::f32, memory::format_tag::ab),
                       eng, const_cast<float*>(x + off * k));
      const memory dst(memory::desc({rows, n}, memory::data_type::f32, memory::format_tag::ab),
                       eng, y + off * n);
      family_->Get(rows).execute(backend_->stream(), {{DNNL_ARG_SRC, src},
                                                      {DNNL_ARG_WEIGHTS, weights},
                                                      {DNNL_ARG_BIAS, bias},
                                                      {DNNL_ARG_DST, dst}});
    }
    backend_->stream().wait();
  } catch (const dnnl::error& e) {
    return DnnlError("linear " + name_ + " at " + std::to_string(m) + " rows", e);
  }
  return OkStatus();
}

}  // namespace

StatusOr<std::unique_ptr<LinearOp>> CpuBackend::CreateBf16WeightLinear(
    const LinearSpec& spec) {
  const int64_t k = spec.in_features, n = spec.out_features;
  try {
    auto& fam = bf16w_families_[std::make_tuple(k, n, static_cast<int>(spec.activation),
                                                spec.accumulate)];
    if (!fam) {
      fam = std::make_unique<MatmulFamily>(&eng_, k, n, spec.activation, spec.accumulate,
                                           kChunkRows, memory::data_type::f32,
                                           std::vector<float>{}, memory::format_tag::ab);
    }
    std::vector<float> bias(static_cast<size_t>(n), 0.f);
    if (spec.bias != nullptr) std::memcpy(bias.data(), spec.bias, n * sizeof(float));
    return std::unique_ptr<LinearOp>(new Bf16WeightLinear(
        this, fam.get(), PackBf16Weights(spec.weight, n, k, ChooseBf16wKernel()),
        std::move(bias), spec.activation, spec.accumulate, spec.name));
  } catch (const dnnl::error& e) {
    return DnnlError("linear " + spec.name, e);
  }
}

void CpuBackend::ActivateInPlace(Activation act, float* y, int64_t m, int64_t n) {
  auto it = eltwise_.find(std::make_tuple(static_cast<int>(act), m, n));
  if (it == eltwise_.end()) {
    const memory::desc md({m, n}, memory::data_type::f32, memory::format_tag::ab);
    const dnnl::eltwise_forward::primitive_desc pd(
        dnnl::eltwise_forward::desc(dnnl::prop_kind::forward_inference, EltwiseFor(act), md,
                                    EltwiseAlpha(act), 0.f),
        eng_);
    it = eltwise_.emplace(std::make_tuple(static_cast<int>(act), m, n),
                          dnnl::eltwise_forward(pd))
             .first;
  }
  const memory mem(memory::desc({m, n}, memory::data_type::f32, memory::format_tag::ab), eng_,
                   y);
  it->second.execute(stream_, {{DNNL_ARG_SRC, mem}, {DNNL_ARG_DST, mem}});
  stream_.wait();
}

}  // namespace floe::cpu
