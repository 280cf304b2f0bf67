// Element types of stored tensors and conversions to float32.
#pragma once

#include <cstdint>
#include <cstring>
#include <string_view>

#include "core/dtype.h"
#include "core/half.h"

namespace floe {

std::string_view DTypeName(DType t);

// The stored types' names for core/half.h's conversions.
inline float BF16ToFloat(uint16_t v) { return BFloat16ToFloat(v); }
inline float F16ToFloat(uint16_t v) { return HalfToFloat(v); }

// Converts n elements of type `t` at `src` (any alignment) to float32.
void ConvertToFloat(DType t, const void* src, size_t n, float* dst);

}  // namespace floe
