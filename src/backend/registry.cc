// Picks the backend for a device string. The only place that knows whether
// CUDA was built in.
#include <string>

#include "backend/backend.h"
#include "backend/cpu/cpu_backend.h"

#if FLOE_CUDA
#include "backend/cuda/cuda_backend.h"
#endif

namespace floe {

StatusOr<ComputeType> ParseComputeType(std::string_view name) {
  if (name == "float32") return ComputeType::kFloat32;
  if (name == "float16") return ComputeType::kFloat16;
  if (name == "bfloat16") return ComputeType::kBFloat16;
  if (name == "int8") return ComputeType::kInt8;
  return InvalidArgumentError("unknown dtype \"" + std::string(name) +
                              "\" (expected float32, float16, bfloat16 or int8)");
}

std::string_view ComputeTypeName(ComputeType t) { return DTypeLongName(t); }

namespace {

// "cuda" -> 0, "cuda:3" -> 3; -1 when malformed.
int ParseCudaOrdinal(const std::string& device) {
  if (device == "cuda") return 0;
  const std::string rest = device.substr(5);  // after "cuda:"
  if (rest.empty() || rest.size() > 4) return -1;
  int n = 0;
  for (char c : rest) {
    if (c < '0' || c > '9') return -1;
    n = n * 10 + (c - '0');
  }
  return n;
}

}  // namespace

StatusOr<std::unique_ptr<Backend>> CreateBackend(const RuntimeOptions& options) {
  // The checks of every backend, here once; the device's own (dtypes it
  // implements, GPUs present) in its Create*Backend.
  FLOE_ASSIGN_OR_RETURN(const ComputeType compute_type, ParseComputeType(options.dtype));
  if (options.num_threads < 0) {
    return InvalidArgumentError("num_threads must be >= 0, got " +
                                std::to_string(options.num_threads));
  }
  if (!(options.gpu_memory_fraction >= 0.0 && options.gpu_memory_fraction <= 1.0)) {
    return InvalidArgumentError(
        "gpu_memory_fraction (--gpu-memory-utilization) must be in [0, 1], got " +
        std::to_string(options.gpu_memory_fraction));
  }
  const std::string& device = options.device;
  if (device == "cpu") return CreateCpuBackend(options, compute_type);
  if (device == "cuda" || device.rfind("cuda:", 0) == 0) {
    const int ordinal = ParseCudaOrdinal(device);
    if (ordinal < 0) {
      return InvalidArgumentError("invalid device \"" + device + "\" (expected cuda or cuda:N)");
    }
#if FLOE_CUDA
    return CreateCudaBackend(options, compute_type, ordinal);
#else
    return FailedPreconditionError("device \"" + device +
                                   "\" requested but this floe was built without CUDA "
                                   "(rebuild with -DFLOE_CUDA=ON)");
#endif
  }
  return InvalidArgumentError("unknown device \"" + device + "\" (expected cpu, cuda or cuda:N)");
}

}  // namespace floe
