// Host-side planning of the CUDA backend's products (plain C++, header-only:
// no CUDA header, so that tests/backend checks it on the CPU in every build).
//
// Products run on a few row counts, not on every token count: a pass of m
// tokens multiplies RowBucket(m) rows (CudaBackend::RoundUpRows), so the
// cuBLASLt plans (layouts + the heuristic's algorithm) of one bucket serve
// every m in it, and the plans of one (bucket, n, k, dtype, epilogue) serve
// every Linear of that shape: BERT-base's 12 layers share 4 plans per bucket
// (QKV, attention out, FFN in, FFN out) instead of 72 heuristic queries for
// each new token count.
//
// The bucket policy (m >= 1):
//   m <= 64:          the next power of two (1, 2, 4, ..., 64)
//   64 < m <= 1024:   the next multiple of 64
//   1024 < m <= 8192: the next multiple of 256
//   m > 8192:         the next multiple of 1024
// so 74 buckets up to 32,768 tokens. The padding costs little: cuBLASLt tiles
// m by 64 to 256 rows anyway, and rows past m are the engine's padding
// (backend.h: buffers have room for RoundUpRows(m) rows). At most 49% of the
// rows are padding (m = 65), 20% above 1024 rows and 11.1% above 8192.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <tuple>

#include "core/status.h"

namespace floe::cuda::host {

// The bucket of m rows (policy above); m itself when m < 1.
inline int64_t RowBucket(int64_t m) {
  if (m < 1) return m;
  if (m <= 64) {
    int64_t b = 1;
    while (b < m) b <<= 1;
    return b;
  }
  const auto up = [m](int64_t g) { return (m + g - 1) / g * g; };
  if (m <= 1024) return up(64);
  if (m <= 8192) return up(256);
  return up(1024);
}

// What one cuBLASLt plan is for. The descriptor's epilogue and compute type
// are part of it (the heuristic's choice depends on them); the bias pointer
// is not (every allocation is 256-byte aligned).
struct PlanKey {
  int64_t rows = 0;  // a RowBucket
  int64_t n = 0;     // out_features
  int64_t k = 0;     // in_features
  int dtype = 0;     // DType of A, B, C, D
  int epilogue = 0;  // cublasLtEpilogue_t
  int compute = 0;   // cublasComputeType_t
  auto Tie() const { return std::tie(rows, n, k, dtype, epilogue, compute); }
  bool operator<(const PlanKey& o) const { return Tie() < o.Tie(); }
  bool operator==(const PlanKey& o) const { return Tie() == o.Tie(); }
};

// Plans shared by every Linear of one backend, made on first use. Bounded:
// past `capacity` plans it starts again from empty (a server sees a few
// hundred at most). One thread at a time (the backend's).
template <typename Plan>
class PlanCache {
 public:
  explicit PlanCache(size_t capacity = 4096) : capacity_(capacity < 1 ? 1 : capacity) {}
  PlanCache(const PlanCache&) = delete;
  PlanCache& operator=(const PlanCache&) = delete;

  // The plan for `key`; on a miss, make() (returning
  // StatusOr<std::unique_ptr<Plan>>) makes it, and its error is returned
  // (nothing is cached then). The pointer is valid until the next Get.
  template <typename Make>
  StatusOr<Plan*> Get(const PlanKey& key, Make&& make) {
    auto it = plans_.find(key);
    if (it != plans_.end()) {
      ++hits_;
      return it->second.get();
    }
    ++misses_;
    StatusOr<std::unique_ptr<Plan>> made = make();
    if (!made.ok()) return made.status();
    if (plans_.size() >= capacity_) {
      evictions_ += plans_.size();
      plans_.clear();
    }
    Plan* raw = made.value().get();
    plans_.emplace(key, std::move(made).value());
    return raw;
  }

  size_t size() const { return plans_.size(); }
  // Gets answered from the cache, plans made, plans dropped at the bound.
  uint64_t hits() const { return hits_; }
  uint64_t misses() const { return misses_; }
  uint64_t evictions() const { return evictions_; }

 private:
  size_t capacity_;
  std::map<PlanKey, std::unique_ptr<Plan>> plans_;
  uint64_t hits_ = 0, misses_ = 0, evictions_ = 0;
};

}  // namespace floe::cuda::host
