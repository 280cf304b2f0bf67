// One cuBLASLt plan (backend/cuda/host/row_buckets.h: shared by every Linear
// of a backend, per bucket and shape): the layouts of x and y for a bucket's
// rows and the heuristic's algorithm for one descriptor. Not a public header.
#pragma once

#include <cublasLt.h>

namespace floe::cuda {

// Owns a cuBLASLt matrix layout.
struct LtLayout {
  cublasLtMatrixLayout_t h = nullptr;
  LtLayout() = default;
  LtLayout(const LtLayout&) = delete;
  LtLayout& operator=(const LtLayout&) = delete;
  ~LtLayout() {
    if (h != nullptr) cublasLtMatrixLayoutDestroy(h);
  }
};

struct LtPlan {
  LtLayout b, c;  // x: k x rows, y: n x rows (column-major)
  cublasLtMatmulAlgo_t algo{};
};

}  // namespace floe::cuda
