// The one element-type enum of stored tensors and activations (float32,
// float16, bfloat16), shared by model/ (safetensors) and backend/ (the CUDA
// kernels' activations). Plain C++17 and no other floe header, so that nvcc
// can include it in .cu files.
#pragma once

#include <cstddef>

namespace floe {

enum class DType { kF32, kF16, kBF16 };

inline size_t DTypeSize(DType t) { return t == DType::kF32 ? 4 : 2; }

}  // namespace floe
