// The CPU backend's pooling (cls, mean, max, last token).
#include <algorithm>
#include <cstring>

#include "backend/cpu/cpu_backend_impl.h"

namespace floe::cpu {

Status CpuBackend::Pool(const TensorView& hidden_view, const PackedBatch& batch,
                        PoolKind kind, const TensorView& out_view) {
  FLOE_RETURN_IF_ERROR(CheckPool(*this, hidden_view, batch, out_view));
  const float* hidden = hidden_view.f32();
  float* out = out_view.f32();
  const int64_t dim = hidden_view.cols();
  UseThreads();
  const int32_t* cu = batch.cu_seqlens_host;
  const int64_t B = batch.num_seqs;
#pragma omp parallel for schedule(static) if (B > 1 && Parallel(batch.total_tokens * dim))
  for (int64_t b = 0; b < B; ++b) {
    const int64_t end = cu[b + 1];
    int64_t start = cu[b];
    if (batch.pool_skip_host != nullptr && batch.pool_skip_host[b] > 0 &&
        batch.pool_skip_host[b] < end - start) {
      start += batch.pool_skip_host[b];
    }
    float* o = out + b * dim;
    switch (kind) {
      case PoolKind::kCls:
        std::memcpy(o, hidden + start * dim, dim * sizeof(float));
        break;
      case PoolKind::kLastToken:
        std::memcpy(o, hidden + (end - 1) * dim, dim * sizeof(float));
        break;
      case PoolKind::kMean: {
        std::fill(o, o + dim, 0.f);
        for (int64_t t = start; t < end; ++t) {
          const float* h = hidden + t * dim;
#pragma omp simd
          for (int64_t i = 0; i < dim; ++i) o[i] += h[i];
        }
        const float inv = 1.f / static_cast<float>(end - start);
        for (int64_t i = 0; i < dim; ++i) o[i] *= inv;
        break;
      }
      case PoolKind::kMax: {
        std::memcpy(o, hidden + start * dim, dim * sizeof(float));
        for (int64_t t = start + 1; t < end; ++t) {
          const float* h = hidden + t * dim;
          for (int64_t i = 0; i < dim; ++i) o[i] = h[i] > o[i] ? h[i] : o[i];
        }
        break;
      }
    }
  }
  return OkStatus();
}

}  // namespace floe::cpu
