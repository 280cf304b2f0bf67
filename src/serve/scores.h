// What the rerank and predict APIs (TEI's HTTP and gRPC, Cohere's /v1/rerank,
// floe.v1 Rerank/Classify) make of a classifier's raw logits, and cosine for
// TEI's /similarity. One place, so every protocol answers the same numbers.
#pragma once

#include <cstddef>
#include <span>
#include <vector>

namespace floe {

// TEI's scores: the logits as they are when `raw`; else the sigmoid of a
// single logit (a reranker), the softmax over several (a classifier).
std::vector<float> ScoresFromLogits(std::vector<float> logits, bool raw);

// Indices of `scores`, highest first (ties keep the input order).
std::vector<size_t> RankByScore(std::span<const float> scores);

// Cosine similarity; 0 when either vector is all zeros.
float Cosine(std::span<const float> a, std::span<const float> b);

}  // namespace floe
