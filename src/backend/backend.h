// The compute backend: one interface the engine drives, one implementation per
// device (cpu/ always, cuda/ when built). A backend knows tensors, shapes and
// ops; it knows nothing of model names or architectures.
//
// Shape legend used throughout:
//   T: total tokens of a packed batch (sequences back to back, no padding)
//   B: sequences in the batch; cu_seqlens has B + 1 entries, cu_seqlens[0] = 0,
//      cu_seqlens[B] = T, sequence b is rows [cu_seqlens[b], cu_seqlens[b+1])
//   D: hidden size, N: attention heads, H: head size (D = N * H)
//
// Activations go in and out of the ops as tensor views (backend/tensor.h):
// element type, device and shape travel with the pointer, and every op checks
// them before any work: the element type must be the backend's
// activation_dtype() (float32 on the CPU whatever the compute type; the
// compute type on CUDA float16/bfloat16), the device the backend's, the
// shape what the batch and the spec say. A wrong view is INVALID_ARGUMENT
// (FAILED_PRECONDITION for a wrong element type) naming the op and the
// argument. Every other pointer an op takes (tables, gamma, ids, cu_seqlens)
// is device memory of the backend that runs the op (host memory for the CPU
// backend), allocated through Backend::Allocate, unless its comment says
// "host".
//
// Threading: a Backend and its ops are used by one thread at a time; the CPU
// backend parallelises each op internally (OpenMP, the same runtime oneDNN
// uses, so the two never oversubscribe the cores).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "backend/graph_key.h"
#include "backend/ops.h"
#include "backend/tensor.h"
#include "core/dtype.h"
#include "core/status.h"
#include "floe/runtime_options.h"

namespace floe {

// Element type of the weights and activations of the matrix products:
// kFloat32, kFloat16, kBFloat16 or kInt8 of the one DType (core/dtype.h).
// LayerNorm, softmax and pooling always compute in float32.
using ComputeType = DType;

// "float32" | "float16" | "bfloat16" | "int8"; INVALID_ARGUMENT naming `name`
// otherwise.
StatusOr<ComputeType> ParseComputeType(std::string_view name);
std::string_view ComputeTypeName(ComputeType t);

// kSilu (x * sigmoid(x)): the gated FFNs (backend/ops.h); Linear epilogues
// take the others.
enum class Activation { kNone, kGeluErf, kGeluTanh, kRelu, kSilu };

enum class PoolKind { kCls, kMean, kMax, kLastToken };

// Where the sequences of a packed batch start and end. The host copy is for
// work the host schedules (per-sequence loops); the device copy is for
// kernels (the same pointer on the CPU).
struct PackedBatch {
  const int32_t* cu_seqlens_host = nullptr;    // [B + 1]
  const int32_t* cu_seqlens_device = nullptr;  // [B + 1]
  int64_t num_seqs = 0;                        // B
  int64_t total_tokens = 0;                    // T
  int64_t max_seqlen = 0;
  // Leading tokens of each sequence that pooling leaves out (a prompt, when
  // the model's pooling has include_prompt false), [B]; null = none. A skip
  // that is not below its sequence's length counts as 0.
  const int32_t* pool_skip_host = nullptr;
  const int32_t* pool_skip_device = nullptr;
  // Per sequence, the index from which its tokens take token type 1 (a
  // cross-encoder's second segment), [B]; null = every token type 0. An
  // entry not below its sequence's length means none.
  const int32_t* type1_from_host = nullptr;
  const int32_t* type1_from_device = nullptr;
};

// The tables of EmbedLayerNorm (device memory, float32).
struct EmbeddingTables {
  const float* word = nullptr;        // [V, D]
  const float* position = nullptr;    // [P, D]
  const float* token_type = nullptr;  // [types, D]: row 0, row 1 with batch.type1_from
  const float* gamma = nullptr;       // [D]
  const float* beta = nullptr;        // [D]
  // Token t of a sequence (t from 0) takes position row t + position_offset
  // (the RoBERTa family starts at pad_token_id + 1). >= 0.
  int64_t position_offset = 0;
};

// Device memory owned by a backend. Freed on destruction.
class DeviceBuffer {
 public:
  virtual ~DeviceBuffer() = default;
  virtual void* data() = 0;
  virtual size_t size() const = 0;  // bytes
  float* f32() { return static_cast<float*>(data()); }
  int32_t* i32() { return static_cast<int32_t*>(data()); }
};

// How much precision a product needs when the backend computes in a type
// lower than float32 (bfloat16, int8). kHigh marks products whose rounding
// errors the rest of the model amplifies (the query and key projections:
// softmax turns small score errors into large changes of attention weights);
// a backend runs them with (close to) float32 accuracy, e.g. in float32 or as
// split bfloat16 products. kNoInt8 marks products whose inputs int8 rounds
// too coarsely (the FFN down projection: its GELU outputs); an int8 backend
// runs them in bfloat16, others as kDefault. Ignored in float32.
enum class LinearPrecision { kDefault, kNoInt8, kHigh };

// What a Linear computes: y = act(x W^T + b) (+ y_old when accumulate).
struct LinearSpec {
  const float* weight = nullptr;  // host, [out_features, in_features] row-major
  const float* bias = nullptr;    // host, [out_features]; may be null
  int64_t in_features = 0;
  int64_t out_features = 0;
  Activation activation = Activation::kNone;
  // Adds the product to what y holds (the residual connection). Applied after
  // the activation; only used with Activation::kNone here.
  bool accumulate = false;
  LinearPrecision precision = LinearPrecision::kDefault;
  std::string name;  // for messages ("encoder.layer.0.attention.output.dense")
};

// A weight matrix prepared once (reordered, packed, converted) for repeated
// products with different row counts.
class LinearOp {
 public:
  virtual ~LinearOp() = default;
  // x: [m, in_features]; y: [m, out_features]; m = x.rows() >= 1, both of
  // the backend's activation_dtype(). x and y must not overlap, and must have
  // room for RoundUpRows(m) rows (checked where the view knows its room).
  virtual Status Forward(const TensorView& x, const TensorView& y) = 0;
  // Forward(x, mid), then next.Forward(mid, y): two products in a row whose
  // intermediate feeds nothing else (the FFN's up and down projections). A
  // backend may fuse them: the CPU's int8 products quantize this op's output
  // rows for `next` as they leave this op's product, without writing mid, so
  // mid holds nothing afterwards. The vectors are the same either way. y may
  // be x (this op has read x when next writes y); mid must overlap neither.
  virtual Status ForwardInto(const TensorView& x, const TensorView& mid, LinearOp& next,
                             const TensorView& y) {
    if (Status s = Forward(x, mid); !s.ok()) return s;
    return next.Forward(mid, y);
  }
  virtual int64_t in_features() const = 0;
  virtual int64_t out_features() const = 0;
};

class Backend {
 public:
  virtual ~Backend() = default;

  // The options CreateBackend was given, unchanged (device as asked: "cuda"
  // stays "cuda" here, device() names the GPU).
  const RuntimeOptions& options() const { return options_; }

  // "cpu", "cuda:0", ...
  virtual std::string device() const = 0;
  // The same as a tensor view's device.
  virtual Device tensor_device() const = 0;
  virtual ComputeType compute_type() const = 0;
  // The element type of the activations the ops take and write (the x and y
  // of a LinearOp, the views of every op but Pool's out, which is float32).
  virtual DType activation_dtype() const { return DType::kF32; }

  // Views of a buffer of this backend: its element type, this device, and
  // its size as the view's room.
  TensorView View(DeviceBuffer& buf, DType dtype,
                  std::initializer_list<int64_t> dims) const {
    return TensorView(buf.data(), dtype, tensor_device(), dims, buf.size());
  }
  // [rows, cols] activations.
  TensorView Activations(DeviceBuffer& buf, int64_t rows, int64_t cols) const {
    return View(buf, activation_dtype(), {rows, cols});
  }

  // Rows a LinearOp may touch past m: buffers passed to Forward as x or y must
  // have room for RoundUpRows(m) rows (the CPU backend pads m to a few sizes
  // so that it keeps a handful of prepared kernels, not one per m). Rows past
  // m are read and written but their values are meaningless.
  virtual int64_t RoundUpRows(int64_t m) const { return m; }

  virtual StatusOr<std::unique_ptr<DeviceBuffer>> Allocate(size_t bytes) = 0;
  virtual Status CopyToDevice(const void* host, size_t bytes, void* device) = 0;
  virtual Status CopyToHost(const void* device, size_t bytes, void* host) = 0;
  // The values of a view of this backend as float32 (numel() of them),
  // converted from float16 / bfloat16 where the view holds those; int views
  // are refused. And the reverse: float32 host values written into `dst`
  // converted to its element type.
  Status CopyToHost(const TensorView& src, float* host);
  Status CopyToDevice(const float* host, const TensorView& dst);

  virtual StatusOr<std::unique_ptr<LinearOp>> CreateLinear(const LinearSpec& spec) = 0;

  // Runs `body`, which enqueues ops of this backend and nothing else (no
  // copy to or from the host, no allocation), as a unit that the backend
  // may record once and replay for the same `key` (the CUDA backend: a CUDA
  // graph, FLOE_CUDA_GRAPHS=0 to turn off). The key must determine
  // everything body enqueues: shapes, pointers (the owner's buffers) and
  // flags; the values in device memory may change between calls. A replay
  // does not call body; a failed recording calls it twice (the first
  // enqueues nothing), so body has no host-side effect that matters. The
  // default (the CPU backend) calls body once.
  virtual Status RunGraph(const GraphKey& key, const std::function<Status()>& body) {
    (void)key;
    return body();
  }

  // out[t] = LayerNorm(word[ids[t]] + position[i + position_offset]
  //                    + token_type[type]) with gamma, beta, where i is t's
  // index in its sequence and type is 1 when i >= batch.type1_from[its
  // sequence], else 0. ids: [T]; out: [T, D] activations. Ids, lengths (+
  // offset < P) and types were checked by the caller.
  virtual Status EmbedLayerNorm(const int32_t* ids, const PackedBatch& batch,
                                const EmbeddingTables& tables, float eps,
                                const TensorView& out) = 0;

  // x[r] = LayerNorm(x[r]) * gamma + beta for every row of x ([rows, D]
  // activations), in place; gamma, beta: [D].
  virtual Status LayerNorm(const TensorView& x, const float* gamma, const float* beta,
                           float eps) = 0;

  // Multi-head self-attention of packed sequences, each attending only to its
  // own tokens. qkv: [T, 3D] (Q | K | V, head h at columns h*H within each);
  // out: [T, D]. scale multiplies QK^T (1/sqrt(H)).
  virtual Status Attention(const TensorView& qkv, const PackedBatch& batch,
                           int64_t num_heads, int64_t head_size, float scale,
                           const TensorView& out) = 0;

  // out: [B, D] pooled rows, float32 whatever the activations. hidden: [T,
  // D] activations. With batch.pool_skip, sequence b is pooled from its
  // token skip[b] on: CLS takes that token, mean and max run over the rest,
  // the last token stays the last (as sentence-transformers masks a prompt
  // out).
  virtual Status Pool(const TensorView& hidden, const PackedBatch& batch, PoolKind kind,
                      const TensorView& out) = 0;

  // The ops of the newer encoders: shapes, specs and checks in backend/ops.h.
  // A backend without one answers UNIMPLEMENTED naming the op and the device.
  // x[r] = RMSNorm(x[r]) for every row of x ([rows, spec.hidden]), in place.
  virtual Status RmsNorm(const TensorView& x, const RmsNormSpec& spec);
  // x[i] = act(x[i]) for every element of x, in place.
  virtual Status Activate(const TensorView& x, Activation act);
  // out ([rows, I]) = act(gate) * up from x = [gate | up] ([rows, 2I]).
  virtual Status GatedActivation(const TensorView& x, Activation act,
                                 const TensorView& out);
  // Rotates the first num_heads heads of each row of x ([T, ld]) in place.
  virtual Status Rotary(const TensorView& x, int64_t num_heads, int64_t head_size,
                        const PackedBatch& batch, const RotarySpec& spec);
  // Attention with masks, grouped KV heads, Q/K norms and rotary.
  virtual Status Attend(const TensorView& qkv, const PackedBatch& batch,
                        const AttentionSpec& spec, const TensorView& out);

 protected:
  // CopyToHost / CopyToDevice of a float16 or bfloat16 view (the view
  // checked): UNIMPLEMENTED unless a backend stores those.
  virtual Status ConvertToHost(const TensorView& src, float* host);
  virtual Status ConvertToDevice(const float* host, const TensorView& dst);

  explicit Backend(const RuntimeOptions& options) : options_(options) {}

 private:
  const RuntimeOptions options_;
};

// Creates the backend for `options.device` with `options` as they are
// (Backend::options() returns them): dtype is the compute type
// (ParseComputeType), num_threads the CPU backend's OpenMP threads,
// max_batch_tokens what a GPU backend plans its scratch for (0: grown on
// first use), gpu_memory_fraction a GPU backend's memory budget. Errors name
// the option or device: an unknown dtype or device, negative threads or a
// GPU share outside [0, 1] is INVALID_ARGUMENT, "cuda" in a build without
// CUDA or on a machine without a GPU is FAILED_PRECONDITION, a compute type
// the backend does not implement is UNIMPLEMENTED.
StatusOr<std::unique_ptr<Backend>> CreateBackend(const RuntimeOptions& options);

}  // namespace floe
