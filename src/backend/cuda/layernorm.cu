// Row kernels: embeddings + LayerNorm, and (bias + residual +) LayerNorm.
// One block per row; the row's float32 values sit in shared memory, mean and
// variance are two passes over them (no E[x^2] - E[x]^2 cancellation).
//
// Shape legend: T tokens, B sequences, D hidden (<= kMaxRowHidden).
#include "backend/cuda/device_utils.cuh"

namespace floe::cuda {
namespace {

// Normalises the row in `v` (D floats, shared) and writes it to out as T.
template <typename T>
__device__ void NormalizeRow(const float* v, int hidden, const float* gamma, const float* beta,
                             float eps, float* scratch, T* out) {
  float s = 0.f;
  for (int i = threadIdx.x; i < hidden; i += blockDim.x) s += v[i];
  const float mean = BlockSum(s, scratch) / hidden;
  float q = 0.f;
  for (int i = threadIdx.x; i < hidden; i += blockDim.x) {
    const float d = v[i] - mean;
    q += d * d;
  }
  const float var = BlockSum(q, scratch) / hidden;
  const float inv = rsqrtf(var + eps);
  for (int i = threadIdx.x; i < hidden; i += blockDim.x) {
    out[i] = FromFloat<T>((v[i] - mean) * inv * gamma[i] + beta[i]);
  }
}

template <typename T>
__global__ void EmbedLayerNormKernel(const int32_t* ids, const int32_t* cu, int num_seqs,
                                     const float* word, const float* position,
                                     const float* token_type, const int32_t* type1_from,
                                     int position_offset, const float* gamma, const float* beta,
                                     int hidden, float eps, T* out) {
  extern __shared__ float row[];  // [hidden]
  __shared__ float scratch[32];
  const int t = blockIdx.x;
  const int seq = SeqOfRow(cu, num_seqs, t);
  const int index = t - cu[seq];
  const int type = type1_from != nullptr && index >= type1_from[seq] ? 1 : 0;
  const float* w = word + static_cast<int64_t>(ids[t]) * hidden;
  const float* p = position + static_cast<int64_t>(index + position_offset) * hidden;
  const float* tt = token_type + static_cast<int64_t>(type) * hidden;
  for (int i = threadIdx.x; i < hidden; i += blockDim.x) row[i] = w[i] + p[i] + tt[i];
  // NormalizeRow's first BlockSum synchronises before anyone reads row[].
  NormalizeRow(row, hidden, gamma, beta, eps, scratch, out + static_cast<int64_t>(t) * hidden);
}

template <typename T>
__global__ void LayerNormKernel(T* x, const T* residual, const float* bias, int hidden,
                                const float* gamma, const float* beta, float eps) {
  extern __shared__ float row[];
  __shared__ float scratch[32];
  const int64_t off = static_cast<int64_t>(blockIdx.x) * hidden;
  for (int i = threadIdx.x; i < hidden; i += blockDim.x) {
    float v = ToFloat(x[off + i]);
    if (residual != nullptr) v += ToFloat(residual[off + i]);
    if (bias != nullptr) v += bias[i];
    row[i] = v;
  }
  NormalizeRow(row, hidden, gamma, beta, eps, scratch, x + off);
}

bool RowShapeOk(int64_t rows, int64_t hidden) {
  return rows >= 1 && rows <= 0x7fffffffLL && hidden >= 1 && hidden <= kMaxRowHidden;
}

}  // namespace

cudaError_t LaunchEmbedLayerNorm(DType dt, const int32_t* ids, const int32_t* cu_seqlens,
                                 int64_t num_seqs, int64_t tokens, const float* word,
                                 const float* position, const float* token_type,
                                 const int32_t* type1_from, int64_t position_offset,
                                 const float* gamma, const float* beta, int64_t hidden, float eps,
                                 void* out, cudaStream_t stream) {
  if (!RowShapeOk(tokens, hidden) || num_seqs < 1 || num_seqs > 0x7fffffffLL ||
      position_offset < 0 || position_offset > 0x7fffffffLL) {
    return cudaErrorInvalidValue;
  }
  const int threads = RowThreads(hidden);
  const size_t smem = static_cast<size_t>(hidden) * sizeof(float);
  return DispatchDType(dt, [&](auto tag) {
    using T = decltype(tag);
    EmbedLayerNormKernel<T><<<static_cast<unsigned>(tokens), threads, smem, stream>>>(
        ids, cu_seqlens, static_cast<int>(num_seqs), word, position, token_type, type1_from,
        static_cast<int>(position_offset), gamma, beta, static_cast<int>(hidden), eps,
        static_cast<T*>(out));
    return cudaGetLastError();
  });
}

cudaError_t LaunchLayerNorm(DType dt, void* x, const void* residual, const float* bias,
                            int64_t rows, int64_t hidden, const float* gamma, const float* beta,
                            float eps, cudaStream_t stream) {
  if (!RowShapeOk(rows, hidden)) return cudaErrorInvalidValue;
  const int threads = RowThreads(hidden);
  const size_t smem = static_cast<size_t>(hidden) * sizeof(float);
  return DispatchDType(dt, [&](auto tag) {
    using T = decltype(tag);
    LayerNormKernel<T><<<static_cast<unsigned>(rows), threads, smem, stream>>>(
        static_cast<T*>(x), static_cast<const T*>(residual), bias, static_cast<int>(hidden),
        gamma, beta, eps);
    return cudaGetLastError();
  });
}

}  // namespace floe::cuda
