// Launcher of the tensor-core attention kernel (flash_attention_kernel.cuh,
// which explains it): the shapes it takes and the grid.
#include "backend/cuda/device_utils.cuh"
#include "backend/cuda/flash_attention_kernel.cuh"

namespace floe::cuda {
namespace {

using flash::kRows;
using flash::kThreads;
using flash::Params;

template <typename T, int H>
cudaError_t Launch(const dim3& grid, const Params& p, cudaStream_t stream) {
  flash::TensorCoreAttentionKernel<T, H><<<grid, kThreads, 0, stream>>>(p);
  return cudaGetLastError();
}

bool Aligned16(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }

}  // namespace

bool TensorCoreAttentionSupports(const AttentionArgs& a, int sm_major) {
  const int64_t H = a.head_size;
  return sm_major >= 8 && (a.dt == DType::kF16 || a.dt == DType::kBF16) &&
         (H == 32 || H == 64 || H == 128) && Aligned16(a.q) && Aligned16(a.k) && Aligned16(a.v) &&
         Aligned16(a.out) && a.ldq % 8 == 0 && a.ldk % 8 == 0 && a.ldv % 8 == 0 && a.ldo % 8 == 0 &&
         a.num_heads <= 65535 && (a.max_seqlen + kRows - 1) / kRows <= 65535 &&
         a.num_seqs <= 0x7fffffffLL;
}

cudaError_t LaunchTensorCoreAttention(const AttentionArgs& a, cudaStream_t stream) {
  int device = 0, major = 0;
  if (cudaGetDevice(&device) != cudaSuccess ||
      cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device) != cudaSuccess) {
    return cudaGetLastError();
  }
  if (!TensorCoreAttentionSupports(a, major) || a.num_seqs < 1 || a.max_seqlen < 1 ||
      a.num_kv_heads < 1 || a.num_heads % a.num_kv_heads != 0) {
    return cudaErrorInvalidValue;
  }
  Params p;
  p.q = static_cast<const uint16_t*>(a.q);
  p.k = static_cast<const uint16_t*>(a.k);
  p.v = static_cast<const uint16_t*>(a.v);
  p.out = static_cast<uint16_t*>(a.out);
  p.ldq = a.ldq;
  p.ldk = a.ldk;
  p.ldv = a.ldv;
  p.ldo = a.ldo;
  p.cu = a.cu_seqlens;
  p.group = static_cast<int>(a.num_heads / a.num_kv_heads);
  p.scale_log2 = a.scale * 1.4426950408889634f;
  p.left = WindowBound(a.window_left, a.max_seqlen);
  p.right = WindowBound(a.window_right, a.max_seqlen);
  const dim3 grid(static_cast<unsigned>(a.num_seqs),
                  static_cast<unsigned>((a.max_seqlen + kRows - 1) / kRows),
                  static_cast<unsigned>(a.num_heads));
  const bool f16 = a.dt == DType::kF16;
  switch (a.head_size) {
    case 32:
      return f16 ? Launch<__half, 32>(grid, p, stream) : Launch<__nv_bfloat16, 32>(grid, p, stream);
    case 64:
      return f16 ? Launch<__half, 64>(grid, p, stream) : Launch<__nv_bfloat16, 64>(grid, p, stream);
    case 128:
      return f16 ? Launch<__half, 128>(grid, p, stream)
                 : Launch<__nv_bfloat16, 128>(grid, p, stream);
    default:
      break;
  }
  return cudaErrorInvalidValue;
}

}  // namespace floe::cuda
