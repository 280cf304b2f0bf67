// The CPU backend's embedding gather + LayerNorm (Backend::EmbedLayerNorm).
#include <vector>

#include "backend/cpu/cpu_backend_impl.h"
#include "backend/cpu/kernels.h"

namespace floe::cpu {

Status CpuBackend::EmbedLayerNorm(const int32_t* ids, const PackedBatch& batch,
                                  const float* word, const float* position,
                                  const float* token_type0, const float* gamma,
                                  const float* beta, int64_t hidden, float eps,
                                  float* out) {
  UseThreads();
  const int32_t* cu = batch.cu_seqlens_host;
  std::vector<int32_t> pos(batch.total_tokens);
  for (int64_t b = 0; b < batch.num_seqs; ++b) {
    for (int32_t t = cu[b]; t < cu[b + 1]; ++t) pos[t] = t - cu[b];
  }
  const int64_t T = batch.total_tokens;
#pragma omp parallel for schedule(static)
  for (int64_t t = 0; t < T; ++t) {
    float* o = out + t * hidden;
    const float* w = word + static_cast<int64_t>(ids[t]) * hidden;
    const float* p = position + static_cast<int64_t>(pos[t]) * hidden;
#pragma omp simd
    for (int64_t i = 0; i < hidden; ++i) o[i] = w[i] + p[i] + token_type0[i];
    LayerNormRow(o, hidden, gamma, beta, eps, o);
  }
  return OkStatus();
}

}  // namespace floe::cpu
