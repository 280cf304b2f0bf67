// The CPU backend's general attention (backend/ops.h: AttentionSpec):
// causal and sliding-window masks, grouped KV heads, per-head Q/K RMSNorm
// and rotary, on packed sequences.
//
// One job per (sequence, query head). Its Q and K heads are copied out
// (normalised and rotated as the spec asks); then queries go in blocks of
// kQueryBlock rows: S = scale * Q_blk K_span^T over only the keys some row
// of the block may see (a band for causal and windowed masks), each row's
// softmax over its own allowed keys, O_blk = P V_span. Memory per thread is
// O(len * (H + kQueryBlock)), not O(len^2), and masked-out blocks cost
// nothing. The products are single-threaded oneDNN sgemm calls inside the
// OpenMP region, as in cpu_attention.cc.
#include <algorithm>
#include <cmath>
#include <vector>

#include "backend/cpu/cpu_backend_impl.h"
#include "backend/cpu/kernels.h"

namespace floe::cpu {
namespace {

constexpr int64_t kQueryBlock = 64;

// dst [len, H] = head rows of src (row stride ld), RMS-normalised by `norm`
// when given, then rotated by the table rows of positions offset + t.
void PrepareHead(const float* src, int64_t ld, int64_t len, int64_t H, const float* norm,
                 float eps, const float* table, int64_t dims, int64_t offset,
                 RotaryLayout layout, float* dst) {
  for (int64_t t = 0; t < len; ++t) {
    float* d = dst + t * H;
    if (norm != nullptr) {
      RmsNormRow(src + t * ld, H, norm, nullptr, 0.f, eps, d);
    } else {
      std::copy(src + t * ld, src + t * ld + H, d);
    }
    if (table != nullptr) RotateHead(d, table + (t + offset) * dims, dims, layout);
  }
}

}  // namespace

Status CpuBackend::Attend(const float* qkv, const PackedBatch& batch,
                          const AttentionSpec& spec, float* out) {
  if (Status s = CheckAttend(qkv, batch, spec, out); !s.ok()) return s;
  UseThreads();
  const int64_t N = spec.num_heads, Nkv = KvHeads(spec), H = spec.head_size;
  const int64_t group = N / Nkv;
  const int64_t ld = (N + 2 * Nkv) * H, ldo = N * H;
  const float scale =
      spec.scale > 0.f ? spec.scale : 1.f / std::sqrt(static_cast<float>(H));
  const int64_t left = spec.window_left;
  const int64_t right = spec.causal ? 0 : spec.window_right;
  const float* table = nullptr;
  int64_t dims = 0, offset = 0;
  RotaryLayout layout = RotaryLayout::kHalfSplit;
  if (spec.rotary != nullptr) {
    dims = RotaryDims(*spec.rotary, H);
    offset = spec.rotary->position_offset;
    layout = spec.rotary->layout;
    table = RotaryTable(*spec.rotary, H, batch.max_seqlen + offset);
  }
  const int32_t* cu = batch.cu_seqlens_host;
  const std::vector<int32_t> order = LongestFirst(batch);
  const int64_t jobs = batch.num_seqs * N;
  const int64_t max_len = batch.max_seqlen;
  int error = 0;
#pragma omp parallel
  {
    std::vector<float> q(static_cast<size_t>(max_len * H)), k(q.size());
    std::vector<float> scores(
        static_cast<size_t>(std::min(max_len, kQueryBlock) * max_len));
#pragma omp for schedule(dynamic, 1)
    for (int64_t j = 0; j < jobs; ++j) {
      const int64_t b = order[j / N];
      const int64_t h = j % N;
      const int64_t kvh = h / group;
      const int64_t start = cu[b];
      const int64_t len = cu[b + 1] - cu[b];
      const float* row0 = qkv + start * ld;
      PrepareHead(row0 + h * H, ld, len, H, spec.q_norm, spec.qk_norm_eps, table, dims,
                  offset, layout, q.data());
      PrepareHead(row0 + (N + kvh) * H, ld, len, H, spec.k_norm, spec.qk_norm_eps, table,
                  dims, offset, layout, k.data());
      const float* v = row0 + (N + Nkv + kvh) * H;
      float* o = out + start * ldo + h * H;
      for (int64_t i0 = 0; i0 < len; i0 += kQueryBlock) {
        const int64_t i1 = std::min(len, i0 + kQueryBlock);
        const int64_t bq = i1 - i0;
        // Keys [klo, khi) that some query of the block may see.
        const int64_t klo = left < 0 ? 0 : std::max<int64_t>(0, i0 - left);
        const int64_t khi = right < 0 ? len : std::min(len, i1 + right);
        const int64_t span = khi - klo;
        float* s = scores.data();
        if (dnnl_sgemm('N', 'T', bq, span, H, scale, q.data() + i0 * H, H,
                       k.data() + klo * H, H, 0.f, s, span) != dnnl_success) {
#pragma omp atomic write
          error = 1;
          break;
        }
        for (int64_t r = 0; r < bq; ++r) {
          const int64_t i = i0 + r;
          const int64_t lo = (left < 0 ? 0 : std::max<int64_t>(0, i - left)) - klo;
          const int64_t hi = (right < 0 ? len : std::min(len, i + right + 1)) - klo;
          float* row = s + r * span;
          std::fill(row, row + lo, 0.f);
          SoftmaxRows(row + lo, 1, hi - lo, span);
          std::fill(row + hi, row + span, 0.f);
        }
        if (dnnl_sgemm('N', 'N', bq, H, span, 1.f, s, span, v + klo * ld, ld, 0.f,
                       o + i0 * ldo, ldo) != dnnl_success) {
#pragma omp atomic write
          error = 1;
          break;
        }
      }
    }
  }
  if (error) return InternalError("cpu attention: oneDNN product failed");
  return OkStatus();
}

}  // namespace floe::cpu
