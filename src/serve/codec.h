// Vector encodings for the wire: float16/bfloat16 (core/half.h), base64, and
// shortest-round-trip float text for JSON.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "core/half.h"

namespace floe {

// FloatToHalf, FloatToBFloat16, HalfToFloat: core/half.h.

// Appends standard base64 (with padding) of `data`.
void AppendBase64(std::string_view data, std::string* out);
// Appends "[v0,v1,...]" with each value's shortest round-trip decimal form.
void AppendJsonFloats(std::span<const float> values, std::string* out);

}  // namespace floe
