// What happens to a pooled vector before it is returned: matryoshka
// truncation, then L2 normalization.
#pragma once

#include <span>
#include <vector>

#include "core/status.h"

namespace floe {

// Keeps the first `dimensions` values of `pooled` (0 = all; negative or more
// than pooled.size() is INVALID_ARGUMENT), then L2-normalizes if `normalize`
// (a zero vector stays zero). Replaces *out.
Status PostprocessEmbedding(std::span<const float> pooled, int dimensions, bool normalize,
                            std::vector<float>* out);

}  // namespace floe
