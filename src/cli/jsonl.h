// JSON-lines input for `floe embed` / `floe tokenize`: every line parsed and
// checked before any output, so an error never leaves half an output behind.
#pragma once

#include <cstdio>
#include <istream>
#include <string>
#include <vector>

#include "core/status.h"
#include "floe/embedder.h"

namespace floe::cli {

// Reads all lines of `in`; blank lines are skipped. Each must be a JSON object
// with a string "text" and optionally "prompt_name" (string), "dimensions"
// (integer >= 1), "normalize" (bool) and "text_pair" (string: floe tokenize
// encodes the pair); other keys are errors. Errors name the 1-based line number.
struct InputLine {
  size_t line = 0;  // 1-based line number in the input
  EmbedInput input;
  bool has_pair = false;  // "text_pair" given (floe tokenize only)
  std::string text_pair;
};
StatusOr<std::vector<InputLine>> ReadInputLines(std::istream& in);

// Appends the shortest text that reads back as the same float.
void AppendFloat(float v, std::string* out);

}  // namespace floe::cli
