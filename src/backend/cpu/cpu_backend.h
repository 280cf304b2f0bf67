// The CPU backend: oneDNN matmul primitives with weights packed once, OpenMP
// kernels for the rest (embeddings, LayerNorm, attention, pooling).
#pragma once

#include <memory>

#include "backend/backend.h"

namespace floe {

// num_threads > 0: every op runs on that many OpenMP threads (oneDNN's too);
// 0 keeps OpenMP's default (all cores, or OMP_NUM_THREADS). float32, and
// bfloat16 (matrix products in bf16 with float32 accumulation; everything
// else float32); other compute types are UNIMPLEMENTED naming the type.
StatusOr<std::unique_ptr<Backend>> CreateCpuBackend(const BackendOptions& options);

}  // namespace floe
