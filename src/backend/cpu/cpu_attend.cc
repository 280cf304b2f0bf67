// The CPU backend's general attention (backend/ops.h: AttentionSpec):
// causal and sliding-window masks, grouped KV heads, per-head Q/K RMSNorm
// and rotary, on packed sequences.
//
// One job per (sequence, query head). Its K head is copied out (normalised
// and rotated as the spec asks); then queries go in blocks of kQueryBlock
// rows, flash-attention style: over the keys some row of the block may see
// (a band for causal and windowed masks, so masked-out blocks cost nothing),
// in blocks of kKeyBlock keys, S = scale Q_blk K_blk^T, each row's online
// softmax (running max and sum, SoftmaxStep) over its own allowed keys, the
// float32 accumulator rescaled and A += P V_blk; O_blk = A / sum. The working
// set (Q, K, V blocks, S, A: about 0.5 MB at H = 128) stays in L2 at any
// length; memory per thread is O(len * H). The products are single-threaded
// oneDNN sgemm calls inside the OpenMP region, as in cpu_attention.cc.
#include <algorithm>
#include <cmath>
#include <vector>

#include "backend/cpu/cpu_backend_impl.h"
#include "backend/cpu/kernels.h"

namespace floe::cpu {
namespace {

constexpr int64_t kQueryBlock = 128;
constexpr int64_t kKeyBlock = 256;

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

Status CpuBackend::Attend(const TensorView& qkv_view, const PackedBatch& batch,
                          const AttentionSpec& spec, const TensorView& out_view) {
  if (Status s = CheckAttend(*this, qkv_view, batch, spec, out_view); !s.ok()) return s;
  const float* qkv = qkv_view.f32();
  float* out = out_view.f32();
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
    std::vector<float> q(static_cast<size_t>(kQueryBlock * H));
    std::vector<float> k(static_cast<size_t>(max_len * H));
    std::vector<float> scores(static_cast<size_t>(kQueryBlock * kKeyBlock));
    std::vector<float> acc(q.size()), run_max(kQueryBlock), run_sum(kQueryBlock);
#pragma omp for schedule(dynamic, 1)
    for (int64_t j = 0; j < jobs; ++j) {
      const int64_t b = order[j / N];
      const int64_t h = j % N;
      const int64_t kvh = h / group;
      const int64_t start = cu[b];
      const int64_t len = cu[b + 1] - cu[b];
      const float* row0 = qkv + start * ld;
      PrepareHead(row0 + (N + kvh) * H, ld, len, H, spec.k_norm, spec.qk_norm_eps, table,
                  dims, offset, layout, k.data());
      const float* v = row0 + (N + Nkv + kvh) * H;
      float* o = out + start * ldo + h * H;
      for (int64_t i0 = 0; i0 < len; i0 += kQueryBlock) {
        const int64_t i1 = std::min(len, i0 + kQueryBlock);
        const int64_t bq = i1 - i0;
        PrepareHead(row0 + i0 * ld + h * H, ld, bq, H, spec.q_norm, spec.qk_norm_eps,
                    table == nullptr ? nullptr : table + i0 * dims, dims, offset, layout,
                    q.data());
        // Keys [klo, khi) that some query of the block may see.
        const int64_t klo = left < 0 ? 0 : std::max<int64_t>(0, i0 - left);
        const int64_t khi = right < 0 ? len : std::min(len, i1 + right);
        std::fill(acc.begin(), acc.begin() + bq * H, 0.f);
        std::fill(run_max.begin(), run_max.end(), -INFINITY);
        std::fill(run_sum.begin(), run_sum.end(), 0.f);
        for (int64_t k0 = klo; k0 < khi; k0 += kKeyBlock) {
          const int64_t k1 = std::min(khi, k0 + kKeyBlock);
          const int64_t bk = k1 - k0;
          float* s = scores.data();
          if (dnnl_sgemm('N', 'T', bq, bk, H, scale, q.data(), H, k.data() + k0 * H, H, 0.f,
                         s, bk) != dnnl_success) {
#pragma omp atomic write
            error = 1;
            break;
          }
          for (int64_t r = 0; r < bq; ++r) {
            const int64_t i = i0 + r;
            // This row's allowed keys within the block, [lo, hi) from k0.
            const int64_t lo =
                std::max<int64_t>(0, (left < 0 ? 0 : i - left) - k0);
            const int64_t hi = std::min(bk, (right < 0 ? len : i + right + 1) - k0);
            float* row = s + r * bk;
            if (lo >= hi) {
              std::fill(row, row + bk, 0.f);
              continue;
            }
            std::fill(row, row + lo, 0.f);
            std::fill(row + hi, row + bk, 0.f);
            const float f = SoftmaxStep(row + lo, hi - lo, &run_max[r], &run_sum[r]);
            if (f != 1.f) {
              float* a = acc.data() + r * H;
              for (int64_t e = 0; e < H; ++e) a[e] *= f;
            }
          }
          if (dnnl_sgemm('N', 'N', bq, H, bk, 1.f, s, bk, v + k0 * ld, ld, 1.f, acc.data(),
                         H) != dnnl_success) {
#pragma omp atomic write
            error = 1;
            break;
          }
        }
        for (int64_t r = 0; r < bq; ++r) {
          const float inv = 1.f / run_sum[r];
          const float* a = acc.data() + r * H;
          float* d = o + (i0 + r) * ldo;
          for (int64_t e = 0; e < H; ++e) d[e] = a[e] * inv;
        }
      }
    }
  }
  if (error) return InternalError("cpu attention: oneDNN product failed");
  return OkStatus();
}

}  // namespace floe::cpu
