// Element-wise kernels: residual add, exact GELU, bias + GELU (16-byte
// accesses where aligned), dtype conversions. Grid-stride loops, float32
// arithmetic.
#include "backend/cuda/device_utils.cuh"

namespace floe::cuda {
namespace {

constexpr int kThreads = 256;

template <typename T>
__global__ void AddResidualKernel(T* y, const T* r, const float* bias, int64_t rows,
                                  int64_t cols) {
  const int64_t n = rows * cols;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    float v = ToFloat(y[i]) + ToFloat(r[i]);
    if (bias != nullptr) v += bias[i % cols];
    y[i] = FromFloat<T>(v);
  }
}

template <typename T>
__global__ void GeluErfKernel(T* x, int64_t n) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const float v = ToFloat(x[i]);
    x[i] = FromFloat<T>(0.5f * v * (1.f + erff(v * 0.70710678118654752f)));
  }
}

__device__ __forceinline__ float Gelu(float v, bool tanh_form) {
  if (tanh_form) {
    return 0.5f * v * (1.f + tanhf(0.7978845608028654f * (v + 0.044715f * v * v * v)));
  }
  return 0.5f * v * (1.f + erff(v * 0.70710678118654752f));
}

// 16 bytes of T.
template <typename T>
struct alignas(16) Vec16 {
  T v[16 / sizeof(T)];
};

// bias + GELU, V = 16 / sizeof(T) elements per thread and step; cols is a
// multiple of V.
template <typename T>
__global__ void BiasGeluVecKernel(T* y, const float* bias, int64_t rows, int64_t cols,
                                  bool tanh_form) {
  constexpr int V = 16 / sizeof(T);
  const int64_t per_row = cols / V;
  const int64_t n = rows * per_row;
  Vec16<T>* yv = reinterpret_cast<Vec16<T>*>(y);
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    Vec16<T> p = yv[i];
    const int64_t c0 = (i % per_row) * V;
#pragma unroll
    for (int e = 0; e < V; ++e) {
      float v = ToFloat(p.v[e]);
      if (bias != nullptr) v += bias[c0 + e];
      p.v[e] = FromFloat<T>(Gelu(v, tanh_form));
    }
    yv[i] = p;
  }
}

template <typename T>
__global__ void BiasGeluKernel(T* y, const float* bias, int64_t rows, int64_t cols,
                               bool tanh_form) {
  const int64_t n = rows * cols;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    float v = ToFloat(y[i]);
    if (bias != nullptr) v += bias[i % cols];
    y[i] = FromFloat<T>(Gelu(v, tanh_form));
  }
}

template <typename T>
__global__ void FromFloatKernel(const float* in, int64_t n, T* out) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    out[i] = FromFloat<T>(in[i]);
  }
}

template <typename T>
__global__ void ToFloatKernel(const T* in, int64_t n, float* out) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    out[i] = ToFloat(in[i]);
  }
}

}  // namespace

cudaError_t LaunchAddResidual(DType dt, void* y, const void* residual, const float* bias,
                              int64_t rows, int64_t cols, cudaStream_t stream) {
  if (rows < 1 || cols < 1) return cudaErrorInvalidValue;
  return DispatchDType(dt, [&](auto tag) {
    using T = decltype(tag);
    AddResidualKernel<T><<<GridFor(rows * cols, kThreads), kThreads, 0, stream>>>(
        static_cast<T*>(y), static_cast<const T*>(residual), bias, rows, cols);
    return cudaGetLastError();
  });
}

cudaError_t LaunchGeluErf(DType dt, void* x, int64_t n, cudaStream_t stream) {
  if (n < 1) return cudaErrorInvalidValue;
  return DispatchDType(dt, [&](auto tag) {
    using T = decltype(tag);
    GeluErfKernel<T><<<GridFor(n, kThreads), kThreads, 0, stream>>>(static_cast<T*>(x), n);
    return cudaGetLastError();
  });
}

cudaError_t LaunchBiasGelu(DType dt, void* y, const float* bias, int64_t rows, int64_t cols,
                           bool tanh, cudaStream_t stream) {
  if (rows < 1 || cols < 1) return cudaErrorInvalidValue;
  return DispatchDType(dt, [&](auto tag) {
    using T = decltype(tag);
    constexpr int64_t V = 16 / sizeof(T);
    T* yt = static_cast<T*>(y);
    if (reinterpret_cast<uintptr_t>(y) % 16 == 0 && cols % V == 0) {
      BiasGeluVecKernel<T><<<GridFor(rows * cols / V, kThreads), kThreads, 0, stream>>>(
          yt, bias, rows, cols, tanh);
    } else {
      BiasGeluKernel<T><<<GridFor(rows * cols, kThreads), kThreads, 0, stream>>>(yt, bias, rows,
                                                                                cols, tanh);
    }
    return cudaGetLastError();
  });
}

cudaError_t LaunchFromFloat(DType dt, const float* in, int64_t n, void* out, cudaStream_t stream) {
  if (n < 1) return cudaErrorInvalidValue;
  return DispatchDType(dt, [&](auto tag) {
    using T = decltype(tag);
    FromFloatKernel<T><<<GridFor(n, kThreads), kThreads, 0, stream>>>(in, n, static_cast<T*>(out));
    return cudaGetLastError();
  });
}

cudaError_t LaunchToFloat(DType dt, const void* in, int64_t n, float* out, cudaStream_t stream) {
  if (n < 1) return cudaErrorInvalidValue;
  return DispatchDType(dt, [&](auto tag) {
    using T = decltype(tag);
    ToFloatKernel<T><<<GridFor(n, kThreads), kThreads, 0, stream>>>(static_cast<const T*>(in), n,
                                                                    out);
    return cudaGetLastError();
  });
}

}  // namespace floe::cuda
