// Pooling of packed sequences into float32 rows: one thread per (sequence,
// column), columns adjacent across a warp so the row reads coalesce.
//
// Shape legend: T tokens, B sequences, D hidden.
#include "backend/cuda/device_utils.cuh"

namespace floe::cuda {
namespace {

constexpr int kThreads = 128;

template <typename T>
__global__ void PoolKernel(const T* hidden, const int32_t* cu, const int32_t* skip, int num_seqs,
                           int dim, int kind, float* out) {
  const int d = blockIdx.x * blockDim.x + threadIdx.x;
  if (d >= dim) return;
  for (int b = blockIdx.y; b < num_seqs; b += gridDim.y) {
  const int end = cu[b + 1];
  int start = cu[b];
  if (skip != nullptr && skip[b] > 0 && skip[b] < end - start) start += skip[b];
  float r = 0.f;
  switch (kind) {
    case 0: r = ToFloat(hidden[static_cast<int64_t>(start) * dim + d]); break;
    case 3: r = ToFloat(hidden[static_cast<int64_t>(end - 1) * dim + d]); break;
    case 1: {
      for (int t = start; t < end; ++t) r += ToFloat(hidden[static_cast<int64_t>(t) * dim + d]);
      r /= static_cast<float>(end - start);
      break;
    }
    case 2: {
      r = ToFloat(hidden[static_cast<int64_t>(start) * dim + d]);
      for (int t = start + 1; t < end; ++t) {
        r = fmaxf(r, ToFloat(hidden[static_cast<int64_t>(t) * dim + d]));
      }
      break;
    }
  }
  out[static_cast<int64_t>(b) * dim + d] = r;
  }
}

}  // namespace

cudaError_t LaunchPool(DType dt, const void* hidden, const int32_t* cu_seqlens,
                       const int32_t* pool_skip, int64_t num_seqs, int64_t dim, int kind,
                       float* out, cudaStream_t stream) {
  if (num_seqs < 1 || num_seqs > 0x7fffffffLL || dim < 1 || dim > 0x7fffffffLL || kind < 0 ||
      kind > 3) {
    return cudaErrorInvalidValue;
  }
  const dim3 grid(static_cast<unsigned>((dim + kThreads - 1) / kThreads),
                  static_cast<unsigned>(num_seqs < 65535 ? num_seqs : 65535));
  return DispatchDType(dt, [&](auto tag) {
    using T = decltype(tag);
    PoolKernel<T><<<grid, kThreads, 0, stream>>>(static_cast<const T*>(hidden), cu_seqlens,
                                                 pool_skip, static_cast<int>(num_seqs),
                                                 static_cast<int>(dim), kind, out);
    return cudaGetLastError();
  });
}

}  // namespace floe::cuda
