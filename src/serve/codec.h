// Vector encodings for the wire: float16/bfloat16 conversion, base64, and
// shortest-round-trip float text for JSON.
#pragma once

#include <cstdint>
#include <span>
#include <string>

namespace floe {

uint16_t FloatToHalf(float f);      // IEEE binary16, round to nearest even
uint16_t FloatToBFloat16(float f);  // round to nearest even, NaN kept
float HalfToFloat(uint16_t h);

// Appends standard base64 (with padding) of `data`.
void AppendBase64(std::string_view data, std::string* out);
// Appends "[v0,v1,...]" with each value's shortest round-trip decimal form.
void AppendJsonFloats(std::span<const float> values, std::string* out);

}  // namespace floe
