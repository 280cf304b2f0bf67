#include "serve/scores.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace floe {

std::vector<float> ScoresFromLogits(std::vector<float> logits, bool raw) {
  if (raw || logits.empty()) return logits;
  if (logits.size() == 1) {
    logits[0] = 1.0f / (1.0f + std::exp(-logits[0]));
    return logits;
  }
  const float max = *std::max_element(logits.begin(), logits.end());
  double sum = 0;
  for (float& v : logits) {
    v = std::exp(v - max);
    sum += v;
  }
  for (float& v : logits) v = static_cast<float>(v / sum);
  return logits;
}

std::vector<size_t> RankByScore(std::span<const float> scores) {
  std::vector<size_t> order(scores.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return scores[a] > scores[b]; });
  return order;
}

float Cosine(std::span<const float> a, std::span<const float> b) {
  double dot = 0, na = 0, nb = 0;
  const size_t n = std::min(a.size(), b.size());
  for (size_t i = 0; i < n; ++i) {
    dot += static_cast<double>(a[i]) * b[i];
    na += static_cast<double>(a[i]) * a[i];
    nb += static_cast<double>(b[i]) * b[i];
  }
  if (na == 0 || nb == 0) return 0.0f;
  return static_cast<float>(dot / std::sqrt(na * nb));
}

}  // namespace floe
