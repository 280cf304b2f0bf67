// The CUDA backend's attention ops: Backend::Attention (BERT's: every token
// of a sequence attends every other) and Backend::Attend (backend/ops.h's
// AttentionSpec: causal and sliding-window masks, grouped KV heads, Q/K
// RMSNorm, rotary). Both check every input first, then describe the launch
// as kernels.h's AttentionArgs; ChooseAttentionKernel picks the kernel
// (tensor cores unless FLOE_CUDA_ATTENTION=simple, see cuda_backend.h).
//
// After a kHigh product whose float32 Q/K/V are fresh (host/wide_qkv.h),
// both run on those instead (LaunchWideAttention): the CUDA-core kernels in
// float32, the output rounded once to the compute type.
//
// Shape legend: T tokens, B sequences, N query heads, Nkv key/value heads,
// H head size; qkv: [T, (N + 2 Nkv) H] = Q | K | V, out: [T, N H].
#include <cmath>
#include <cstdlib>
#include <string>

#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/cuda_backend_impl.h"
#include "backend/cuda/cuda_status.h"
#include "backend/cuda/modern_ops.h"
#include "core/log.h"

namespace floe {
namespace cuda {

bool TensorCoreAttentionFromEnv() {
  const char* v = std::getenv("FLOE_CUDA_ATTENTION");
  if (v == nullptr) return true;
  const std::string s(v);
  if (s == "simple") return false;
  if (!s.empty() && s != "tensor") {
    LogOnce(LogLevel::kWarn, "cuda-attention-switch",
            "FLOE_CUDA_ATTENTION=" + s +
                " is neither \"simple\" nor \"tensor\": tensor cores where they apply");
  }
  return true;
}

Status CudaBackend::LaunchChosenAttention(const AttentionArgs& a, const std::string& op) {
  int sm_major = 0;
  if (cudaDeviceGetAttribute(&sm_major, cudaDevAttrComputeCapabilityMajor, ordinal_) !=
      cudaSuccess) {
    cudaGetLastError();  // unknown: the CUDA-core kernels
    sm_major = 0;
  }
  const AttentionKernel kernel =
      ChooseAttentionKernel(a, sw_.tensor_core_attention, sw_.flash_attention, sm_major);
  return CudaStatus(LaunchAttention(a, kernel, stream_),
                    op + " (" + AttentionKernelName(kernel) + " kernel)");
}

Status CudaBackend::Attention(const TensorView& qkv_view, const PackedBatch& batch,
                              int64_t num_heads, int64_t head_size, float scale,
                              const TensorView& out_view) {
  const std::string op = "Attention";
  FLOE_RETURN_IF_ERROR(Enter(op));
  FLOE_RETURN_IF_ERROR(Flush());
  FLOE_RETURN_IF_ERROR(CheckBatch(batch, op));
  if (num_heads < 1 || num_heads > 65535 || head_size < 1 || head_size > kMaxHeadSize) {
    return InvalidArgumentError(op + ": " + std::to_string(num_heads) + " heads of size " +
                                std::to_string(head_size) + " (at most 65535 heads of " +
                                std::to_string(kMaxHeadSize) + ")");
  }
  FLOE_RETURN_IF_ERROR(CheckAttention(*this, qkv_view, batch, num_heads, head_size, out_view));
  FLOE_RETURN_IF_ERROR(CheckMemory(qkv_view.data, qkv_view.bytes(), op, "qkv"));
  FLOE_RETURN_IF_ERROR(CheckMemory(out_view.data, out_view.bytes(), op, "out"));
  const auto qa = allocs_->Find(qkv_view.data, 0), oa = allocs_->Find(out_view.data, 0);
  if (qa->base == oa->base) return InvalidArgumentError(op + ": qkv and out share a buffer");
  const int64_t D = num_heads * head_size;
  const size_t es = DTypeSize(dt_);
  const char* qkv = static_cast<const char*>(qkv_view.data);
  AttentionArgs a;
  a.dt = dt_;
  a.q = qkv;
  a.k = qkv + D * es;
  a.v = qkv + 2 * D * es;
  a.ldq = a.ldk = a.ldv = 3 * D;
  a.out = out_view.data;
  a.ldo = D;
  a.cu_seqlens = batch.cu_seqlens_device;
  a.num_seqs = batch.num_seqs;
  a.tokens = batch.total_tokens;
  a.max_seqlen = batch.max_seqlen;
  a.num_heads = a.num_kv_heads = num_heads;
  a.head_size = head_size;
  a.scale = scale;
  if (const float* wide = FreshWide(host::WideSlot::kQkv, qkv, batch.total_tokens, 3 * D)) {
    return LaunchWideAttention(a, qkv, wide, op);
  }
  return LaunchChosenAttention(a, op);
}

Status CudaBackend::LaunchWideAttention(AttentionArgs a, const void* qkv, const float* wide,
                                        const std::string& op) {
  const size_t es = DTypeSize(dt_);
  const auto at = [&](const void* p) {
    return wide + (static_cast<const char*>(p) - static_cast<const char*>(qkv)) / es;
  };
  void* out = a.out;
  const int64_t count = a.tokens * a.ldo;  // out: [T, ldo], contiguous
  FLOE_ASSIGN_OR_RETURN(float* out32, WideBuffer(host::WideSlot::kInput, count));
  wide_.Forget(host::WideSlot::kInput);
  a.dt = DType::kF32;
  a.q = at(a.q);
  a.k = at(a.k);
  a.v = at(a.v);
  a.out = out32;
  FLOE_RETURN_IF_ERROR(LaunchChosenAttention(a, op + " on float32 Q/K/V"));
  return CudaStatus(LaunchFromFloat(dt_, out32, count, out, stream_),
                    op + ": float32 output to " + std::string(DTypeLongName(dt_)));
}

Status CudaBackend::Attend(const TensorView& qkv_view, const PackedBatch& batch,
                           const AttentionSpec& spec, const TensorView& out_view) {
  const std::string op = "attention";  // as CheckAttend names it
  FLOE_RETURN_IF_ERROR(Enter(op));
  FLOE_RETURN_IF_ERROR(Flush());
  FLOE_RETURN_IF_ERROR(CheckAttend(*this, qkv_view, batch, spec, out_view));
  FLOE_RETURN_IF_ERROR(CheckBatch(batch, op));
  const int64_t N = spec.num_heads, Nkv = KvHeads(spec), H = spec.head_size;
  if (N > 65535 || H > kMaxHeadSize) {
    return InvalidArgumentError(op + ": " + std::to_string(N) + " heads of size " +
                                std::to_string(H) + " (at most 65535 heads of " +
                                std::to_string(kMaxHeadSize) + ")");
  }
  FLOE_RETURN_IF_ERROR(CheckMemory(qkv_view.data, qkv_view.bytes(), op, "qkv"));
  FLOE_RETURN_IF_ERROR(CheckMemory(out_view.data, out_view.bytes(), op, "out"));
  if (spec.q_norm != nullptr) {
    FLOE_RETURN_IF_ERROR(CheckMemory(spec.q_norm, H * sizeof(float), op, "q_norm"));
  }
  if (spec.k_norm != nullptr) {
    FLOE_RETURN_IF_ERROR(CheckMemory(spec.k_norm, H * sizeof(float), op, "k_norm"));
  }
  const int64_t T = batch.total_tokens, ld = (N + 2 * Nkv) * H;
  const size_t es = DTypeSize(dt_);
  const char* qkv = static_cast<const char*>(qkv_view.data);
  AttentionArgs a;
  a.dt = dt_;
  a.q = qkv;
  a.k = qkv + N * H * es;
  a.v = qkv + (N + Nkv) * H * es;
  a.ldq = a.ldk = a.ldv = ld;
  a.out = out_view.data;
  a.ldo = N * H;
  a.cu_seqlens = batch.cu_seqlens_device;
  a.num_seqs = batch.num_seqs;
  a.tokens = T;
  a.max_seqlen = batch.max_seqlen;
  a.num_heads = N;
  a.num_kv_heads = Nkv;
  a.head_size = H;
  a.scale = spec.scale > 0.f ? spec.scale : 1.f / std::sqrt(static_cast<float>(H));
  a.window_left = spec.window_left;
  a.window_right = spec.causal ? 0 : spec.window_right;

  const bool plain = spec.q_norm == nullptr && spec.k_norm == nullptr && spec.rotary == nullptr;
  if (const float* wide = plain ? FreshWide(host::WideSlot::kQkv, qkv, T, ld) : nullptr) {
    return LaunchWideAttention(a, qkv, wide, op);
  }
  if (!plain) {
    // Q' | K' ([T, (N + Nkv) H]) in the scratch: normalised, then rotated
    // (Qwen3's order); V is read where it is.
    const int64_t ld_qk = (N + Nkv) * H;
    const size_t bytes = static_cast<size_t>(T * ld_qk) * es;
    if (!attend_scratch_ || attend_scratch_->size() < bytes) {
      attend_scratch_.reset();
      FLOE_ASSIGN_OR_RETURN(attend_scratch_, AllocateInternal(bytes, "attention scratch"));
    }
    char* qk = static_cast<char*>(attend_scratch_->data());
    FLOE_CUDA_RETURN_IF_ERROR(
        LaunchCopyHeads(dt_, a.q, ld, T, N, H, spec.q_norm, spec.qk_norm_eps, qk, ld_qk, stream_),
        op + ": Q heads");
    FLOE_CUDA_RETURN_IF_ERROR(LaunchCopyHeads(dt_, a.k, ld, T, Nkv, H, spec.k_norm,
                                              spec.qk_norm_eps, qk + N * H * es, ld_qk, stream_),
                              op + ": K heads");
    if (spec.rotary != nullptr) {
      const RotarySpec& r = *spec.rotary;
      // Q' and K' heads are adjacent: one rotation of N + Nkv heads per row.
      FLOE_CUDA_RETURN_IF_ERROR(
          LaunchRotary(dt_, qk, ld_qk, batch.cu_seqlens_device, batch.num_seqs, T, N + Nkv, H,
                       RotaryDims(r, H), r.base, r.layout == RotaryLayout::kInterleaved,
                       r.position_offset, r.position_scale, stream_),
          op + ": rotary");
    }
    a.q = qk;
    a.k = qk + N * H * es;
    a.ldq = a.ldk = ld_qk;
  }
  return LaunchChosenAttention(a, op);
}

}  // namespace cuda
}  // namespace floe
