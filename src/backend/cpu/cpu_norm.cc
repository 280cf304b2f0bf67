// The CPU backend's row norms (LayerNorm).
#include "backend/cpu/cpu_backend_impl.h"
#include "backend/cpu/kernels.h"

namespace floe::cpu {

Status CpuBackend::LayerNorm(float* x, int64_t rows, int64_t hidden, const float* gamma,
                             const float* beta, float eps) {
  UseThreads();
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < rows; ++r) {
    LayerNormRow(x + r * hidden, hidden, gamma, beta, eps, x + r * hidden);
  }
  return OkStatus();
}

}  // namespace floe::cpu
