// The CPU backend's class, shared by its files: one file per op family
// (cpu_backend.cc: creation, memory, threads; cpu_linear.cc: oneDNN
// products; cpu_embed.cc, cpu_norm.cc, cpu_attention.cc, cpu_pool.cc, and
// the ops of the newer encoders). Internal to src/backend/cpu.
#pragma once

#include <omp.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "backend/backend.h"
#include "backend/cpu/attention_bf16.h"
#include "backend/cpu/cpu_matmul.h"
#include "backend/cpu/linear_f32.h"
#include "dnnl.hpp"

namespace floe::cpu {

// Row kernels of the newer ops, on the calling thread.
// y = x / sqrt(mean(x^2) + eps) * (w + w_offset) + b over n floats (w, b may
// be null); x may equal y. Float32 sums (cpu_norm.cc).
void RmsNormRow(const float* x, int64_t n, const float* w, const float* b, float w_offset,
                float eps, float* y);
// Rotates the first `dims` floats of one head of x by the (cos, sin) pairs
// cs[0 .. dims) of its position (cpu_rotary.cc).
void RotateHead(float* x, const float* cs, int64_t dims, RotaryLayout layout);
// The batch's sequences, longest first, so that a dynamic schedule over
// them ends evenly (cpu_attention.cc).
std::vector<int32_t> LongestFirst(const PackedBatch& batch);

class CpuBackend : public Backend {
 public:
  CpuBackend(const RuntimeOptions& options, ComputeType ct);

  std::string device() const override { return "cpu"; }
  Device tensor_device() const override { return Device::Cpu(); }
  ComputeType compute_type() const override { return ct_; }

  // bfloat16: plain bf16 products (bf16 operands, float32 accumulation),
  // Q, K, V (kHigh) too, as OpenVINO runs them. The golden texts stay at
  // 0.99999x cosine, trained all-MiniLM-L6-v2 at 0.99995; a base-sized random
  // model with nearly hard attention drops to 0.967 (docs/cpu-performance.md).
  // FLOE_CPU_BF16_HIGH=bf16x3 splits Q, K, V (0.989 there, at 48% more
  // product time); FLOE_CPU_BF16_PRODUCTS=bf16x3 splits every product
  // (0.9999997, at 1.2x float32's speed instead of ~2x); bf16x2 or f32
  // choose other modes. Where oneDNN's bf16 products are slow
  // (NativeBf16Products), bf16 weights instead.
  ProductMode ModeFor(LinearPrecision p) const;
  // Whether bfloat16 runs as oneDNN's bf16 products (else as bf16 weights
  // with float32 arithmetic, cpu_linear_bf16w.cc): the CPU and
  // FLOE_CPU_BF16_PRODUCTS decide (cpu_linear.cc).
  static bool NativeBf16Products();

  // A product of m rows runs as chunks of 4096, 2048, 1024 and 512 rows
  // (greedy), then one last chunk: exact below kExactRows rows (a lone short
  // text, where padding would be up to 12% more work), else padded to a
  // multiple of 8 (at most 7 padding rows). So at most 63 + 56 primitives per
  // weight shape whatever the batch sizes, and few calls (few OpenMP
  // barriers) per product.
  static constexpr int64_t kChunkRows = 512;
  static constexpr int64_t kRowGranule = 8;
  static constexpr int64_t kExactRows = 64;
  // Rows up to which bf16-weight products run on floe's kernel (measured:
  // docs/cpu-performance.md, issue 16).
  static constexpr int64_t kBf16wRows = 64;
  // Float32 products of up to kF32SmallRows rows (one short text) run on
  // floe's kernel (linear_f32.h) where it runs on this CPU and oneDNN packed
  // the weight as panels; FLOE_CPU_F32_SMALL_ROWS sets the limit (0: always
  // oneDNN; at most kExactRows - 1, below any padding), for measuring.
  static constexpr int64_t kF32SmallRows = 16;
  int64_t f32_small_rows() const { return f32_small_rows_; }
  int64_t RoundUpRows(int64_t m) const override {
    if (m < kExactRows) return m;
    return (m + kRowGranule - 1) / kRowGranule * kRowGranule;
  }
  // Rows of the next chunk of a (padded) product with `left` rows to go.
  int64_t NextChunk(int64_t left) const {
    for (int64_t c = max_chunk_rows_; c >= kChunkRows; c /= 2) {
      if (left >= c) return c;
    }
    return left;
  }

  StatusOr<std::unique_ptr<DeviceBuffer>> Allocate(size_t bytes) override;
  Status CopyToDevice(const void* host, size_t bytes, void* device) override;
  Status CopyToHost(const void* device, size_t bytes, void* host) override;
  using Backend::CopyToDevice;
  using Backend::CopyToHost;

  // cpu_linear.cc
  StatusOr<std::unique_ptr<LinearOp>> CreateLinear(const LinearSpec& spec) override;

  // cpu_linear_bf16w.cc: bfloat16 on CPUs without AVX512_BF16 (ModeFor's
  // bf16_weights). Products of at most bf16w_rows() rows run on floe's
  // bf16-weight kernel, larger ones widen the weight into Bf16wScratch and
  // run oneDNN's float32 product. FLOE_CPU_BF16W_ROWS sets the limit (0:
  // always widen; for measuring).
  StatusOr<std::unique_ptr<LinearOp>> CreateBf16WeightLinear(const LinearSpec& spec);
  int64_t bf16w_rows() const { return bf16w_rows_; }
  float* Bf16wScratch(size_t n) {
    if (bf16w_scratch_.size() < n) bf16w_scratch_.resize(n);
    return bf16w_scratch_.data();
  }
  // y[m, n] = act(y), oneDNN's eltwise (as the fused post-ops compute it).
  // Throws dnnl::error.
  void ActivateInPlace(Activation act, float* y, int64_t m, int64_t n);

  // cpu_embed.cc
  Status EmbedLayerNorm(const int32_t* ids, const PackedBatch& batch,
                        const EmbeddingTables& tables, float eps,
                        const TensorView& out) override;

  // cpu_norm.cc
  Status LayerNorm(const TensorView& x, const float* gamma, const float* beta,
                   float eps) override;

  // cpu_attention.cc
  static constexpr int64_t kBf16ValueMinLen = 128;
  // Sequences up to this length attend on AttendShortHead (kernels.h), not
  // sgemm; FLOE_CPU_SHORT_ATTENTION sets it (0: never), for measuring.
  static constexpr int64_t kShortAttention = 32;
  Status Attention(const TensorView& qkv, const PackedBatch& batch, int64_t num_heads,
                   int64_t head_size, float scale, const TensorView& out) override;

  // cpu_pool.cc
  Status Pool(const TensorView& hidden, const PackedBatch& batch, PoolKind kind,
              const TensorView& out) override;

  // The ops of the newer encoders (backend/ops.h): cpu_norm.cc,
  // cpu_activation.cc, cpu_rotary.cc, cpu_attend.cc.
  Status RmsNorm(const TensorView& x, const RmsNormSpec& spec) override;
  Status Activate(const TensorView& x, Activation act) override;
  Status GatedActivation(const TensorView& x, Activation act,
                         const TensorView& out) override;
  Status Rotary(const TensorView& x, int64_t num_heads, int64_t head_size,
                const PackedBatch& batch, const RotarySpec& spec) override;
  Status Attend(const TensorView& qkv, const PackedBatch& batch,
                const AttentionSpec& spec, const TensorView& out) override;

  // cos and sin of every (position, pair) of `spec` for positions below
  // `positions`: [positions, rotary_dims] as (cos, sin) pairs, angles in
  // float64, kept per (base, dims, scale) and grown on demand. Call before
  // an op's threads start.
  const float* RotaryTable(const RotarySpec& spec, int64_t head_size, int64_t positions);

  // Row ops (norms, embeddings, pooling) over fewer elements run on the
  // calling thread: on one short text (12 rows x 384) their work is well
  // under a microsecond, less than an OpenMP region's fork and join.
  static constexpr int64_t kSerialElements = 16384;
  static bool Parallel(int64_t elements) { return elements >= kSerialElements; }

  // OpenMP's thread count is per calling thread, and the engine may be driven
  // from another thread than the one that created it: every op sets it.
  void UseThreads() const {
    const int n = options().num_threads;  // 0 = OpenMP's default (all cores)
    if (n > 0 && omp_get_max_threads() != n) omp_set_num_threads(n);
  }

  // Activations of a bf16 product, converted from float32 (grown on demand).
  uint16_t* Bf16Staging(size_t n) {
    if (bf16_staging_.size() < n) bf16_staging_.resize(n);
    return bf16_staging_.data();
  }

  // Activations of an int8 product.
  // Quantized activations of an int8 product ([rows, k]), their row
  // scales ([rows]) and the raw product ([rows, n]).
  int8_t* S8Staging(int64_t rows, int64_t k, int64_t n, float** row_scales, float** acc) {
    const int64_t rows16 = (rows + 15) / 16 * 16;
    if (s8_staging_.size() < static_cast<size_t>(rows * k)) s8_staging_.resize(rows * k);
    if (s8_scratch_.size() < static_cast<size_t>(rows16 + rows * n)) {
      s8_scratch_.resize(rows16 + rows * n);
    }
    *row_scales = s8_scratch_.data();
    *acc = s8_scratch_.data() + rows16;
    return s8_staging_.data();
  }

  // Rows one int8 product quantized for the next (LinearOp::ForwardInto):
  // [rows, k] and their scales ([rows]); apart from S8Staging's.
  int8_t* S8Handoff(int64_t rows, int64_t k, float** scales) {
    if (s8_handoff_.size() < static_cast<size_t>(rows * k)) s8_handoff_.resize(rows * k);
    if (s8_handoff_scales_.size() < static_cast<size_t>(rows)) s8_handoff_scales_.resize(rows);
    *scales = s8_handoff_scales_.data();
    return s8_handoff_.data();
  }

  dnnl::engine& engine() { return eng_; }
  dnnl::stream& stream() { return stream_; }

 private:
  ComputeType ct_;
  int64_t max_chunk_rows_ = 4096;
  dnnl::engine eng_;
  dnnl::stream stream_;
  bool bf16_attention_ = false;
  // One primitive per sequence length from kBf16ValueMinLen to the longest seen.
  Bf16ValueProducts bf16_values_{&eng_};
  std::vector<uint16_t> bf16_staging_;
  std::vector<int8_t> s8_staging_;
  std::vector<float> s8_scratch_;
  std::vector<int8_t> s8_handoff_;
  std::vector<float> s8_handoff_scales_;
  std::map<std::tuple<int64_t, int64_t, int, bool, int, int64_t>,
           std::unique_ptr<MatmulFamily>>
      families_;
  int64_t s8_linears_ = 0;
  // bf16-weight Linears (cpu_linear_bf16w.cc): float32 families with plain
  // weights per (k, n, activation, accumulate), the widened weight, and the
  // activations of the kernel's products per (activation, m, n).
  int64_t bf16w_rows_ = kBf16wRows;
  F32Kernel f32_kernel_ = F32Kernel::kNone;
  int64_t f32_small_rows_ = kF32SmallRows;
  int64_t short_attention_ = kShortAttention;
  int64_t f32_prefetch_rows_ = kF32PrefetchRows;  // FLOE_CPU_F32_PREFETCH_ROWS, for measuring
  int64_t f32_chunk_rows_ = kF32ChunkRows;        // FLOE_CPU_F32_CHUNK_ROWS (0: whole k)
  std::map<std::tuple<int64_t, int64_t, int, bool>, std::unique_ptr<MatmulFamily>>
      bf16w_families_;
  std::vector<float> bf16w_scratch_;
  std::map<std::tuple<int, int64_t, int64_t>, dnnl::eltwise_forward> eltwise_;
  struct RotaryCache {
    double base = 0, scale = 0;
    int64_t dims = 0, positions = 0;
    std::vector<float> cos_sin;
  };
  std::vector<RotaryCache> rotary_;
};

}  // namespace floe::cpu
