// Kernels of the newer encoders' ops (modern_ops.h): RMSNorm (one block per
// row, float32 statistics), element-wise and gated activations (grid-stride),
// rotary positions (one thread per rotated pair).
#include <cmath>

#include "backend/cuda/device_utils.cuh"
#include "backend/cuda/modern_ops.h"

namespace floe::cuda {
namespace {

constexpr int kThreads = 256;

template <ActCode A>
struct ActTag {
  static constexpr ActCode kValue = A;
};

template <ActCode A>
__device__ __forceinline__ float Act(float x) {
  if constexpr (A == ActCode::kSilu) {
    return x / (1.f + expf(-x));
  } else if constexpr (A == ActCode::kGeluErf) {
    return 0.5f * x * (1.f + erff(x * 0.70710678118654752f));
  } else if constexpr (A == ActCode::kGeluTanh) {
    return 0.5f * x * (1.f + tanhf(0.79788456080286536f * (x + 0.044715f * x * x * x)));
  } else {
    return x > 0.f ? x : 0.f;
  }
}

template <typename T>
__global__ void RmsNormKernel(T* x, int64_t hidden, const float* w, const float* b,
                              float w_offset, float eps) {
  __shared__ float scratch[32];
  T* row = x + blockIdx.x * hidden;
  float ss = 0.f;
  for (int64_t i = threadIdx.x; i < hidden; i += blockDim.x) {
    const float v = ToFloat(row[i]);
    ss += v * v;
  }
  const float r = rsqrtf(BlockSum(ss, scratch) / static_cast<float>(hidden) + eps);
  for (int64_t i = threadIdx.x; i < hidden; i += blockDim.x) {
    float v = ToFloat(row[i]) * r;
    if (w != nullptr) v *= w[i] + w_offset;
    if (b != nullptr) v += b[i];
    row[i] = FromFloat<T>(v);
  }
}

template <typename T, ActCode A>
__global__ void ActivateKernel(T* x, int64_t n) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    x[i] = FromFloat<T>(Act<A>(ToFloat(x[i])));
  }
}

template <typename T, ActCode A>
__global__ void GatedKernel(const T* x, int64_t rows, int64_t inner, T* out) {
  const int64_t n = rows * inner;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t r = i / inner, c = i % inner;
    const T* row = x + r * 2 * inner;
    out[i] = FromFloat<T>(Act<A>(ToFloat(row[c])) * ToFloat(row[inner + c]));
  }
}

template <typename T>
__global__ void RotaryKernel(T* x, int64_t ld, const int32_t* cu, int num_seqs,
                             int64_t tokens, int64_t num_heads, int64_t head_size,
                             int64_t dims, double base, bool interleaved, int64_t offset,
                             double scale) {
  const int64_t half = dims / 2;
  const int64_t n = tokens * num_heads * half;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t t = i / (num_heads * half);
    const int64_t h = (i / half) % num_heads;
    const int64_t p = i % half;
    const int seq = SeqOfRow(cu, num_seqs, static_cast<int>(t));
    const double pos = static_cast<double>(t - cu[seq] + offset) * scale;
    const double angle = pos * pow(base, -2.0 * static_cast<double>(p) / dims);
    double s, c;
    sincos(angle, &s, &c);
    T* head = x + t * ld + h * head_size;
    const int64_t a = interleaved ? 2 * p : p;
    const int64_t b = interleaved ? 2 * p + 1 : p + half;
    const float xa = ToFloat(head[a]), xb = ToFloat(head[b]);
    const float cf = static_cast<float>(c), sf = static_cast<float>(s);
    head[a] = FromFloat<T>(xa * cf - xb * sf);
    head[b] = FromFloat<T>(xb * cf + xa * sf);
  }
}

// Calls f(ActTag<code>{}) for the activation code.
template <typename F>
cudaError_t DispatchAct(ActCode act, F&& f) {
  switch (act) {
    case ActCode::kSilu:
      return f(ActTag<ActCode::kSilu>{});
    case ActCode::kGeluErf:
      return f(ActTag<ActCode::kGeluErf>{});
    case ActCode::kGeluTanh:
      return f(ActTag<ActCode::kGeluTanh>{});
    case ActCode::kRelu:
      return f(ActTag<ActCode::kRelu>{});
  }
  return cudaErrorInvalidValue;
}

}  // namespace

cudaError_t LaunchRmsNorm(DType dt, void* x, int64_t rows, int64_t hidden,
                          const float* weight, const float* bias, float weight_offset,
                          float eps, cudaStream_t stream) {
  if (rows < 0 || hidden < 1) return cudaErrorInvalidValue;
  if (rows == 0) return cudaSuccess;
  return DispatchDType(dt, [&](auto tag) {
    using T = decltype(tag);
    RmsNormKernel<T><<<static_cast<unsigned>(rows), RowThreads(hidden), 0, stream>>>(
        static_cast<T*>(x), hidden, weight, bias, weight_offset, eps);
    return cudaGetLastError();
  });
}

cudaError_t LaunchActivate(DType dt, void* x, int64_t n, ActCode act,
                           cudaStream_t stream) {
  if (n < 0) return cudaErrorInvalidValue;
  if (n == 0) return cudaSuccess;
  return DispatchDType(dt, [&](auto tag) {
    using T = decltype(tag);
    return DispatchAct(act, [&](auto a) {
      ActivateKernel<T, decltype(a)::kValue>
          <<<GridFor(n, kThreads), kThreads, 0, stream>>>(static_cast<T*>(x), n);
      return cudaGetLastError();
    });
  });
}

cudaError_t LaunchGatedActivation(DType dt, const void* x, int64_t rows, int64_t inner,
                                  ActCode act, void* out, cudaStream_t stream) {
  if (rows < 0 || inner < 1) return cudaErrorInvalidValue;
  if (rows == 0) return cudaSuccess;
  return DispatchDType(dt, [&](auto tag) {
    using T = decltype(tag);
    return DispatchAct(act, [&](auto a) {
      GatedKernel<T, decltype(a)::kValue>
          <<<GridFor(rows * inner, kThreads), kThreads, 0, stream>>>(
              static_cast<const T*>(x), rows, inner, static_cast<T*>(out));
      return cudaGetLastError();
    });
  });
}

cudaError_t LaunchRotary(DType dt, void* x, int64_t ld, const int32_t* cu_seqlens,
                         int64_t num_seqs, int64_t tokens, int64_t num_heads,
                         int64_t head_size, int64_t dims, double base, bool interleaved,
                         int64_t position_offset, double position_scale,
                         cudaStream_t stream) {
  if (dims < 2 || dims % 2 != 0 || dims > head_size || num_heads * head_size > ld ||
      num_seqs < 1 || tokens < 1) {
    return cudaErrorInvalidValue;
  }
  return DispatchDType(dt, [&](auto tag) {
    using T = decltype(tag);
    RotaryKernel<T>
        <<<GridFor(tokens * num_heads * (dims / 2), kThreads), kThreads, 0, stream>>>(
            static_cast<T*>(x), ld, cu_seqlens, static_cast<int>(num_seqs), tokens,
            num_heads, head_size, dims, base, interleaved, position_offset,
            position_scale);
    return cudaGetLastError();
  });
}

}  // namespace floe::cuda
