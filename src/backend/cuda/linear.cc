// Products on cuBLASLt: y[m, n] = act(x[m, k] W^T + b) (+ y).
//
// Row-major y = x W^T is, column-major, y^T (n x m) = W (n x k) x^T (k x m):
// A = W stored [n, k] row-major, i.e. column-major k x n read transposed;
// B = x, column-major k x m; C = D = y, column-major n x m. The bias then runs
// along D's rows, which is what cuBLASLt's BIAS epilogue adds.
//
// Weights are converted to the compute type once, here; the bias is kept in
// the output type (what the epilogue reads) and, for residual products, in
// float32 too (what the fused residual + LayerNorm kernel reads).
//
// Rows: a product of m rows multiplies RoundUpRows(m) = host::RowBucket(m)
// rows (the engine's buffers have room for them), with the plan of that
// bucket from the backend's shared cache (backend/cuda/host/row_buckets.h):
// one heuristic query per (bucket, shape, epilogue) for all the layers, made
// the first time a bucket is used.
//
// Epilogues: kNone -> BIAS, kRelu -> RELU_BIAS, kGeluTanh -> GELU_BIAS
// (cuBLASLt's GELU is the tanh form), kGeluErf -> no epilogue, then one
// vectorised kernel adding the bias and applying the exact erf GELU in
// float32, in place (FLOE_CUDA_FUSED_BIAS_GELU=0: the BIAS epilogue, then
// the scalar erf kernel).
//
// kHigh products (Q/K/V) in float16 / bfloat16, unless FLOE_CUDA_QKV=compute
// (host/wide_qkv.h): float32 weights and bias, the product of the float32
// copy of x that the LayerNorm before wrote (else x converted to float32
// here) on CUDA cores in float32 (FLOE_CUDA_QKV=tf32, bfloat16's default:
// TF32 tensor cores), float32 output to the
// backend's slot kQkv, which the next Attention reads; y gets the product
// rounded to the compute type as well.
// Residual products (accumulate): with the fused switch on, the product
// (no bias) goes to the backend's scratch and the next LayerNorm of y adds
// scratch + bias + y in the same pass; otherwise beta = 1 adds y in the
// epilogue.
#include <string>

#include "backend/cuda/cuda_backend_impl.h"
#include "backend/cuda/cuda_status.h"
#include "backend/cuda/lt_plan.h"

namespace floe::cuda {
namespace {

cudaDataType_t CudaType(DType dt) {
  switch (dt) {
    case DType::kF16: return CUDA_R_16F;
    case DType::kBF16: return CUDA_R_16BF;
    default:
      break;
  }
  return CUDA_R_32F;
}

class CudaLinear : public LinearOp {
 public:
  CudaLinear(CudaBackend* backend, const LinearSpec& spec)
      : backend_(backend),
        k_(spec.in_features),
        n_(spec.out_features),
        act_(spec.activation),
        accumulate_(spec.accumulate),
        name_(spec.name) {}

  ~CudaLinear() override {
    if (main_ != nullptr) cublasLtMatmulDescDestroy(main_);
    if (plain_ != nullptr) cublasLtMatmulDescDestroy(plain_);
    if (pref_ != nullptr) cublasLtMatmulPreferenceDestroy(pref_);
  }
  CudaLinear(const CudaLinear&) = delete;
  CudaLinear& operator=(const CudaLinear&) = delete;

  Status Init(const LinearSpec& spec);
  Status Forward(const TensorView& x, const TensorView& y) override;
  int64_t in_features() const override { return k_; }
  int64_t out_features() const override { return n_; }

 private:
  std::string What() const { return "linear " + name_; }
  Status MakeDesc(cublasLtMatmulDesc_t* desc, cublasLtEpilogue_t epilogue, const void* bias);
  // The shared plan of `rows` (a bucket) for desc (main_ with epi_main_, or
  // plain_ with no epilogue).
  StatusOr<LtPlan*> GetPlan(int64_t rows, cublasLtMatmulDesc_t desc, cublasLtEpilogue_t epi);
  Status Matmul(cublasLtMatmulDesc_t desc, const LtPlan& p, const void* x, float beta, void* y,
                int64_t rows);
  // The kHigh product on float32 copies (see the top of the file).
  Status ForwardWide(const void* x, void* y, int64_t m, int64_t rows);

  CudaBackend* backend_;
  int64_t k_, n_;
  Activation act_;
  bool accumulate_;
  std::string name_;
  std::unique_ptr<CudaBuffer> weight_, bias_, bias_f32_;
  LtLayout a_;
  cublasLtEpilogue_t epi_main_ = CUBLASLT_EPILOGUE_DEFAULT;
  cublasLtMatmulDesc_t main_ = nullptr;   // bias (+ activation) epilogue
  cublasLtMatmulDesc_t plain_ = nullptr;  // no epilogue: deferred residual products
  cublasLtMatmulPreference_t pref_ = nullptr;
  cublasComputeType_t compute_ = CUBLAS_COMPUTE_32F;
  bool wide_ = false;          // a kHigh product on float32 copies
  bool gelu_kernel_ = false;   // bias + erf GELU in LaunchBiasGelu
  DType io_ = DType::kF32;     // the element type of the product's operands
};

Status CudaLinear::MakeDesc(cublasLtMatmulDesc_t* desc, cublasLtEpilogue_t epilogue,
                            const void* bias) {
  const std::string w = What();
  FLOE_CUBLAS_RETURN_IF_ERROR(cublasLtMatmulDescCreate(desc, compute_, CUDA_R_32F),
                              w + ": cublasLtMatmulDescCreate");
  const cublasOperation_t ta = CUBLAS_OP_T, tb = CUBLAS_OP_N;
  FLOE_CUBLAS_RETURN_IF_ERROR(
      cublasLtMatmulDescSetAttribute(*desc, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof(ta)),
      w + ": TRANSA");
  FLOE_CUBLAS_RETURN_IF_ERROR(
      cublasLtMatmulDescSetAttribute(*desc, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof(tb)),
      w + ": TRANSB");
  FLOE_CUBLAS_RETURN_IF_ERROR(cublasLtMatmulDescSetAttribute(*desc, CUBLASLT_MATMUL_DESC_EPILOGUE,
                                                             &epilogue, sizeof(epilogue)),
                              w + ": EPILOGUE");
  if (bias != nullptr) {
    FLOE_CUBLAS_RETURN_IF_ERROR(
        cublasLtMatmulDescSetAttribute(*desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias,
                                       sizeof(bias)),
        w + ": BIAS_POINTER");
  }
  return OkStatus();
}

Status CudaLinear::Init(const LinearSpec& spec) {
  const std::string w = What();
  const DType dt = backend_->dtype();
  const CudaSwitches& sw = backend_->switches();
  wide_ = spec.precision == LinearPrecision::kHigh && dt != DType::kF32 &&
          sw.qkv != host::QkvPrecision::kCompute && act_ == Activation::kNone && !accumulate_;
  io_ = wide_ ? DType::kF32 : dt;
  if (wide_) {
    compute_ = sw.qkv == host::QkvPrecision::kF32 ? CUBLAS_COMPUTE_32F
                                                   : CUBLAS_COMPUTE_32F_FAST_TF32;
  } else if (dt == DType::kF32 && sw.tf32) {
    compute_ = CUBLAS_COMPUTE_32F_FAST_TF32;
  }
  gelu_kernel_ = act_ == Activation::kGeluErf && sw.fused_bias_gelu;
  FLOE_ASSIGN_OR_RETURN(weight_, backend_->UploadConverted(spec.weight, k_ * n_, io_, w + ": weight"));
  if (spec.bias != nullptr) {
    if (!gelu_kernel_) {
      FLOE_ASSIGN_OR_RETURN(bias_, backend_->UploadConverted(spec.bias, n_, io_, w + ": bias"));
    }
    if (accumulate_ || gelu_kernel_) {
      FLOE_ASSIGN_OR_RETURN(bias_f32_,
                            backend_->UploadConverted(spec.bias, n_, DType::kF32, w + ": bias"));
    }
  }
  const bool has_bias = bias_ != nullptr;  // in the epilogue
  cublasLtEpilogue_t epi = has_bias ? CUBLASLT_EPILOGUE_BIAS : CUBLASLT_EPILOGUE_DEFAULT;
  if (act_ == Activation::kRelu) epi = has_bias ? CUBLASLT_EPILOGUE_RELU_BIAS : CUBLASLT_EPILOGUE_RELU;
  if (act_ == Activation::kGeluTanh) {
    epi = has_bias ? CUBLASLT_EPILOGUE_GELU_BIAS : CUBLASLT_EPILOGUE_GELU;
  }
  epi_main_ = epi;
  FLOE_RETURN_IF_ERROR(MakeDesc(&main_, epi, has_bias ? bias_->data() : nullptr));
  if (accumulate_) FLOE_RETURN_IF_ERROR(MakeDesc(&plain_, CUBLASLT_EPILOGUE_DEFAULT, nullptr));
  FLOE_CUBLAS_RETURN_IF_ERROR(cublasLtMatrixLayoutCreate(&a_.h, CudaType(io_), k_, n_, k_),
                              w + ": layout of W");
  FLOE_CUBLAS_RETURN_IF_ERROR(cublasLtMatmulPreferenceCreate(&pref_), w + ": preference");
  const uint64_t ws = backend_->workspace_size();
  FLOE_CUBLAS_RETURN_IF_ERROR(
      cublasLtMatmulPreferenceSetAttribute(pref_, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws,
                                           sizeof(ws)),
      w + ": workspace preference");
  // Forward checks 16-byte alignment; tell the heuristic not to assume 256.
  const uint32_t align = 16;
  for (auto attr : {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES,
                    CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES,
                    CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES,
                    CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES}) {
    FLOE_CUBLAS_RETURN_IF_ERROR(
        cublasLtMatmulPreferenceSetAttribute(pref_, attr, &align, sizeof(align)),
        w + ": alignment preference");
  }
  // Plan the scratch of residual products for the largest pass now, so that
  // the memory budget is checked at load.
  const int64_t max_rows = backend_->RoundUpRows(backend_->max_batch_tokens());
  if (accumulate_ && sw.fused_residual_ln && max_rows > 0) {
    FLOE_RETURN_IF_ERROR(backend_->Scratch(max_rows * n_ * DTypeSize(dt)).status());
  }
  if (wide_) {
    // LayerNorms of k_ columns now write the float32 copy this product reads.
    backend_->WantWideInput(k_);
    if (max_rows > 0) {
      FLOE_RETURN_IF_ERROR(backend_->WideBuffer(host::WideSlot::kInput, max_rows * k_).status());
      FLOE_RETURN_IF_ERROR(backend_->WideBuffer(host::WideSlot::kQkv, max_rows * n_).status());
    }
  }
  return OkStatus();
}

StatusOr<LtPlan*> CudaLinear::GetPlan(int64_t rows, cublasLtMatmulDesc_t desc,
                                      cublasLtEpilogue_t epi) {
  const DType dt = io_;
  host::PlanKey key;
  key.rows = rows;
  key.n = n_;
  key.k = k_;
  key.dtype = static_cast<int>(dt);
  key.epilogue = static_cast<int>(epi);
  key.compute = static_cast<int>(compute_);
  return backend_->plans().Get(key, [&]() -> StatusOr<std::unique_ptr<LtPlan>> {
    auto p = std::make_unique<LtPlan>();
    const cudaDataType_t t = CudaType(dt);
    const std::string w = What();
    const std::string at = " at " + std::to_string(rows) + " rows";
    FLOE_CUBLAS_RETURN_IF_ERROR(cublasLtMatrixLayoutCreate(&p->b.h, t, k_, rows, k_),
                                w + ": layout of x" + at);
    FLOE_CUBLAS_RETURN_IF_ERROR(cublasLtMatrixLayoutCreate(&p->c.h, t, n_, rows, n_),
                                w + ": layout of y" + at);
    cublasLtMatmulHeuristicResult_t result{};
    int found = 0;
    FLOE_CUBLAS_RETURN_IF_ERROR(
        cublasLtMatmulAlgoGetHeuristic(backend_->lt(), desc, a_.h, p->b.h, p->c.h, p->c.h, pref_,
                                       1, &result, &found),
        w + ": cublasLtMatmulAlgoGetHeuristic" + at);
    if (found == 0) {
      return UnimplementedError(w + ": cuBLASLt has no algorithm for " + std::to_string(rows) +
                                " x " + std::to_string(k_) + " x " + std::to_string(n_));
    }
    p->algo = result.algo;
    return std::unique_ptr<LtPlan>(std::move(p));
  });
}

Status CudaLinear::Matmul(cublasLtMatmulDesc_t desc, const LtPlan& p, const void* x, float beta,
                          void* y, int64_t rows) {
  const float alpha = 1.f;
  return CublasStatus(
      cublasLtMatmul(backend_->lt(), desc, &alpha, weight_->data(), a_.h, x, p.b.h, &beta, y,
                     p.c.h, y, p.c.h, &p.algo, backend_->workspace(), backend_->workspace_size(),
                     backend_->stream()),
      What() + ": cublasLtMatmul at " + std::to_string(rows) + " rows");
}

Status CudaLinear::Forward(const TensorView& x_view, const TensorView& y_view) {
  const std::string w = What();
  FLOE_RETURN_IF_ERROR(backend_->Enter(w));
  FLOE_RETURN_IF_ERROR(backend_->Flush());
  FLOE_RETURN_IF_ERROR(CheckLinear(*backend_, name_, x_view, y_view, k_, n_));
  const int64_t m = x_view.rows();
  const int64_t rows = backend_->RoundUpRows(m);  // the product's rows: m's bucket
  if (m < 1 || rows > 0x7fffffffLL) {
    return InvalidArgumentError(w + ": rows " + std::to_string(m) + " out of range");
  }
  const void* x = x_view.data;
  void* y = y_view.data;
  const size_t es = DTypeSize(backend_->dtype());
  FLOE_RETURN_IF_ERROR(backend_->CheckMemory(x, rows * k_ * es, w, "x"));
  FLOE_RETURN_IF_ERROR(backend_->CheckMemory(y, rows * n_ * es, w, "y"));
  if (reinterpret_cast<uintptr_t>(x) % 16 != 0 || reinterpret_cast<uintptr_t>(y) % 16 != 0) {
    return InvalidArgumentError(w + ": x and y must be 16-byte aligned");
  }
  if (wide_) return ForwardWide(x, y, m, rows);
  if (accumulate_ && backend_->switches().fused_residual_ln) {
    FLOE_ASSIGN_OR_RETURN(LtPlan * p, GetPlan(rows, plain_, CUBLASLT_EPILOGUE_DEFAULT));
    FLOE_ASSIGN_OR_RETURN(void* scratch, backend_->Scratch(rows * n_ * es));
    FLOE_RETURN_IF_ERROR(Matmul(plain_, *p, x, 0.f, scratch, rows));
    // Only the m real rows are added (by the next LayerNorm or Flush).
    backend_->Defer(y, bias_f32_ ? bias_f32_->f32() : nullptr, m, n_);
    return OkStatus();
  }
  FLOE_ASSIGN_OR_RETURN(LtPlan * p, GetPlan(rows, main_, epi_main_));
  FLOE_RETURN_IF_ERROR(Matmul(main_, *p, x, accumulate_ ? 1.f : 0.f, y, rows));
  if (gelu_kernel_) {
    const float* bias = bias_f32_ ? bias_f32_->f32() : nullptr;
    return CudaStatus(
        LaunchBiasGelu(backend_->dtype(), y, bias, m, n_, false, backend_->stream()),
        w + ": bias + gelu");
  }
  if (act_ == Activation::kGeluErf) {
    FLOE_RETURN_IF_ERROR(
        CudaStatus(LaunchGeluErf(backend_->dtype(), y, m * n_, backend_->stream()), w + ": gelu"));
  }
  return OkStatus();
}

Status CudaLinear::ForwardWide(const void* x, void* y, int64_t m, int64_t rows) {
  const std::string w = What();
  const DType dt = backend_->dtype();
  const float* x32 = backend_->FreshWide(host::WideSlot::kInput, x, m, k_);
  if (x32 == nullptr) {
    // No LayerNorm wrote x's float32 copy just before: x as stored, in float32.
    FLOE_ASSIGN_OR_RETURN(float* copy, backend_->WideBuffer(host::WideSlot::kInput, rows * k_));
    FLOE_RETURN_IF_ERROR(
        CudaStatus(LaunchToFloat(dt, x, rows * k_, copy, backend_->stream()), w + ": x to float32"));
    x32 = copy;
  }
  FLOE_ASSIGN_OR_RETURN(float* y32, backend_->WideBuffer(host::WideSlot::kQkv, rows * n_));
  FLOE_ASSIGN_OR_RETURN(LtPlan * p, GetPlan(rows, main_, epi_main_));
  FLOE_RETURN_IF_ERROR(Matmul(main_, *p, x32, 0.f, y32, rows));
  FLOE_RETURN_IF_ERROR(CudaStatus(LaunchFromFloat(dt, y32, m * n_, y, backend_->stream()),
                                  w + ": float32 output to " + DTypeLongName(dt)));
  backend_->RecordWide(host::WideSlot::kQkv, y, m, n_);
  return OkStatus();
}

}  // namespace

StatusOr<std::unique_ptr<LinearOp>> CreateCudaLinear(CudaBackend* backend, const LinearSpec& spec) {
  const std::string w = "linear " + spec.name;
  if (spec.weight == nullptr || spec.in_features <= 0 || spec.out_features <= 0) {
    return InvalidArgumentError(w + ": empty weight");
  }
  if (spec.in_features > 0x7fffffffLL || spec.out_features > 0x7fffffffLL) {
    return InvalidArgumentError(w + ": too large");
  }
  if (spec.accumulate && spec.activation != Activation::kNone) {
    return UnimplementedError(w + ": an activation before the residual add is not implemented "
                                  "on cuda");
  }
  auto op = std::make_unique<CudaLinear>(backend, spec);
  FLOE_RETURN_IF_ERROR(op->Init(spec));
  return std::unique_ptr<LinearOp>(std::move(op));
}

}  // namespace floe::cuda
