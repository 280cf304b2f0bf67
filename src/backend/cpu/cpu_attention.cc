// The CPU backend's bidirectional attention of packed sequences.
#include <algorithm>
#include <vector>

#include "backend/cpu/cpu_backend_impl.h"
#include "backend/cpu/kernels.h"

namespace floe::cpu {

std::vector<int32_t> LongestFirst(const PackedBatch& batch) {
  const int32_t* cu = batch.cu_seqlens_host;
  std::vector<int32_t> order(batch.num_seqs);
  for (int64_t b = 0; b < batch.num_seqs; ++b) order[b] = static_cast<int32_t>(b);
  std::stable_sort(order.begin(), order.end(), [&](int32_t a, int32_t b) {
    return cu[a + 1] - cu[a] > cu[b + 1] - cu[b];
  });
  return order;
}

// One job per (sequence, head): S = scale * Q K^T, softmax rows, O = S V.
// S and, in float32, O are single-threaded oneDNN sgemm calls (each runs
// on one thread inside an OpenMP parallel region) reading Q, K, V in place
// through their strides and writing O straight into the context matrix.
// With plain bfloat16 or int8 products, O = P V of sequences of at least
// kBf16ValueMinLen tokens runs in bf16 (cpu/attention_bf16.h). Sequences
// of at most short_attention_ tokens run on AttendShortHead instead (no
// sgemm call: a dozen tokens are a few hundred FMAs a head).
Status CpuBackend::Attention(const TensorView& qkv_view, const PackedBatch& batch,
                             int64_t num_heads, int64_t head_size, float scale,
                             const TensorView& out_view) {
  FLOE_RETURN_IF_ERROR(
      CheckAttention(*this, qkv_view, batch, num_heads, head_size, out_view));
  const float* qkv = qkv_view.f32();
  float* out = out_view.f32();
  UseThreads();
  const int64_t D = num_heads * head_size;
  const int64_t ld_qkv = 3 * D;
  const int32_t* cu = batch.cu_seqlens_host;
  const std::vector<int32_t> order = LongestFirst(batch);
  const int64_t jobs = batch.num_seqs * num_heads;
  const int64_t max_len = batch.max_seqlen;
  const bool bf16_values = bf16_attention_ && max_len >= kBf16ValueMinLen;
  if (bf16_values) {
    try {
      for (int64_t b = 0; b < batch.num_seqs; ++b) {
        const int64_t len = cu[b + 1] - cu[b];
        if (len >= kBf16ValueMinLen) bf16_values_.Prepare(len, head_size, D);
      }
    } catch (const dnnl::error& e) {
      return DnnlError("cpu attention: bf16 P V", e);
    }
  }
  int error = 0;
#pragma omp parallel
  {
    std::vector<float> scores(static_cast<size_t>(max_len * (max_len + head_size)));
    std::vector<uint16_t> p16, v16;
    if (bf16_values) {
      p16.resize(static_cast<size_t>(max_len * max_len));
      v16.resize(static_cast<size_t>(max_len * head_size));
    }
#pragma omp for schedule(dynamic, 1)
    for (int64_t j = 0; j < jobs; ++j) {
      const int64_t b = order[j / num_heads];
      const int64_t h = j % num_heads;
      const int64_t start = cu[b];
      const int64_t len = cu[b + 1] - cu[b];
      const float* q = qkv + start * ld_qkv + h * head_size;
      const float* k = q + D;
      const float* v = q + 2 * D;
      float* o = out + start * D + h * head_size;
      float* s = scores.data();
      if (len <= short_attention_ && !(bf16_values && len >= kBf16ValueMinLen)) {
        AttendShortHead(q, k, v, ld_qkv, len, head_size, scale, s, o, D);
        continue;
      }
      if (dnnl_sgemm('N', 'T', len, len, head_size, scale, q, ld_qkv, k, ld_qkv, 0.f, s,
                     len) != dnnl_success) {
#pragma omp atomic write
        error = 1;
        continue;
      }
      if (bf16_values && len >= kBf16ValueMinLen) {
        SoftmaxRowsToBf16(s, len, len, len, p16.data(), len);
        try {
          bf16_values_.Run(p16.data(), v, ld_qkv, len, head_size, o, D, v16.data());
        } catch (const dnnl::error&) {
#pragma omp atomic write
          error = 1;
        }
        continue;
      }
      SoftmaxRows(s, len, len, len);
      if (dnnl_sgemm('N', 'N', len, head_size, len, 1.f, s, len, v, ld_qkv, 0.f, o, D) !=
          dnnl_success) {
#pragma omp atomic write
        error = 1;
      }
    }
  }
  if (error) return InternalError("cpu attention: oneDNN product failed");
  return OkStatus();
}

}  // namespace floe::cpu
