// The one element-type enum of floe: stored tensors (model/: safetensors),
// the compute type of a backend (backend/backend.h: ComputeType is this
// enum) and the element type of a tensor view (backend/tensor.h). Plain
// C++17 and no other floe header, so that nvcc can include it in .cu files.
#pragma once

#include <cstddef>

namespace floe {

// kFloat32 .. kInt8 are the compute-type names of the same values (the
// --dtype names float32, float16, bfloat16, int8: backend/backend.h).
enum class DType {
  kF32,
  kF16,
  kBF16,
  kI8,
  kI32,
  kFloat32 = kF32,
  kFloat16 = kF16,
  kBFloat16 = kBF16,
  kInt8 = kI8,
};

constexpr size_t DTypeSize(DType t) {
  switch (t) {
    case DType::kF32:
    case DType::kI32:
      return 4;
    case DType::kF16:
    case DType::kBF16:
      return 2;
    case DType::kI8:
      return 1;
  }
  return 0;
}

// "float32", "float16", "bfloat16", "int8", "int32".
constexpr const char* DTypeLongName(DType t) {
  switch (t) {
    case DType::kF32:
      return "float32";
    case DType::kF16:
      return "float16";
    case DType::kBF16:
      return "bfloat16";
    case DType::kI8:
      return "int8";
    case DType::kI32:
      return "int32";
  }
  return "?";
}

}  // namespace floe
