// CPU backend (float32, or bfloat16 products with float32 accumulation).
// Matrix products are oneDNN matmul primitives: each weight is
// reordered once into the blocked layout oneDNN picks, and primitives are
// kept per (shape, fused ops, padded row count) so the 12 layers of a model
// share them. Rows go in chunks of a few sizes (see NextChunk), so a server
// sees a bounded number of primitives, not one per batch size.
#include "backend/cpu/cpu_backend.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <tuple>
#include <vector>

#include "backend/cpu/attention_bf16.h"
#include "backend/cpu/kernels.h"
#include "core/log.h"
#include "dnnl.hpp"

namespace floe {
namespace {

using dnnl::memory;
using Dims = memory::dims;

class CpuBuffer : public DeviceBuffer {
 public:
  CpuBuffer(void* p, size_t n) : p_(p), n_(n) {}
  ~CpuBuffer() override { std::free(p_); }
  void* data() override { return p_; }
  size_t size() const override { return n_; }

 private:
  void* p_;
  size_t n_;
};

Status DnnlError(const std::string& what, const dnnl::error& e) {
  return InternalError(what + ": oneDNN: " + e.what());
}

dnnl::algorithm EltwiseFor(Activation a) {
  switch (a) {
    case Activation::kGeluErf: return dnnl::algorithm::eltwise_gelu_erf;
    case Activation::kGeluTanh: return dnnl::algorithm::eltwise_gelu_tanh;
    case Activation::kRelu: return dnnl::algorithm::eltwise_relu;
    case Activation::kNone: break;
  }
  return dnnl::algorithm::undef;
}

// Everything the products of one weight shape + fused ops share: the packed
// weight layout and one primitive per padded row count.
class MatmulFamily {
 public:
  // `in` is the type of activations and weights: f32, bf16 (f32
  // accumulation and output), or s8: int32 accumulation, the output scaled
  // per column by the weight's per-channel scales (static output scales, so
  // an s8 family belongs to one weight), then Epilogue applies the
  // activations' per-row scales, bias, activation and residual. oneDNN 2.6
  // runs runtime output scales on gemm:jit and a per-row [M, 1] binary
  // post-op on its reference kernel, hence the separate epilogue, which keeps
  // the product on brgemm AMX/VNNI and per-row scales (a text's vector does
  // not depend on its batch).
  MatmulFamily(dnnl::engine* eng, int64_t k, int64_t n, Activation act, bool accumulate,
               int64_t reference_rows, memory::data_type in,
               std::vector<float> weight_scales = {})
      : eng_(eng),
        k_(k),
        n_(n),
        act_(act),
        accumulate_(accumulate),
        in_(in),
        weight_scales_(std::move(weight_scales)) {
    // Let oneDNN choose the weight layout for a typical batch; every later
    // primitive is created for that same layout.
    const memory::desc src({reference_rows, k_}, in_, memory::format_tag::ab);
    const memory::desc wei({k_, n_}, in_, memory::format_tag::any);
    const memory::desc dst({reference_rows, n_}, memory::data_type::f32, memory::format_tag::ab);
    dnnl::matmul::primitive_desc pd(MakeDesc(src, wei, dst), Attr(reference_rows), *eng_);
    weights_md_ = pd.weights_desc();
    impl_ = pd.impl_info_str();
    prims_.emplace(reference_rows, dnnl::matmul(pd));
  }

  bool int8() const { return in_ == memory::data_type::s8; }

  // int8 only: y = act(acc * xscale[row] + bias) (+ y), acc [rows, n] being
  // the product with the weight's scales applied. Throws dnnl::error.
  dnnl::binary& Epilogue(int64_t rows) {
    auto it = epilogues_.find(rows);
    if (it != epilogues_.end()) return it->second;
    const memory::desc acc({rows, n_}, memory::data_type::f32, memory::format_tag::ab);
    const memory::desc scale({rows, 1}, memory::data_type::f32, memory::format_tag::ab);
    dnnl::primitive_attr attr;
    dnnl::post_ops po;
    po.append_binary(dnnl::algorithm::binary_add,
                     memory::desc({1, n_}, memory::data_type::f32, memory::format_tag::ab));
    if (act_ != Activation::kNone) po.append_eltwise(1.f, EltwiseFor(act_), 0.f, 0.f);
    if (accumulate_) po.append_sum(1.f);
    attr.set_post_ops(po);
    dnnl::binary::primitive_desc pd(
        dnnl::binary::desc(dnnl::algorithm::binary_mul, acc, scale, acc), attr, *eng_);
    return epilogues_.emplace(rows, dnnl::binary(pd)).first->second;
  }

  const memory::desc& weights_md() const { return weights_md_; }
  memory::data_type input_type() const { return in_; }

  // Throws dnnl::error.
  dnnl::matmul& Get(int64_t rows) {
    auto it = prims_.find(rows);
    if (it != prims_.end()) return it->second;
    const memory::desc src({rows, k_}, in_, memory::format_tag::ab);
    const memory::desc dst({rows, n_}, memory::data_type::f32, memory::format_tag::ab);
    dnnl::matmul::primitive_desc pd(MakeDesc(src, weights_md_, dst), Attr(rows), *eng_);
    const std::string impl = pd.impl_info_str();
    if (impl != impl_) {
      LogOnce(LogLevel::kWarn, "matmul-impl-" + std::to_string(k_) + "x" + std::to_string(n_),
              "oneDNN matmul " + std::to_string(k_) + "x" + std::to_string(n_) + " uses " + impl +
                  " at " + std::to_string(rows) + " rows (" + impl_ + " elsewhere)");
    }
    return prims_.emplace(rows, dnnl::matmul(pd)).first->second;
  }

 private:
  dnnl::matmul::desc MakeDesc(const memory::desc& src, const memory::desc& wei,
                              const memory::desc& dst) const {
    if (int8()) return dnnl::matmul::desc(src, wei, dst);
    const memory::desc bias({1, n_}, memory::data_type::f32, memory::format_tag::ab);
    return dnnl::matmul::desc(src, wei, bias, dst);
  }
  dnnl::primitive_attr Attr(int64_t rows) const {
    dnnl::primitive_attr attr;
    dnnl::post_ops po;
    if (int8()) {
      // Only the weight's scales here; the rest is Epilogue's.
      attr.set_output_scales(1 << 1, weight_scales_);
      return attr;
    }
    if (act_ != Activation::kNone) po.append_eltwise(1.f, EltwiseFor(act_), 0.f, 0.f);
    if (accumulate_) po.append_sum(1.f);
    attr.set_post_ops(po);
    return attr;
  }

  dnnl::engine* eng_;
  int64_t k_, n_;
  Activation act_;
  bool accumulate_;
  memory::data_type in_;
  std::vector<float> weight_scales_;
  std::map<int64_t, dnnl::binary> epilogues_;
  memory::desc weights_md_;
  std::string impl_;
  std::map<int64_t, dnnl::matmul> prims_;
};

// How one product runs: operand type, and for bf16 how many bf16 parts carry
// each operand (1: plain bf16; 2: activation as hi + lo, weight hi; 3: both
// as hi + lo, the lo x lo term dropped, about 16 significant bits).
struct ProductMode {
  memory::data_type dt = memory::data_type::f32;
  int parts = 0;
};

// "f32" | "bf16" | "bf16x2" | "bf16x3"; `fallback` otherwise.
ProductMode ParseMode(const char* s, ProductMode fallback) {
  if (s == nullptr) return fallback;
  const std::string v = s;
  if (v == "f32") return {memory::data_type::f32, 0};
  if (v == "bf16") return {memory::data_type::bf16, 1};
  if (v == "bf16x2") return {memory::data_type::bf16, 2};
  if (v == "bf16x3") return {memory::data_type::bf16, 3};
  if (v == "s8") return {memory::data_type::s8, 0};
  return fallback;
}

class CpuBackend;

class CpuLinear : public LinearOp {
 public:
  CpuLinear(CpuBackend* backend, MatmulFamily* family, int64_t k, int64_t n, int parts,
            memory weights, memory bias, std::string name)
      : backend_(backend),
        family_(family),
        k_(k),
        n_(n),
        parts_(parts),
        weights_(std::move(weights)),
        bias_(std::move(bias)),
        name_(std::move(name)) {}

  Status Forward(const float* x, int64_t m, float* y) override;
  int64_t in_features() const override { return k_; }
  int64_t out_features() const override { return n_; }

 private:
  CpuBackend* backend_;
  MatmulFamily* family_;
  int64_t k_, n_;
  int parts_;  // bf16 parts per operand (1, 2, 3); 0 for float32
  memory weights_;
  memory bias_;
  std::string name_;
};

class CpuBackend : public Backend {
 public:
  CpuBackend(ComputeType ct, int num_threads)
      : ct_(ct), num_threads_(num_threads), eng_(dnnl::engine::kind::cpu, 0), stream_(eng_) {
    // FLOE_CPU_MAX_CHUNK (512..4096, a power of two) is for measuring.
    if (const char* env = std::getenv("FLOE_CPU_MAX_CHUNK")) {
      const int64_t v = std::atoll(env);
      if (v >= kChunkRows && v <= 4096 && (v & (v - 1)) == 0) max_chunk_rows_ = v;
    }
    // Attention's P V in bf16: not in float32, nor where every product is
    // split for accuracy (FLOE_CPU_BF16_PRODUCTS=bf16x3).
    bf16_attention_ = ct_ == ComputeType::kInt8 ||
                      (ct_ == ComputeType::kBFloat16 &&
                       ModeFor(LinearPrecision::kDefault).parts == 1);
  }

  std::string device() const override { return "cpu"; }
  ComputeType compute_type() const override { return ct_; }

  // bfloat16: plain bf16 products (bf16 operands, float32 accumulation) by
  // default, except kHigh ones (Q, K, V), which run split (bf16x3: about
  // float32's accuracy at three bf16 products' cost) because attention
  // scores amplify their rounding most. The golden texts stay at 0.99999x
  // cosine; a base-sized random model with nearly hard attention loses up to
  // 0.007 (docs/cpu-performance.md). FLOE_CPU_BF16_PRODUCTS=bf16x3 splits
  // every product (0.9999997 there, at 1.2x float32's speed instead of ~2x);
  // bf16x2 or f32 choose other modes for the kDefault products; kHigh ones
  // stay split whatever it says (unless f32).
  ProductMode ModeFor(LinearPrecision p) const {
    if (ct_ == ComputeType::kInt8) {
      // int8: weights s8 per output channel, activations s8 per row
      // (dynamic); kHigh products (Q, K, V) as plain bf16: splitting them
      // (FLOE_CPU_INT8_HIGH=bf16x3) costs a quarter of the time and changes
      // the cosine by < 0.005, as int8's own rounding dominates; s8 there
      // loses 0.04 on the random base model. See docs/cpu-performance.md.
      if (p == LinearPrecision::kHigh) {
        return ParseMode(std::getenv("FLOE_CPU_INT8_HIGH"), {memory::data_type::bf16, 1});
      }
      // kNoInt8 (the FFN down projection) as plain bf16: in s8 it alone costs
      // the real all-MiniLM-L6-v2 0.005 of cosine on 4-token texts (min 0.988
      // with it, 0.994 without). FLOE_CPU_INT8_FFN_OUT=s8 restores it.
      if (p == LinearPrecision::kNoInt8) {
        return ParseMode(std::getenv("FLOE_CPU_INT8_FFN_OUT"), {memory::data_type::bf16, 1});
      }
      return ParseMode(std::getenv("FLOE_CPU_INT8_PRODUCTS"), {memory::data_type::s8, 0});
    }
    if (ct_ != ComputeType::kBFloat16) return {};
    const ProductMode split{memory::data_type::bf16, 3};
    const ProductMode chosen =
        ParseMode(std::getenv("FLOE_CPU_BF16_PRODUCTS"), {memory::data_type::bf16, 1});
    if (p == LinearPrecision::kHigh && chosen.dt == memory::data_type::bf16) return split;
    return chosen;
  }

  // A product of m rows runs as chunks of 4096, 2048, 1024 and 512 rows
  // (greedy), then one last chunk: exact below kExactRows rows (a lone short
  // text, where padding would be up to 12% more work), else padded to a
  // multiple of 8 (at most 7 padding rows). So at most 63 + 56 primitives per
  // weight shape whatever the batch sizes, and few calls (few OpenMP
  // barriers) per product.
  static constexpr int64_t kChunkRows = 512;
  static constexpr int64_t kRowGranule = 8;
  static constexpr int64_t kExactRows = 64;
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

  StatusOr<std::unique_ptr<DeviceBuffer>> Allocate(size_t bytes) override {
    const size_t n = std::max<size_t>(64, (bytes + 63) / 64 * 64);
    void* p = std::aligned_alloc(64, n);
    if (p == nullptr) {
      return ResourceExhaustedError("cpu: cannot allocate " + std::to_string(bytes) + " bytes");
    }
    std::memset(p, 0, n);
    return std::unique_ptr<DeviceBuffer>(new CpuBuffer(p, bytes));
  }
  Status CopyToDevice(const void* host, size_t bytes, void* device) override {
    std::memcpy(device, host, bytes);
    return OkStatus();
  }
  Status CopyToHost(const void* device, size_t bytes, void* host) override {
    std::memcpy(host, device, bytes);
    return OkStatus();
  }

  StatusOr<std::unique_ptr<LinearOp>> CreateLinear(const LinearSpec& spec) override {
    if (spec.weight == nullptr || spec.in_features <= 0 || spec.out_features <= 0) {
      return InvalidArgumentError("linear " + spec.name + ": empty weight");
    }
    try {
      const ProductMode mode = ModeFor(spec.precision);
      const int64_t k_eff = spec.in_features * std::max(1, mode.parts);
      const bool s8 = mode.dt == memory::data_type::s8;
      // Symmetric per output channel: W[n] ~ wscale[n] * q[n], |q| <= 127.
      std::vector<float> wscale;
      std::vector<int8_t> q;
      if (s8) {
        const int64_t K = spec.in_features, N = spec.out_features;
        wscale.resize(N);
        q.resize(static_cast<size_t>(N * K));
        for (int64_t n = 0; n < N; ++n) {
          const float* w = spec.weight + n * K;
          float mx = 0.f;
          for (int64_t i = 0; i < K; ++i) mx = std::max(mx, std::fabs(w[i]));
          wscale[n] = mx > 0.f ? mx / 127.f : 1.f;
          const float inv = 1.f / wscale[n];
          for (int64_t i = 0; i < K; ++i) {
            q[n * K + i] = static_cast<int8_t>(std::lrint(std::clamp(w[i] * inv, -127.f, 127.f)));
          }
        }
      }
      const auto key = std::make_tuple(k_eff, spec.out_features,
                                       static_cast<int>(spec.activation), spec.accumulate,
                                       static_cast<int>(mode.dt),
                                       s8 ? static_cast<int64_t>(++s8_linears_) : int64_t{0});
      auto& fam = families_[key];
      if (!fam) {
        fam = std::make_unique<MatmulFamily>(&eng_, k_eff, spec.out_features, spec.activation,
                                             spec.accumulate, kChunkRows, mode.dt,
                                             std::move(wscale));
      }
      // The stored weight is [out, in] row-major, i.e. W^T of shape {in, out}
      // in "ba" order. Split products stack the weight's bf16 parts along
      // the inner dimension to match the activation's parts (see
      // cpu::SplitToBf16): [hi ; hi] for 2, [hi ; hi ; lo] for 3.
      std::vector<float> split;
      const float* wsrc = spec.weight;
      if (mode.parts >= 2) {
        const int64_t K = spec.in_features;
        split.resize(static_cast<size_t>(spec.out_features * k_eff));
        for (int64_t n = 0; n < spec.out_features; ++n) {
          const float* w = spec.weight + n * K;
          float* o = split.data() + n * k_eff;
          for (int64_t i = 0; i < K; ++i) {
            const float hi = cpu::Bf16RoundTrip(w[i]);
            o[i] = hi;
            o[K + i] = hi;
            if (mode.parts == 3) o[2 * K + i] = cpu::Bf16RoundTrip(w[i] - hi);
          }
        }
        wsrc = split.data();
      }
      memory packed(fam->weights_md(), eng_);
      if (s8) {
        memory user(memory::desc({spec.in_features, spec.out_features}, memory::data_type::s8,
                                 memory::format_tag::ba),
                    eng_, q.data());
        dnnl::reorder(user, packed).execute(stream_, user, packed);
        stream_.wait();
      } else {
        const memory::desc user_md({k_eff, spec.out_features}, memory::data_type::f32,
                                   memory::format_tag::ba);
        memory user(user_md, eng_, const_cast<float*>(wsrc));
        dnnl::reorder(user, packed).execute(stream_, user, packed);
      }
      memory bias(memory::desc({1, spec.out_features}, memory::data_type::f32,
                               memory::format_tag::ab),
                  eng_);
      float* b = static_cast<float*>(bias.get_data_handle());
      if (spec.bias != nullptr) {
        std::memcpy(b, spec.bias, spec.out_features * sizeof(float));
      } else {
        std::memset(b, 0, spec.out_features * sizeof(float));
      }
      stream_.wait();
      return std::unique_ptr<LinearOp>(new CpuLinear(this, fam.get(), spec.in_features,
                                                     spec.out_features, mode.parts,
                                                     std::move(packed), std::move(bias),
                                                     spec.name));
    } catch (const dnnl::error& e) {
      return DnnlError("linear " + spec.name, e);
    }
  }

  Status EmbedLayerNorm(const int32_t* ids, const PackedBatch& batch, const float* word,
                        const float* position, const float* token_type0, const float* gamma,
                        const float* beta, int64_t hidden, float eps, float* out) override {
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
      cpu::LayerNormRow(o, hidden, gamma, beta, eps, o);
    }
    return OkStatus();
  }

  Status LayerNorm(float* x, int64_t rows, int64_t hidden, const float* gamma, const float* beta,
                   float eps) override {
    UseThreads();
#pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < rows; ++r) {
      cpu::LayerNormRow(x + r * hidden, hidden, gamma, beta, eps, x + r * hidden);
    }
    return OkStatus();
  }

  // One job per (sequence, head): S = scale * Q K^T, softmax rows, O = S V.
  // S and, in float32, O are single-threaded oneDNN sgemm calls (each runs
  // on one thread inside an OpenMP parallel region) reading Q, K, V in place
  // through their strides and writing O straight into the context matrix.
  // With plain bfloat16 or int8 products, O = P V of sequences of at least
  // kBf16ValueMinLen tokens runs in bf16 (cpu/attention_bf16.h).
  static constexpr int64_t kBf16ValueMinLen = 128;
  Status Attention(const float* qkv, const PackedBatch& batch, int64_t num_heads,
                   int64_t head_size, float scale, float* out) override {
    UseThreads();
    const int64_t D = num_heads * head_size;
    const int64_t ld_qkv = 3 * D;
    const int32_t* cu = batch.cu_seqlens_host;
    // Longest sequences first so that the dynamic schedule ends evenly.
    std::vector<int32_t> order(batch.num_seqs);
    for (int64_t b = 0; b < batch.num_seqs; ++b) order[b] = static_cast<int32_t>(b);
    std::stable_sort(order.begin(), order.end(), [&](int32_t a, int32_t b) {
      return cu[a + 1] - cu[a] > cu[b + 1] - cu[b];
    });
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
      std::vector<float> scores(static_cast<size_t>(max_len * max_len));
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
        if (dnnl_sgemm('N', 'T', len, len, head_size, scale, q, ld_qkv, k, ld_qkv, 0.f, s, len) !=
            dnnl_success) {
#pragma omp atomic write
          error = 1;
          continue;
        }
        if (bf16_values && len >= kBf16ValueMinLen) {
          cpu::SoftmaxRowsToBf16(s, len, len, len, p16.data(), len);
          try {
            bf16_values_.Run(p16.data(), v, ld_qkv, len, head_size, o, D, v16.data());
          } catch (const dnnl::error&) {
#pragma omp atomic write
            error = 1;
          }
          continue;
        }
        cpu::SoftmaxRows(s, len, len, len);
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

  Status Pool(const float* hidden, const PackedBatch& batch, int64_t dim, PoolKind kind,
              float* out) override {
    UseThreads();
    const int32_t* cu = batch.cu_seqlens_host;
    const int64_t B = batch.num_seqs;
#pragma omp parallel for schedule(static)
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

  // OpenMP's thread count is per calling thread, and the engine may be driven
  // from another thread than the one that created it: every op sets it.
  void UseThreads() const {
    if (num_threads_ > 0 && omp_get_max_threads() != num_threads_) {
      omp_set_num_threads(num_threads_);
    }
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

  dnnl::engine& engine() { return eng_; }
  dnnl::stream& stream() { return stream_; }

 private:
  ComputeType ct_;
  int num_threads_;  // 0 = OpenMP's default (all cores)
  int64_t max_chunk_rows_ = 4096;
  dnnl::engine eng_;
  dnnl::stream stream_;
  bool bf16_attention_ = false;
  // One primitive per sequence length from kBf16ValueMinLen to the longest seen.
  cpu::Bf16ValueProducts bf16_values_{&eng_};
  std::vector<uint16_t> bf16_staging_;
  std::vector<int8_t> s8_staging_;
  std::vector<float> s8_scratch_;
  std::map<std::tuple<int64_t, int64_t, int, bool, int, int64_t>, std::unique_ptr<MatmulFamily>>
      families_;
  int64_t s8_linears_ = 0;
};

Status CpuLinear::Forward(const float* x, int64_t m, float* y) {
  backend_->UseThreads();
  const int64_t padded = backend_->RoundUpRows(m);
  try {
    dnnl::engine& eng = backend_->engine();
    const memory::data_type in = family_->input_type();
    void* src_base = const_cast<float*>(x);
    size_t src_elem = sizeof(float);
    const int64_t k_eff = k_ * std::max(1, parts_);
    float* row_scales = nullptr;
    float* acc = nullptr;
    if (in == memory::data_type::bf16) {
      uint16_t* staging = backend_->Bf16Staging(static_cast<size_t>(padded * k_eff));
      cpu::SplitToBf16(x, padded, k_, parts_, staging);
      src_base = staging;
      src_elem = sizeof(uint16_t);
    } else if (in == memory::data_type::s8) {
      int8_t* q = backend_->S8Staging(padded, k_, n_, &row_scales, &acc);
      cpu::QuantizeRowsS8(x, padded, k_, q, row_scales);
      src_base = q;
      src_elem = 1;
    }
    for (int64_t off = 0, rows = 0; off < padded; off += rows) {
      rows = backend_->NextChunk(padded - off);
      dnnl::matmul& prim = family_->Get(rows);
      memory src(memory::desc({rows, k_eff}, in, memory::format_tag::ab), eng,
                 static_cast<char*>(src_base) + off * k_eff * src_elem);
      memory dst(memory::desc({rows, n_}, memory::data_type::f32, memory::format_tag::ab), eng,
                 y + off * n_);
      if (in == memory::data_type::s8) {
        const memory::desc acc_md({rows, n_}, memory::data_type::f32, memory::format_tag::ab);
        memory accm(acc_md, eng, acc + off * n_);
        prim.execute(backend_->stream(),
                     {{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, weights_}, {DNNL_ARG_DST, accm}});
        memory rs(memory::desc({rows, 1}, memory::data_type::f32, memory::format_tag::ab), eng,
                  row_scales + off);
        family_->Epilogue(rows).execute(
            backend_->stream(), {{DNNL_ARG_SRC_0, accm},
                                 {DNNL_ARG_SRC_1, rs},
                                 {DNNL_ARG_DST, dst},
                                 {DNNL_ARG_ATTR_MULTIPLE_POST_OP(0) | DNNL_ARG_SRC_1, bias_}});
        continue;
      }
      prim.execute(backend_->stream(), {{DNNL_ARG_SRC, src},
                                        {DNNL_ARG_WEIGHTS, weights_},
                                        {DNNL_ARG_BIAS, bias_},
                                        {DNNL_ARG_DST, dst}});
    }
    backend_->stream().wait();
  } catch (const dnnl::error& e) {
    return DnnlError("linear " + name_ + " at " + std::to_string(m) + " rows", e);
  }
  return OkStatus();
}

}  // namespace

namespace {
// FLOE_NO_AVX512=1 makes this process behave as on an AVX2-only CPU: our
// kernels take their portable path (cpu/kernels.cc) and oneDNN is capped at
// AVX2 before its first primitive.
dnnl::cpu_isa EffectiveIsa() {
  static const dnnl::cpu_isa isa = [] {
    if (!cpu::UsingAvx512()) dnnl::set_max_cpu_isa(dnnl::cpu_isa::avx2);
    return dnnl::get_effective_cpu_isa();
  }();
  return isa;
}

bool HasIsa(dnnl::cpu_isa have, dnnl::cpu_isa want) {
  return (static_cast<unsigned>(have) & static_cast<unsigned>(want)) ==
         static_cast<unsigned>(want);
}
}  // namespace

StatusOr<std::unique_ptr<Backend>> CreateCpuBackend(const BackendOptions& options) {
  if (options.compute_type == ComputeType::kFloat16) {
    return UnimplementedError("dtype float16 is not implemented on the cpu (float32, bfloat16, "
                              "int8)");
  }
  if (options.num_threads < 0) {
    return InvalidArgumentError("num_threads must be >= 0, got " +
                                std::to_string(options.num_threads));
  }
  const dnnl::cpu_isa isa = EffectiveIsa();
  if (options.compute_type == ComputeType::kBFloat16 &&
      !HasIsa(isa, dnnl::cpu_isa::avx512_core_bf16)) {
    return FailedPreconditionError(
        "dtype bfloat16 needs a CPU with AVX512_BF16 (Cooper Lake, Sapphire Rapids, Zen 4 or "
        "later)" +
        cpu::IsaShortfall(cpu::DetectCpuIsa(), /*needs_vnni=*/false) + ": use --dtype float32");
  }
  if (options.compute_type == ComputeType::kInt8 &&
      !HasIsa(isa, dnnl::cpu_isa::avx512_core_bf16)) {
    // VNNI for the int8 products, AVX512_BF16 for the bf16 ones (Q, K, V).
    return FailedPreconditionError(
        "dtype int8 needs a CPU with AVX512_VNNI and AVX512_BF16 (Cooper Lake, Sapphire "
        "Rapids, Zen 4 or later)" +
        cpu::IsaShortfall(cpu::DetectCpuIsa(), /*needs_vnni=*/true) + ": use --dtype float32");
  }
  try {
    return std::unique_ptr<Backend>(new CpuBackend(options.compute_type, options.num_threads));
  } catch (const dnnl::error& e) {
    return DnnlError("cpu backend", e);
  }
}

}  // namespace floe
