// Element-wise kernels: residual add, exact GELU, dtype conversions.
// Grid-stride loops, float32 arithmetic.
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
