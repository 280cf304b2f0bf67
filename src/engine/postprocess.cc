#include "engine/postprocess.h"

#include <cmath>
#include <string>

namespace floe {

Status PostprocessEmbedding(std::span<const float> pooled, int dimensions, bool normalize,
                            std::vector<float>* out) {
  if (dimensions < 0 || static_cast<size_t>(dimensions) > pooled.size()) {
    return InvalidArgumentError("dimensions must be between 1 and " +
                                std::to_string(pooled.size()) + " (or 0 for all), got " +
                                std::to_string(dimensions));
  }
  const size_t n = dimensions == 0 ? pooled.size() : static_cast<size_t>(dimensions);
  out->assign(pooled.begin(), pooled.begin() + n);
  if (normalize) {
    double sq = 0.0;  // double: a 1024-wide sum of squares loses nothing
    for (float v : *out) sq += static_cast<double>(v) * v;
    if (sq > 0.0) {
      const double inv = 1.0 / std::sqrt(sq);
      for (float& v : *out) v = static_cast<float>(v * inv);
    }
  }
  return OkStatus();
}

}  // namespace floe
