// The CUDA backend's ops: checks (CheckInputs style: every shape and pointer
// before any launch), launches on the backend's stream, memory and copies.
// The products live in linear.cc, attention in cuda_attend.cc, the kernels
// in the .cu files.
#include "backend/cuda/cuda_backend.h"

#include <algorithm>
#include <cstdlib>
#include <string>
#include <vector>

#include "backend/cuda/cuda_backend_impl.h"
#include "backend/cuda/cuda_status.h"
#include "core/log.h"

namespace floe {
namespace cuda {

namespace {

constexpr size_t kWorkspaceBytes = 32u << 20;  // cuBLASLt's advice for Hopper

DType DTypeFor(ComputeType ct) {
  switch (ct) {
    case ComputeType::kFloat16: return DType::kF16;
    case ComputeType::kBFloat16: return DType::kBF16;
    default: return DType::kF32;
  }
}

bool EnvFlag(const char* name, bool fallback) {
  const char* v = std::getenv(name);
  if (v == nullptr || v[0] == '\0') return fallback;
  return v[0] != '0';
}

std::string Bytes(size_t n) { return std::to_string(n) + " bytes"; }

}  // namespace

CudaBuffer::~CudaBuffer() {
  // No kernel queued on the backend's stream may still use p_.
  if (cudaSetDevice(ordinal_) == cudaSuccess) {
    if (void* s = allocs_->stream()) cudaStreamSynchronize(static_cast<cudaStream_t>(s));
    const cudaError_t e = cudaFree(p_);
    if (e != cudaSuccess) {
      LogOnce(LogLevel::kWarn, "cuda-free", std::string("cudaFree: ") + cudaGetErrorString(e));
    }
  }
  allocs_->Remove(p_);
}

CudaBackend::CudaBackend(const RuntimeOptions& options, int ordinal, ComputeType ct,
                         CudaSwitches sw, cudaStream_t stream, cublasLtHandle_t lt,
                         size_t budget_bytes)
    : Backend(options),
      ordinal_(ordinal),
      ct_(ct),
      dt_(DTypeFor(ct)),
      sw_(sw),
      stream_(stream),
      lt_(lt),
      budget_bytes_(budget_bytes) {
  allocs_->set_stream(stream_);
}

CudaBackend::~CudaBackend() {
  if (cudaSetDevice(ordinal_) == cudaSuccess) cudaStreamSynchronize(stream_);
  allocs_->set_stream(nullptr);  // buffers that outlive the backend free without it
  workspace_.reset();
  scratch_.reset();
  staging_.reset();
  for (auto& b : wide_bufs_) b.reset();
  if (lt_ != nullptr) cublasLtDestroy(lt_);
  if (stream_ != nullptr) cudaStreamDestroy(stream_);
}

Status CudaBackend::Init() {
  FLOE_ASSIGN_OR_RETURN(workspace_, AllocateInternal(kWorkspaceBytes, "cuBLASLt workspace"));
  return OkStatus();
}

Status CudaBackend::Enter(const std::string& op) {
  wide_.NextOp();  // float32 copies serve only the op right after their writer
  return CudaStatus(cudaSetDevice(ordinal_), op + ": cudaSetDevice(" + device() + ")");
}

StatusOr<std::unique_ptr<CudaBuffer>> CudaBackend::AllocateInternal(size_t bytes,
                                                                   const std::string& what) {
  const size_t n = std::max<size_t>(256, (bytes + 255) / 256 * 256);
  const size_t held = allocs_->held();
  if (budget_bytes_ > 0 && held + n > budget_bytes_) {
    return ResourceExhaustedError(
        device() + ": " + what + " needs " + Bytes(n) + " but the backend already holds " +
        Bytes(held) + " of its " + Bytes(budget_bytes_) +
        " budget (raise --gpu-memory-utilization or lower --max-batch-tokens)");
  }
  void* p = nullptr;
  FLOE_CUDA_RETURN_IF_ERROR(cudaMalloc(&p, n), device() + ": " + what + ": cudaMalloc(" + Bytes(n) + ")");
  allocs_->Add(p, n);
  auto buf = std::make_unique<CudaBuffer>(allocs_, ordinal_, p, bytes);
  FLOE_CUDA_RETURN_IF_ERROR(cudaMemsetAsync(p, 0, n, stream_), device() + ": " + what + ": cudaMemsetAsync");
  return buf;
}

StatusOr<std::unique_ptr<DeviceBuffer>> CudaBackend::Allocate(size_t bytes) {
  FLOE_RETURN_IF_ERROR(Enter("Allocate"));
  FLOE_ASSIGN_OR_RETURN(std::unique_ptr<CudaBuffer> buf, AllocateInternal(bytes, "Allocate"));
  return std::unique_ptr<DeviceBuffer>(std::move(buf));
}

Status CudaBackend::CheckMemory(const void* p, size_t bytes, const std::string& op,
                                const char* arg) const {
  if (p == nullptr) return InvalidArgumentError(op + ": " + arg + " is null");
  const auto a = allocs_->Find(p, bytes);
  if (!a) {
    return InvalidArgumentError(op + ": " + arg + " is not " + Bytes(bytes) +
                                " of memory allocated by backend " + device());
  }
  return OkStatus();
}

Status CudaBackend::CheckBatch(const PackedBatch& batch, const std::string& op) const {
  const int64_t B = batch.num_seqs, T = batch.total_tokens;
  if (B < 1 || T < 1 || T > 0x7fffffffLL) {
    return InvalidArgumentError(op + ": empty or oversized batch (B " + std::to_string(B) +
                                ", T " + std::to_string(T) + ")");
  }
  if (batch.cu_seqlens_host == nullptr) return InvalidArgumentError(op + ": cu_seqlens_host is null");
  FLOE_RETURN_IF_ERROR(CheckMemory(batch.cu_seqlens_device, (B + 1) * sizeof(int32_t), op,
                                   "cu_seqlens_device"));
  const int32_t* cu = batch.cu_seqlens_host;
  int64_t longest = 0;
  if (cu[0] != 0 || cu[B] != T) {
    return InvalidArgumentError(op + ": cu_seqlens must run from 0 to T = " + std::to_string(T));
  }
  for (int64_t b = 0; b < B; ++b) {
    if (cu[b + 1] < cu[b]) return InvalidArgumentError(op + ": cu_seqlens decreases at " + std::to_string(b));
    longest = std::max<int64_t>(longest, cu[b + 1] - cu[b]);
  }
  if (longest > batch.max_seqlen) {
    return InvalidArgumentError(op + ": max_seqlen " + std::to_string(batch.max_seqlen) +
                                " < longest sequence " + std::to_string(longest));
  }
  return OkStatus();
}

void CudaBackend::Defer(void* y, const float* bias, int64_t rows, int64_t n) {
  const auto a = allocs_->Find(y, 0);
  deferred_ = Deferred{true, y, bias, rows, n, a ? a->id : 0};
}

Status CudaBackend::Flush() {
  if (!deferred_.active) return OkStatus();
  deferred_.active = false;
  // After a failed pass the engine may have freed y (and reused its
  // address): then there is nothing left to add to.
  const auto a = allocs_->Find(deferred_.y, deferred_.rows * deferred_.n * DTypeSize(dt_));
  if (!a || a->id != deferred_.y_allocation) return OkStatus();
  return CudaStatus(LaunchAddResidual(dt_, deferred_.y, scratch_->data(), deferred_.bias,
                                      deferred_.rows, deferred_.n, stream_),
                    "residual add (deferred)");
}

StatusOr<void*> CudaBackend::Scratch(size_t bytes) {
  if (!scratch_ || scratch_->size() < bytes) {
    if (deferred_.active) return InternalError("cuda scratch grown while in use");
    scratch_.reset();
    FLOE_ASSIGN_OR_RETURN(scratch_, AllocateInternal(bytes, "residual scratch"));
  }
  return scratch_->data();
}

const float* CudaBackend::FreshWide(host::WideSlot slot, const void* act, int64_t rows,
                                    int64_t cols) const {
  const auto& buf = wide_bufs_[static_cast<int>(slot)];
  if (!buf || !wide_.Fresh(slot, act, rows, cols)) return nullptr;
  return static_cast<const float*>(buf->data());
}

StatusOr<float*> CudaBackend::WideBuffer(host::WideSlot slot, int64_t count) {
  auto& buf = wide_bufs_[static_cast<int>(slot)];
  const size_t bytes = static_cast<size_t>(count) * sizeof(float);
  if (!buf || buf->size() < bytes) {
    wide_.Forget(slot);
    buf.reset();
    FLOE_ASSIGN_OR_RETURN(buf, AllocateInternal(bytes, slot == host::WideSlot::kQkv
                                                           ? "float32 Q/K/V"
                                                           : "float32 Q/K/V input"));
  }
  return buf->f32();
}

StatusOr<float*> CudaBackend::LayerNormCopy(int64_t rows, int64_t hidden) {
  if (wide_cols_ <= 0 || hidden != wide_cols_) return static_cast<float*>(nullptr);
  // The kHigh product reads RoundUpRows(rows) rows of it.
  return WideBuffer(host::WideSlot::kInput, RoundUpRows(rows) * hidden);
}

StatusOr<float*> CudaBackend::FloatStaging(size_t count) {
  const size_t bytes = count * sizeof(float);
  if (!staging_ || staging_->size() < bytes) {
    staging_.reset();
    FLOE_ASSIGN_OR_RETURN(staging_, AllocateInternal(bytes, "float32 staging"));
  }
  return staging_->f32();
}

StatusOr<std::unique_ptr<CudaBuffer>> CudaBackend::UploadConverted(const float* host,
                                                                  int64_t count, DType dt,
                                                                  const std::string& what) {
  FLOE_ASSIGN_OR_RETURN(auto out, AllocateInternal(count * DTypeSize(dt), what));
  if (dt == DType::kF32) {
    FLOE_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(out->data(), host, count * sizeof(float),
                                              cudaMemcpyHostToDevice, stream_),
                              what + ": upload");
  } else {
    FLOE_ASSIGN_OR_RETURN(float* staging, FloatStaging(count));
    FLOE_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(staging, host, count * sizeof(float),
                                              cudaMemcpyHostToDevice, stream_),
                              what + ": upload");
    FLOE_CUDA_RETURN_IF_ERROR(LaunchFromFloat(dt, staging, count, out->data(), stream_),
                              what + ": convert");
  }
  // The host copy may be freed on return, and staging is reused.
  FLOE_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(stream_), what + ": upload");
  return out;
}

Status CudaBackend::CopyToDevice(const void* host, size_t bytes, void* device) {
  const std::string op = "CopyToDevice";
  FLOE_RETURN_IF_ERROR(Enter(op));
  FLOE_RETURN_IF_ERROR(Flush());
  if (bytes == 0) return OkStatus();
  if (host == nullptr) return InvalidArgumentError(op + ": host is null");
  FLOE_RETURN_IF_ERROR(CheckMemory(device, bytes, op, "device"));
  FLOE_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(device, host, bytes, cudaMemcpyHostToDevice, stream_),
                            op + " (" + Bytes(bytes) + ")");
  // From pageable memory the call returns once the host bytes are staged;
  // from pinned memory it may not have read them yet, and the caller may
  // reuse them at once.
  cudaPointerAttributes attr{};
  if (cudaPointerGetAttributes(&attr, host) != cudaSuccess) {
    cudaGetLastError();  // clear: plain malloc'ed memory is fine
  } else if (attr.type == cudaMemoryTypeHost) {
    FLOE_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(stream_), op + ": cuda stream");
  }
  return OkStatus();
}

Status CudaBackend::CopyToHost(const void* device, size_t bytes, void* host) {
  const std::string op = "CopyToHost";
  FLOE_RETURN_IF_ERROR(Enter(op));
  FLOE_RETURN_IF_ERROR(Flush());
  if (bytes == 0) return OkStatus();
  if (host == nullptr) return InvalidArgumentError(op + ": host is null");
  FLOE_RETURN_IF_ERROR(CheckMemory(device, bytes, op, "device"));
  FLOE_CUDA_RETURN_IF_ERROR(
      cudaMemcpyAsync(host, device, bytes, cudaMemcpyDeviceToHost, stream_),
      op + " (" + Bytes(bytes) + ")");
  // Errors of any kernel queued since the last wait surface here.
  return CudaStatus(cudaStreamSynchronize(stream_),
                    op + ": cuda stream (this op or one queued before it)");
}

Status CudaBackend::ConvertToHost(const TensorView& src, float* host) {
  const std::string op = "CopyToHost";
  FLOE_RETURN_IF_ERROR(Enter(op));
  FLOE_RETURN_IF_ERROR(Flush());
  if (host == nullptr) return InvalidArgumentError(op + ": host is null");
  FLOE_RETURN_IF_ERROR(CheckMemory(src.data, src.bytes(), op, "src"));
  const int64_t count = src.numel();
  FLOE_ASSIGN_OR_RETURN(float* staging, FloatStaging(count));
  FLOE_CUDA_RETURN_IF_ERROR(LaunchToFloat(src.dtype, src.data, count, staging, stream_),
                            op + ": convert " + DescribeTensor(src));
  FLOE_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(host, staging, count * sizeof(float),
                                            cudaMemcpyDeviceToHost, stream_),
                            op + " (" + Bytes(count * sizeof(float)) + ")");
  return CudaStatus(cudaStreamSynchronize(stream_),
                    op + ": cuda stream (this op or one queued before it)");
}

Status CudaBackend::ConvertToDevice(const float* host, const TensorView& dst) {
  const std::string op = "CopyToDevice";
  FLOE_RETURN_IF_ERROR(Enter(op));
  FLOE_RETURN_IF_ERROR(Flush());
  if (host == nullptr) return InvalidArgumentError(op + ": host is null");
  FLOE_RETURN_IF_ERROR(CheckMemory(dst.data, dst.bytes(), op, "dst"));
  const int64_t count = dst.numel();
  FLOE_ASSIGN_OR_RETURN(float* staging, FloatStaging(count));
  FLOE_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(staging, host, count * sizeof(float),
                                            cudaMemcpyHostToDevice, stream_),
                            op);
  FLOE_CUDA_RETURN_IF_ERROR(LaunchFromFloat(dst.dtype, staging, count, dst.data, stream_),
                            op + ": convert to " + DescribeTensor(dst));
  // The host values may be freed on return, and staging is reused.
  return CudaStatus(cudaStreamSynchronize(stream_), op + ": cuda stream");
}

StatusOr<std::unique_ptr<LinearOp>> CudaBackend::CreateLinear(const LinearSpec& spec) {
  FLOE_RETURN_IF_ERROR(Enter("linear " + spec.name));
  FLOE_RETURN_IF_ERROR(Flush());
  return CreateCudaLinear(this, spec);
}

Status CudaBackend::EmbedLayerNorm(const int32_t* ids, const PackedBatch& batch,
                                   const EmbeddingTables& tables, float eps,
                                   const TensorView& out) {
  const std::string op = "EmbedLayerNorm";
  FLOE_RETURN_IF_ERROR(Enter(op));
  FLOE_RETURN_IF_ERROR(Flush());
  FLOE_RETURN_IF_ERROR(CheckBatch(batch, op));
  FLOE_RETURN_IF_ERROR(CheckEmbedLayerNorm(*this, batch, out));
  const int64_t hidden = out.cols();
  if (hidden < 1 || hidden > kMaxRowHidden) {
    return InvalidArgumentError(op + ": hidden " + std::to_string(hidden) + " outside [1, " +
                                std::to_string(kMaxRowHidden) + "]");
  }
  if (tables.position_offset < 0) {
    return InvalidArgumentError(op + ": position_offset " +
                                std::to_string(tables.position_offset) + " is negative");
  }
  const int64_t T = batch.total_tokens;
  const size_t row = hidden * sizeof(float);
  const bool type1 = batch.type1_from_device != nullptr;
  FLOE_RETURN_IF_ERROR(CheckMemory(ids, T * sizeof(int32_t), op, "ids"));
  FLOE_RETURN_IF_ERROR(CheckMemory(tables.word, row, op, "word"));
  FLOE_RETURN_IF_ERROR(CheckMemory(tables.position,
                                   (batch.max_seqlen + tables.position_offset) * row, op,
                                   "position"));
  FLOE_RETURN_IF_ERROR(
      CheckMemory(tables.token_type, (type1 ? 2 : 1) * row, op, "token_type"));
  if (type1) {
    FLOE_RETURN_IF_ERROR(CheckMemory(batch.type1_from_device,
                                     batch.num_seqs * sizeof(int32_t), op, "type1_from"));
  }
  FLOE_RETURN_IF_ERROR(CheckMemory(tables.gamma, row, op, "gamma"));
  FLOE_RETURN_IF_ERROR(CheckMemory(tables.beta, row, op, "beta"));
  FLOE_RETURN_IF_ERROR(CheckMemory(out.data, out.bytes(), op, "out"));
  FLOE_ASSIGN_OR_RETURN(float* copy, LayerNormCopy(T, hidden));
  FLOE_CUDA_RETURN_IF_ERROR(
      LaunchEmbedLayerNorm(dt_, ids, batch.cu_seqlens_device, batch.num_seqs, T,
                           tables.word, tables.position, tables.token_type,
                           batch.type1_from_device, tables.position_offset, tables.gamma,
                           tables.beta, hidden, eps, out.data, copy, stream_),
      op);
  if (copy != nullptr) wide_.Record(host::WideSlot::kInput, out.data, T, hidden);
  return OkStatus();
}

Status CudaBackend::LayerNorm(const TensorView& x_view, const float* gamma,
                              const float* beta, float eps) {
  const std::string op = "LayerNorm";
  FLOE_RETURN_IF_ERROR(Enter(op));
  if (Status s = CheckLayerNorm(*this, x_view, gamma, beta); !s.ok()) {
    FLOE_RETURN_IF_ERROR(Flush());
    return s;
  }
  void* x = x_view.data;
  const int64_t rows = x_view.rows(), hidden = x_view.cols();
  if (rows < 1 || rows > 0x7fffffffLL || hidden < 1 || hidden > kMaxRowHidden) {
    FLOE_RETURN_IF_ERROR(Flush());
    return InvalidArgumentError(op + ": rows " + std::to_string(rows) + ", hidden " +
                                std::to_string(hidden) + " out of range");
  }
  FLOE_RETURN_IF_ERROR(CheckMemory(gamma, hidden * sizeof(float), op, "gamma"));
  FLOE_RETURN_IF_ERROR(CheckMemory(beta, hidden * sizeof(float), op, "beta"));
  FLOE_RETURN_IF_ERROR(CheckMemory(x, x_view.bytes(), op, "x"));
  FLOE_ASSIGN_OR_RETURN(float* copy, LayerNormCopy(rows, hidden));
  const void* residual = nullptr;
  const float* bias = nullptr;
  if (deferred_.active && deferred_.y == x && deferred_.rows == rows && deferred_.n == hidden) {
    // bias + residual + LayerNorm in one pass: x = LN(x + scratch + bias).
    residual = scratch_->data();
    bias = deferred_.bias;
    deferred_.active = false;
  } else {
    FLOE_RETURN_IF_ERROR(Flush());
  }
  FLOE_RETURN_IF_ERROR(CudaStatus(
      LaunchLayerNorm(dt_, x, residual, bias, rows, hidden, gamma, beta, eps,
                      sw_.warp_layernorm, copy, stream_),
      residual != nullptr ? "bias + residual + LayerNorm" : op));
  if (copy != nullptr) wide_.Record(host::WideSlot::kInput, x, rows, hidden);
  return OkStatus();
}

Status CudaBackend::Pool(const TensorView& hidden_view, const PackedBatch& batch,
                         PoolKind kind, const TensorView& out_view) {
  const std::string op = "Pool";
  FLOE_RETURN_IF_ERROR(Enter(op));
  FLOE_RETURN_IF_ERROR(Flush());
  FLOE_RETURN_IF_ERROR(CheckBatch(batch, op));
  FLOE_RETURN_IF_ERROR(CheckPool(*this, hidden_view, batch, out_view));
  const int64_t dim = hidden_view.cols();
  const void* hidden = hidden_view.data;
  float* out = out_view.f32();
  if (dim < 1 || dim > 0x7fffffffLL) return InvalidArgumentError(op + ": dim " + std::to_string(dim));
  int k = 0;
  switch (kind) {
    case PoolKind::kCls: k = 0; break;
    case PoolKind::kMean: k = 1; break;
    case PoolKind::kMax: k = 2; break;
    case PoolKind::kLastToken: k = 3; break;
  }
  const int64_t T = batch.total_tokens, B = batch.num_seqs;
  FLOE_RETURN_IF_ERROR(CheckMemory(hidden, T * dim * DTypeSize(dt_), op, "hidden"));
  FLOE_RETURN_IF_ERROR(CheckMemory(out, B * dim * sizeof(float), op, "out"));
  if (batch.pool_skip_device != nullptr) {
    FLOE_RETURN_IF_ERROR(
        CheckMemory(batch.pool_skip_device, B * sizeof(int32_t), op, "pool_skip_device"));
  }
  FLOE_CUDA_RETURN_IF_ERROR(LaunchPool(dt_, hidden, batch.cu_seqlens_device,
                                       batch.pool_skip_device, B, dim, k, out, stream_),
                            op);
  return OkStatus();
}

}  // namespace cuda

int CudaDeviceCount() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();
    return 0;
  }
  return n;
}

StatusOr<std::unique_ptr<Backend>> CreateCudaBackend(const RuntimeOptions& options,
                                                     ComputeType compute_type, int ordinal) {
  const std::string name = "cuda:" + std::to_string(ordinal);
  const std::string asked = "device \"" + options.device + "\" requested but ";
  int count = 0;
  const cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess) {
    cudaGetLastError();
    return FailedPreconditionError(asked + "no CUDA GPU is usable on this machine (" +
                                   cudaGetErrorName(e) + ": " + cudaGetErrorString(e) +
                                   "); use --device cpu");
  }
  if (count == 0) {
    return FailedPreconditionError(asked + "this machine has no CUDA GPU; use --device cpu");
  }
  if (ordinal >= count) {
    return FailedPreconditionError(asked + "this machine has " + std::to_string(count) +
                                   " CUDA GPU(s) (cuda:0 .. cuda:" + std::to_string(count - 1) +
                                   ")");
  }
  if (compute_type == ComputeType::kInt8) {
    return UnimplementedError("dtype int8 is not implemented on " + name +
                              " (float16, bfloat16, float32)");
  }
  FLOE_CUDA_RETURN_IF_ERROR(cudaSetDevice(ordinal), name + ": cudaSetDevice");
  size_t free_bytes = 0, total_bytes = 0;
  FLOE_CUDA_RETURN_IF_ERROR(cudaMemGetInfo(&free_bytes, &total_bytes), name + ": cudaMemGetInfo");
  size_t budget = 0;
  if (options.gpu_memory_fraction > 0.0) {
    budget = static_cast<size_t>(options.gpu_memory_fraction * static_cast<double>(total_bytes));
  }
  cudaStream_t stream = nullptr;
  FLOE_CUDA_RETURN_IF_ERROR(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking),
                            name + ": cudaStreamCreate");
  cublasLtHandle_t lt = nullptr;
  const cublasStatus_t ls = cublasLtCreate(&lt);
  if (ls != CUBLAS_STATUS_SUCCESS) {
    cudaStreamDestroy(stream);
    return cuda::CublasStatus(ls, name + ": cublasLtCreate");
  }
  cuda::CudaSwitches sw;
  sw.flash_attention = cuda::EnvFlag("FLOE_CUDA_FLASH_ATTENTION", true);
  sw.fused_residual_ln = cuda::EnvFlag("FLOE_CUDA_FUSED_RESIDUAL_LN", true);
  sw.tf32 = cuda::EnvFlag("FLOE_CUDA_TF32", false);
  sw.warp_layernorm = cuda::EnvFlag("FLOE_CUDA_WARP_LAYERNORM", true);
  sw.graphs = cuda::EnvFlag("FLOE_CUDA_GRAPHS", true);
  sw.fused_bias_gelu = cuda::EnvFlag("FLOE_CUDA_FUSED_BIAS_GELU", true);
  const char* qkv = std::getenv("FLOE_CUDA_QKV");
  const cuda::host::QkvSwitch qs = cuda::host::ParseQkvPrecision(qkv);
  if (!qs.known) {
    LogOnce(LogLevel::kWarn, "cuda-qkv-switch",
            std::string("FLOE_CUDA_QKV=") + qkv +
                " is none of f32, tf32, compute: the default of the compute type");
  }
  sw.qkv = cuda::host::QkvPrecisionFor(qs, compute_type == ComputeType::kFloat16);
  if (const char* v = std::getenv("FLOE_CUDA_GRAPHS_MAX"); v != nullptr && std::atoi(v) > 0) {
    sw.max_graphs = static_cast<size_t>(std::atoi(v));
  }
  auto backend = std::make_unique<cuda::CudaBackend>(options, ordinal, compute_type, sw, stream,
                                                     lt, budget);
  FLOE_RETURN_IF_ERROR(backend->Init());
  FLOE_LOG(kInfo) << name << ": " << ComputeTypeName(compute_type) << ", "
                  << free_bytes / (1 << 20) << " MiB free of " << total_bytes / (1 << 20)
                  << " MiB"
                  << (budget > 0 ? ", budget " + std::to_string(budget >> 20) + " MiB" : "");
  return std::unique_ptr<Backend>(std::move(backend));
}

}  // namespace floe
