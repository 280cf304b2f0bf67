// The CPU backend: oneDNN matmul primitives with weights packed once, OpenMP
// kernels for the rest (embeddings, LayerNorm, attention, pooling).
#pragma once

#include <memory>

#include "backend/backend.h"

namespace floe {

// For CreateBackend, which has checked `options` and parsed their dtype into
// `compute_type`. options.num_threads > 0: every op runs on that many OpenMP
// threads (oneDNN's too); 0 keeps OpenMP's default (all cores, or
// OMP_NUM_THREADS). float32, bfloat16 and int8 (float32 accumulation,
// everything but the matrix products in float32) where the CPU runs them
// (FAILED_PRECONDITION saying what it lacks); float16 is UNIMPLEMENTED.
StatusOr<std::unique_ptr<Backend>> CreateCpuBackend(const RuntimeOptions& options,
                                                    ComputeType compute_type);

}  // namespace floe
