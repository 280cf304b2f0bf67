// The CPU backend's rotary position embedding (backend/ops.h: RotarySpec).
#include <cmath>
#include <vector>

#include "backend/cpu/cpu_backend_impl.h"

namespace floe::cpu {

void RotateHead(float* x, const float* cs, int64_t dims, RotaryLayout layout) {
  const int64_t half = dims / 2;
  if (layout == RotaryLayout::kHalfSplit) {
    for (int64_t i = 0; i < half; ++i) {
      const float c = cs[2 * i], s = cs[2 * i + 1];
      const float a = x[i], b = x[i + half];
      x[i] = a * c - b * s;
      x[i + half] = b * c + a * s;
    }
    return;
  }
  for (int64_t i = 0; i < half; ++i) {
    const float c = cs[2 * i], s = cs[2 * i + 1];
    const float a = x[2 * i], b = x[2 * i + 1];
    x[2 * i] = a * c - b * s;
    x[2 * i + 1] = b * c + a * s;
  }
}

const float* CpuBackend::RotaryTable(const RotarySpec& spec, int64_t head_size,
                                     int64_t positions) {
  const int64_t dims = RotaryDims(spec, head_size);
  RotaryCache* cache = nullptr;
  for (RotaryCache& c : rotary_) {
    if (c.base == spec.base && c.scale == spec.position_scale && c.dims == dims)
      cache = &c;
  }
  if (cache == nullptr) {
    rotary_.push_back({spec.base, spec.position_scale, dims, 0, {}});
    cache = &rotary_.back();
  }
  if (cache->positions < positions) {
    // Grown to a power of two so that longer batches seldom recompute.
    int64_t n = 64;
    while (n < positions) n *= 2;
    cache->cos_sin.resize(static_cast<size_t>(n * dims));
    const int64_t half = dims / 2;
#pragma omp parallel for schedule(static)
    for (int64_t p = 0; p < n; ++p) {
      for (int64_t i = 0; i < half; ++i) {
        const double inv_freq = std::pow(spec.base, -2.0 * static_cast<double>(i) / dims);
        const double angle = static_cast<double>(p) * spec.position_scale * inv_freq;
        cache->cos_sin[p * dims + 2 * i] = static_cast<float>(std::cos(angle));
        cache->cos_sin[p * dims + 2 * i + 1] = static_cast<float>(std::sin(angle));
      }
    }
    cache->positions = n;
  }
  return cache->cos_sin.data();
}

Status CpuBackend::Rotary(const TensorView& x_view, int64_t num_heads, int64_t head_size,
                          const PackedBatch& batch, const RotarySpec& spec) {
  if (Status s = CheckRotary(*this, x_view, num_heads, head_size, batch, spec); !s.ok()) {
    return s;
  }
  float* x = x_view.f32();
  const int64_t ld = x_view.cols();
  UseThreads();
  const int64_t dims = RotaryDims(spec, head_size);
  const float* table =
      RotaryTable(spec, head_size, batch.max_seqlen + spec.position_offset);
  const int32_t* cu = batch.cu_seqlens_host;
  std::vector<int32_t> pos(batch.total_tokens);
  for (int64_t b = 0; b < batch.num_seqs; ++b) {
    for (int32_t t = cu[b]; t < cu[b + 1]; ++t) pos[t] = t - cu[b];
  }
  const int64_t T = batch.total_tokens;
#pragma omp parallel for schedule(static)
  for (int64_t t = 0; t < T; ++t) {
    const float* cs = table + (pos[t] + spec.position_offset) * dims;
    float* row = x + t * ld;
    for (int64_t h = 0; h < num_heads; ++h)
      RotateHead(row + h * head_size, cs, dims, spec.layout);
  }
  return OkStatus();
}

}  // namespace floe::cpu
