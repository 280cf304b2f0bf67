// The CPU backend's embedding gather + LayerNorm (Backend::EmbedLayerNorm).
#include <vector>

#include "backend/cpu/cpu_backend_impl.h"
#include "backend/cpu/kernels.h"

namespace floe::cpu {

Status CpuBackend::EmbedLayerNorm(const int32_t* ids, const PackedBatch& batch,
                                  const EmbeddingTables& tables, float eps,
                                  const TensorView& out_view) {
  FLOE_RETURN_IF_ERROR(CheckEmbedLayerNorm(*this, batch, out_view));
  float* out = out_view.f32();
  const int64_t hidden = out_view.cols();
  UseThreads();
  const int32_t* cu = batch.cu_seqlens_host;
  const int32_t* type1 = batch.type1_from_host;
  // Per token: its position row and its token type row.
  std::vector<int32_t> pos(batch.total_tokens), type(batch.total_tokens, 0);
  for (int64_t b = 0; b < batch.num_seqs; ++b) {
    const int64_t from = type1 != nullptr ? type1[b] : cu[b + 1] - cu[b];
    for (int32_t t = cu[b]; t < cu[b + 1]; ++t) {
      pos[t] = static_cast<int32_t>(t - cu[b] + tables.position_offset);
      type[t] = t - cu[b] >= from ? 1 : 0;
    }
  }
  const int64_t T = batch.total_tokens;
#pragma omp parallel for schedule(static) if (Parallel(T * hidden))
  for (int64_t t = 0; t < T; ++t) {
    float* o = out + t * hidden;
    const float* w = tables.word + static_cast<int64_t>(ids[t]) * hidden;
    const float* p = tables.position + static_cast<int64_t>(pos[t]) * hidden;
    const float* tt = tables.token_type + static_cast<int64_t>(type[t]) * hidden;
#pragma omp simd
    for (int64_t i = 0; i < hidden; ++i) o[i] = w[i] + p[i] + tt[i];
    LayerNormRow(o, hidden, tables.gamma, tables.beta, eps, o);
  }
  return OkStatus();
}

}  // namespace floe::cpu
