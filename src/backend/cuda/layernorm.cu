// Row kernels: embeddings + LayerNorm, and (bias + residual +) LayerNorm.
// One block per row; the row's float32 values sit in shared memory, mean and
// variance are two passes over them (no E[x^2] - E[x]^2 cancellation).
// (bias + residual +) LayerNorm of rows of at most kWarpRowHidden values, a
// multiple of 16 bytes, runs one warp per row instead: 16-byte loads and
// stores, the row in registers, the same two passes with warp shuffles.
// Each kernel optionally writes a float32 copy of its output as well (the
// values before their rounding to T): the input of a kHigh product
// (host/wide_qkv.h).
//
// Shape legend: T tokens, B sequences, D hidden (<= kMaxRowHidden).
#include "backend/cuda/device_utils.cuh"

namespace floe::cuda {
namespace {

// Normalises the row in `v` (D floats, shared) and writes it to out as T
// (and to copy as float32 when not null).
template <typename T>
__device__ void NormalizeRow(const float* v, int hidden, const float* gamma, const float* beta,
                             float eps, float* scratch, T* out, float* copy) {
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
    const float y = (v[i] - mean) * inv * gamma[i] + beta[i];
    out[i] = FromFloat<T>(y);
    if (copy != nullptr) copy[i] = y;
  }
}

template <typename T>
__global__ void EmbedLayerNormKernel(const int32_t* ids, const int32_t* cu, int num_seqs,
                                     const float* word, const float* position,
                                     const float* token_type, const int32_t* type1_from,
                                     int position_offset, const float* gamma, const float* beta,
                                     int hidden, float eps, T* out, float* copy) {
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
  const int64_t off = static_cast<int64_t>(t) * hidden;
  NormalizeRow(row, hidden, gamma, beta, eps, scratch, out + off,
               copy != nullptr ? copy + off : nullptr);
}

template <typename T>
__global__ void LayerNormKernel(T* x, const T* residual, const float* bias, int hidden,
                                const float* gamma, const float* beta, float eps, float* copy) {
  extern __shared__ float row[];
  __shared__ float scratch[32];
  const int64_t off = static_cast<int64_t>(blockIdx.x) * hidden;
  for (int i = threadIdx.x; i < hidden; i += blockDim.x) {
    float v = ToFloat(x[off + i]);
    if (residual != nullptr) v += ToFloat(residual[off + i]);
    if (bias != nullptr) v += bias[i];
    row[i] = v;
  }
  NormalizeRow(row, hidden, gamma, beta, eps, scratch, x + off,
               copy != nullptr ? copy + off : nullptr);
}

// 16 bytes of T.
template <typename T>
struct alignas(16) Pack {
  T v[16 / sizeof(T)];
};

constexpr int kWarpRowHidden = 1024;
constexpr int kWarpRowsPerBlock = 4;

// One warp per row; lane l holds vectors l, l + 32, ... (kVecs of them at
// most) of V = 16 / sizeof(T) values.
template <typename T, int kVecs>
__global__ void WarpLayerNormKernel(T* x, const T* residual, const float* bias, int rows,
                                    int hidden, const float* gamma, const float* beta,
                                    float eps, float* copy) {
  constexpr int V = 16 / sizeof(T);
  const int row = blockIdx.x * kWarpRowsPerBlock + (threadIdx.x >> 5);
  const int lane = threadIdx.x & 31;
  if (row >= rows) return;  // the whole warp: rows are per warp
  const int64_t off = static_cast<int64_t>(row) * hidden;
  const int nvec = hidden / V;
  float v[kVecs][V];
  float s = 0.f;
#pragma unroll
  for (int j = 0; j < kVecs; ++j) {
    const int c = j * 32 + lane;
    if (c < nvec) {
      const Pack<T> a = *reinterpret_cast<const Pack<T>*>(x + off + c * V);
      Pack<T> r{};
      if (residual != nullptr) r = *reinterpret_cast<const Pack<T>*>(residual + off + c * V);
#pragma unroll
      for (int e = 0; e < V; ++e) {
        float f = ToFloat(a.v[e]);
        if (residual != nullptr) f += ToFloat(r.v[e]);
        if (bias != nullptr) f += bias[c * V + e];
        v[j][e] = f;
        s += f;
      }
    }
  }
  const float mean = WarpSum(s) / hidden;
  float q = 0.f;
#pragma unroll
  for (int j = 0; j < kVecs; ++j) {
    if (j * 32 + lane < nvec) {
#pragma unroll
      for (int e = 0; e < V; ++e) {
        const float d = v[j][e] - mean;
        q += d * d;
      }
    }
  }
  const float inv = rsqrtf(WarpSum(q) / hidden + eps);
#pragma unroll
  for (int j = 0; j < kVecs; ++j) {
    const int c = j * 32 + lane;
    if (c < nvec) {
      Pack<T> o;
      float y[V];
#pragma unroll
      for (int e = 0; e < V; ++e) {
        const int i = c * V + e;
        y[e] = (v[j][e] - mean) * inv * gamma[i] + beta[i];
        o.v[e] = FromFloat<T>(y[e]);
      }
      *reinterpret_cast<Pack<T>*>(x + off + c * V) = o;
      if (copy != nullptr) {
        // V is 4 or 8: one or two 16-byte stores of float32.
        float4* dst = reinterpret_cast<float4*>(copy + off + c * V);
#pragma unroll
        for (int e = 0; e < V; e += 4) dst[e / 4] = make_float4(y[e], y[e + 1], y[e + 2], y[e + 3]);
      }
    }
  }
}

template <typename T, int kVecs>
cudaError_t LaunchWarpLayerNorm(T* x, const T* residual, const float* bias, int64_t rows,
                                int64_t hidden, const float* gamma, const float* beta, float eps,
                                float* copy, cudaStream_t stream) {
  const unsigned blocks =
      static_cast<unsigned>((rows + kWarpRowsPerBlock - 1) / kWarpRowsPerBlock);
  WarpLayerNormKernel<T, kVecs><<<blocks, 32 * kWarpRowsPerBlock, 0, stream>>>(
      x, residual, bias, static_cast<int>(rows), static_cast<int>(hidden), gamma, beta, eps, copy);
  return cudaGetLastError();
}

bool Aligned16(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }

bool RowShapeOk(int64_t rows, int64_t hidden) {
  return rows >= 1 && rows <= 0x7fffffffLL && hidden >= 1 && hidden <= kMaxRowHidden;
}

}  // namespace

cudaError_t LaunchEmbedLayerNorm(DType dt, const int32_t* ids, const int32_t* cu_seqlens,
                                 int64_t num_seqs, int64_t tokens, const float* word,
                                 const float* position, const float* token_type,
                                 const int32_t* type1_from, int64_t position_offset,
                                 const float* gamma, const float* beta, int64_t hidden, float eps,
                                 void* out, float* copy, cudaStream_t stream) {
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
        static_cast<T*>(out), copy);
    return cudaGetLastError();
  });
}

cudaError_t LaunchLayerNorm(DType dt, void* x, const void* residual, const float* bias,
                            int64_t rows, int64_t hidden, const float* gamma, const float* beta,
                            float eps, bool allow_warp, float* copy, cudaStream_t stream) {
  if (!RowShapeOk(rows, hidden)) return cudaErrorInvalidValue;
  const int64_t vec = 16 / static_cast<int64_t>(DTypeSize(dt));
  if (allow_warp && hidden <= kWarpRowHidden && hidden % vec == 0 && Aligned16(x) &&
      (residual == nullptr || Aligned16(residual)) && (copy == nullptr || Aligned16(copy))) {
    const int64_t per_lane = (hidden / vec + 31) / 32;  // vectors per lane
    return DispatchDType(dt, [&](auto tag) {
      using T = decltype(tag);
      T* xt = static_cast<T*>(x);
      const T* rt = static_cast<const T*>(residual);
      if (per_lane <= 1) return LaunchWarpLayerNorm<T, 1>(xt, rt, bias, rows, hidden, gamma, beta, eps, copy, stream);
      if (per_lane <= 2) return LaunchWarpLayerNorm<T, 2>(xt, rt, bias, rows, hidden, gamma, beta, eps, copy, stream);
      if (per_lane <= 4) return LaunchWarpLayerNorm<T, 4>(xt, rt, bias, rows, hidden, gamma, beta, eps, copy, stream);
      return LaunchWarpLayerNorm<T, 8>(xt, rt, bias, rows, hidden, gamma, beta, eps, copy, stream);
    });
  }
  const int threads = RowThreads(hidden);
  const size_t smem = static_cast<size_t>(hidden) * sizeof(float);
  return DispatchDType(dt, [&](auto tag) {
    using T = decltype(tag);
    LayerNormKernel<T><<<static_cast<unsigned>(rows), threads, smem, stream>>>(
        static_cast<T*>(x), static_cast<const T*>(residual), bias, static_cast<int>(hidden),
        gamma, beta, eps, copy);
    return cudaGetLastError();
  });
}

}  // namespace floe::cuda
