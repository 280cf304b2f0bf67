// Internals of the CUDA backend shared by cuda_backend.cc (the ops) and
// linear.cc (cuBLASLt products). Not a public header.
//
// Shape legend: T tokens, B sequences, D hidden, N heads, H head size,
// m rows of a product, k its in_features, n its out_features.
#pragma once

#include <cublasLt.h>
#include <cuda_runtime.h>

#include <functional>
#include <memory>
#include <string>
#include <utility>

#include "backend/backend.h"
#include "backend/cuda/allocations.h"
#include "backend/cuda/host/graph_book.h"
#include "backend/cuda/host/row_buckets.h"
#include "backend/cuda/host/wide_qkv.h"
#include "backend/cuda/kernels.h"
#include "backend/cuda/lt_plan.h"
#include "core/status.h"

namespace floe::cuda {

// cudaMalloc'ed memory, registered with its backend's Allocations.
class CudaBuffer : public DeviceBuffer {
 public:
  CudaBuffer(std::shared_ptr<Allocations> allocs, int ordinal, void* p, size_t n)
      : allocs_(std::move(allocs)), ordinal_(ordinal), p_(p), n_(n) {}
  ~CudaBuffer() override;
  CudaBuffer(const CudaBuffer&) = delete;
  CudaBuffer& operator=(const CudaBuffer&) = delete;
  void* data() override { return p_; }
  size_t size() const override { return n_; }

 private:
  std::shared_ptr<Allocations> allocs_;
  int ordinal_;
  void* p_;
  size_t n_;
};

// FLOE_CUDA_ATTENTION: false for "simple" (the CUDA-core kernels only),
// true otherwise (tensor cores where the kernel takes the shape). Read when a
// backend is created, as the other switches (cuda_attend.cc).
bool TensorCoreAttentionFromEnv();

struct CudaSwitches {
  bool tensor_core_attention = TensorCoreAttentionFromEnv();  // FLOE_CUDA_ATTENTION
  bool flash_attention = true;   // FLOE_CUDA_FLASH_ATTENTION
  bool fused_residual_ln = true;  // FLOE_CUDA_FUSED_RESIDUAL_LN
  bool tf32 = false;             // FLOE_CUDA_TF32
  bool warp_layernorm = true;    // FLOE_CUDA_WARP_LAYERNORM
  bool graphs = true;            // FLOE_CUDA_GRAPHS
  size_t max_graphs = 32;        // FLOE_CUDA_GRAPHS_MAX
  // FLOE_CUDA_QKV: kHigh products (Q/K/V) in float32 (host/wide_qkv.h)
  host::QkvPrecision qkv = host::QkvPrecision::kF32;
  bool fused_bias_gelu = true;   // FLOE_CUDA_FUSED_BIAS_GELU
};

// Owns an instantiated CUDA graph (cuda_graphs.cc).
class GraphExec {
 public:
  explicit GraphExec(cudaGraphExec_t e) : e_(e) {}
  GraphExec(GraphExec&& o) noexcept : e_(std::exchange(o.e_, nullptr)) {}
  GraphExec& operator=(GraphExec&&) = delete;
  ~GraphExec() {
    if (e_ != nullptr) cudaGraphExecDestroy(e_);
  }
  cudaGraphExec_t get() const { return e_; }

 private:
  cudaGraphExec_t e_;
};

inline host::GraphOptions GraphOptionsFor(const CudaSwitches& sw) {
  host::GraphOptions o;
  o.enabled = sw.graphs;
  o.max_graphs = sw.max_graphs;
  return o;
}

class CudaBackend : public Backend {
 protected:
  // float16 / bfloat16 views <-> float32 host values, through a float32
  // staging buffer converted on the device.
  Status ConvertToHost(const TensorView& src, float* host) override;
  Status ConvertToDevice(const float* host, const TensorView& dst) override;

 public:
  // Takes ownership of stream and handle. `options` as CreateBackend got
  // them (Backend::options()); budget_bytes their GPU share of this GPU.
  CudaBackend(const RuntimeOptions& options, int ordinal, ComputeType ct, CudaSwitches sw,
              cudaStream_t stream, cublasLtHandle_t lt, size_t budget_bytes);
  ~CudaBackend() override;
  CudaBackend(const CudaBackend&) = delete;
  CudaBackend& operator=(const CudaBackend&) = delete;

  // Allocates the cuBLASLt workspace. Called once, right after construction.
  Status Init();

  std::string device() const override { return "cuda:" + std::to_string(ordinal_); }
  Device tensor_device() const override { return Device::Cuda(ordinal_); }
  ComputeType compute_type() const override { return ct_; }
  DType activation_dtype() const override { return dt_; }

  StatusOr<std::unique_ptr<DeviceBuffer>> Allocate(size_t bytes) override;
  Status CopyToDevice(const void* host, size_t bytes, void* device) override;
  Status CopyToHost(const void* device, size_t bytes, void* host) override;
  using Backend::CopyToDevice;
  using Backend::CopyToHost;
  StatusOr<std::unique_ptr<LinearOp>> CreateLinear(const LinearSpec& spec) override;
  // Products run on RowBucket(m) rows (host/row_buckets.h).
  int64_t RoundUpRows(int64_t m) const override { return host::RowBucket(m); }
  // Captures `body` as a CUDA graph and replays it per host/graph_book.h's
  // rules (cuda_graphs.cc).
  Status RunGraph(const GraphKey& key, const std::function<Status()>& body) override;
  Status EmbedLayerNorm(const int32_t* ids, const PackedBatch& batch,
                        const EmbeddingTables& tables, float eps,
                        const TensorView& out) override;
  Status LayerNorm(const TensorView& x, const float* gamma, const float* beta,
                   float eps) override;
  Status Attention(const TensorView& qkv, const PackedBatch& batch, int64_t num_heads,
                   int64_t head_size, float scale, const TensorView& out) override;
  // Causal / sliding-window masks, grouped KV heads, Q/K RMSNorm and rotary
  // (backend/ops.h's AttentionSpec; cuda_attend.cc). With a Q/K norm or
  // rotary, Q and K are first copied (normalised, rotated) into the
  // backend's attention scratch.
  Status Attend(const TensorView& qkv, const PackedBatch& batch, const AttentionSpec& spec,
                const TensorView& out) override;
  Status Pool(const TensorView& hidden, const PackedBatch& batch, PoolKind kind,
              const TensorView& out) override;

  // The newer encoders' ops (cuda_modern_ops.cc; launchers in modern_ops.cu).
  Status RmsNorm(const TensorView& x, const RmsNormSpec& spec) override;
  Status Activate(const TensorView& x, Activation act) override;
  Status GatedActivation(const TensorView& x, Activation act, const TensorView& out) override;
  Status Rotary(const TensorView& x, int64_t num_heads, int64_t head_size,
                const PackedBatch& batch, const RotarySpec& spec) override;

  // What the graphs did so far (tests, logs).
  const host::GraphStats& graph_stats() const { return graphs_.stats(); }
  size_t graphs_held() const { return graphs_.graphs(); }
  // The cuBLASLt plans shared by this backend's products (tests, logs).
  const host::PlanCache<LtPlan>& plan_cache() const { return plans_; }

  // --- for CudaLinear ---
  host::PlanCache<LtPlan>& plans() { return plans_; }
  DType dtype() const { return dt_; }
  const CudaSwitches& switches() const { return sw_; }
  cudaStream_t stream() const { return stream_; }
  cublasLtHandle_t lt() const { return lt_; }
  void* workspace() const { return workspace_->data(); }
  size_t workspace_size() const { return workspace_->size(); }
  // Tokens per pass the scratch is planned for (options'); 0: grown on use.
  int64_t max_batch_tokens() const { return static_cast<int64_t>(options().max_batch_tokens); }

  // --- float32 Q/K/V of kHigh products (host/wide_qkv.h) ---
  // Every later LayerNorm and EmbedLayerNorm of `cols` columns also writes
  // a float32 copy of its output (slot kInput), for a kHigh product of
  // in_features `cols`.
  void WantWideInput(int64_t cols) { wide_cols_ = cols; }
  // The float32 copy in `slot` of exactly [rows, cols] at `act`, written by
  // the op just before the one now running; null when there is none.
  const float* FreshWide(host::WideSlot slot, const void* act, int64_t rows,
                         int64_t cols) const;
  // The float32 memory of `slot`, grown to `count` floats (a growth forgets
  // what the slot held).
  StatusOr<float*> WideBuffer(host::WideSlot slot, int64_t count);
  // The op now running wrote slot's copy of [rows, cols] at act.
  void RecordWide(host::WideSlot slot, const void* act, int64_t rows, int64_t cols) {
    wide_.Record(slot, act, rows, cols);
  }

  // Makes this backend's GPU current on the calling thread; `op` names the
  // caller in the error.
  Status Enter(const std::string& op);
  // Applies a deferred residual (see Defer) if one is waiting.
  Status Flush();
  // Records y += scratch + bias (bias: [n] float32, may be null) for rows x n,
  // applied by the next LayerNorm of exactly y (fused) or by Flush.
  void Defer(void* y, const float* bias, int64_t rows, int64_t n);
  // The scratch a deferred residual product writes, grown to `bytes`
  // (Flush first: growing frees the old one).
  StatusOr<void*> Scratch(size_t bytes);

  // OK when [p, p + bytes) is memory of this backend (INVALID_ARGUMENT
  // naming op and arg otherwise).
  Status CheckMemory(const void* p, size_t bytes, const std::string& op,
                     const char* arg) const;
  // Device memory for internal use (counted against the budget).
  StatusOr<std::unique_ptr<CudaBuffer>> AllocateInternal(size_t bytes, const std::string& what);
  // A buffer of `count` elements of dt() holding `host` (float32) converted.
  StatusOr<std::unique_ptr<CudaBuffer>> UploadConverted(const float* host, int64_t count,
                                                        DType dt, const std::string& what);

 private:
  Status CheckBatch(const PackedBatch& batch, const std::string& op) const;
  StatusOr<float*> FloatStaging(size_t count);
  // Runs the attention kernel ChooseAttentionKernel picks for `a`; `op`
  // names it (and the kernel) in an error.
  Status LaunchChosenAttention(const AttentionArgs& a, const std::string& op);
  // Runs `a` (Q, K, V pointers into the compute-type view at qkv) on the
  // float32 copy `wide` of that view instead: the CUDA-core kernels in
  // float32, the output through slot kInput, then rounded once into a.out.
  Status LaunchWideAttention(AttentionArgs a, const void* qkv, const float* wide,
                             const std::string& op);
  // The float32 copy a LayerNorm of [rows, hidden] writes (slot kInput),
  // or null when no kHigh product reads one of `hidden` columns.
  StatusOr<float*> LayerNormCopy(int64_t rows, int64_t hidden);

  const int ordinal_;
  const ComputeType ct_;
  const DType dt_;
  const CudaSwitches sw_;
  cudaStream_t stream_;
  cublasLtHandle_t lt_;
  const size_t budget_bytes_;  // 0: no limit
  std::shared_ptr<Allocations> allocs_ = std::make_shared<Allocations>();
  std::unique_ptr<CudaBuffer> workspace_, scratch_, staging_;
  host::PlanCache<LtPlan> plans_;
  host::GraphBook<GraphExec> graphs_{GraphOptionsFor(sw_)};
  std::unique_ptr<CudaBuffer> attend_scratch_;  // Attend's normalised / rotated Q and K
  host::WideCopies wide_;
  std::unique_ptr<CudaBuffer> wide_bufs_[2];  // per host::WideSlot, float32
  int64_t wide_cols_ = 0;                     // WantWideInput; 0: no copies

  struct Deferred {
    bool active = false;
    void* y = nullptr;
    const float* bias = nullptr;
    int64_t rows = 0, n = 0;
    uint64_t y_allocation = 0;  // Allocations::Info::id of y's buffer
  } deferred_;
};

// y = act(x W^T + b) (+ y) through cuBLASLt; see linear.cc.
StatusOr<std::unique_ptr<LinearOp>> CreateCudaLinear(CudaBackend* backend, const LinearSpec& spec);

}  // namespace floe::cuda
