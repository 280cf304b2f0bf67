// CUDA runtime and cuBLAS errors as Status, naming the op that failed.
#pragma once

#include <cublasLt.h>
#include <cuda_runtime.h>

#include <string>

#include "core/status.h"

namespace floe::cuda {

// OK for cudaSuccess; RESOURCE_EXHAUSTED for an allocation failure;
// FAILED_PRECONDITION for "no driver / no device"; INTERNAL otherwise.
// The message is "<what>: <cudaErrorName> (<description>)".
inline Status CudaStatus(cudaError_t e, const std::string& what) {
  if (e == cudaSuccess) return OkStatus();
  std::string m = what + ": " + cudaGetErrorName(e) + " (" + cudaGetErrorString(e) + ")";
  switch (e) {
    case cudaErrorMemoryAllocation: return ResourceExhaustedError(std::move(m));
    case cudaErrorNoDevice:
    case cudaErrorInsufficientDriver:
    case cudaErrorInvalidDevice: return FailedPreconditionError(std::move(m));
    default: return InternalError(std::move(m));
  }
}

inline Status CublasStatus(cublasStatus_t s, const std::string& what) {
  if (s == CUBLAS_STATUS_SUCCESS) return OkStatus();
  std::string m = what + ": " + cublasLtGetStatusName(s) + " (" + cublasLtGetStatusString(s) + ")";
  if (s == CUBLAS_STATUS_ALLOC_FAILED) return ResourceExhaustedError(std::move(m));
  if (s == CUBLAS_STATUS_NOT_SUPPORTED) return UnimplementedError(std::move(m));
  return InternalError(std::move(m));
}

}  // namespace floe::cuda

// Returns from the calling function with a Status naming `what` when a CUDA
// runtime or cuBLAS call fails.
#define FLOE_CUDA_RETURN_IF_ERROR(expr, what) \
  FLOE_RETURN_IF_ERROR(::floe::cuda::CudaStatus((expr), (what)))
#define FLOE_CUBLAS_RETURN_IF_ERROR(expr, what) \
  FLOE_RETURN_IF_ERROR(::floe::cuda::CublasStatus((expr), (what)))
