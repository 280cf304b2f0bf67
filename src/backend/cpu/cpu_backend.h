// The CPU backend: oneDNN matmul primitives with weights packed once, OpenMP
// kernels for the rest (embeddings, LayerNorm, attention, pooling).
#pragma once

#include <memory>

#include "backend/backend.h"

namespace floe {

// num_threads > 0 sets OpenMP's (and so oneDNN's) thread count for the
// process; 0 keeps the default (all cores). Only float32 is implemented;
// other compute types are UNIMPLEMENTED naming the type.
StatusOr<std::unique_ptr<Backend>> CreateCpuBackend(const BackendOptions& options);

}  // namespace floe
