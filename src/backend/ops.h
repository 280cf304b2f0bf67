// The ops the rotary-position encoders and decoder embedders need (issues 13
// and 15): RMSNorm, activations and gated FFNs, rotary positions, and
// attention with causal / sliding-window masks, grouped KV heads and per-head
// Q/K norms. Their specs and input checks live here, device-independent; the
// Backend methods that run them are in backend.h, one file per op and device
// (cpu/cpu_<op>.cc, cuda/<op>.cu).
//
// Shape legend (as backend.h): T tokens of a packed batch, B sequences, N query
// heads, Nkv key/value heads (N % Nkv == 0; query head h reads KV head
// h / (N / Nkv)), H head size, I the FFN's inner size.
//
// Every Check* returns INVALID_ARGUMENT naming the op and the bad argument
// before any work (FAILED_PRECONDITION for a view of another element type
// than the backend's activations: backend/tensor.h's CheckTensor); backends
// call it first, so a caller's mistake is a Status, never a crash. The
// Check* of the older ops (EmbedLayerNorm, LayerNorm, Attention, Pool,
// LinearOp::Forward) check their views the same way.
#pragma once

#include <cstdint>
#include <string>

#include "backend/tensor.h"
#include "core/status.h"

namespace floe {

enum class Activation;
enum class PoolKind;
struct PackedBatch;
class Backend;

// The views of the ops in backend.h (element type, device, shapes against
// the batch); the tables and scalars are checked by each backend.
Status CheckEmbedLayerNorm(const Backend& b, const PackedBatch& batch,
                           const TensorView& out);
Status CheckLayerNorm(const Backend& b, const TensorView& x, const float* gamma,
                      const float* beta);
Status CheckAttention(const Backend& b, const TensorView& qkv, const PackedBatch& batch,
                      int64_t num_heads, int64_t head_size, const TensorView& out);
Status CheckPool(const Backend& b, const TensorView& hidden, const PackedBatch& batch,
                 const TensorView& out);
// x: [m, in_features], y: [m, out_features], m >= 1, of b's activations,
// not overlapping, each with room for b.RoundUpRows(m) rows where its view
// knows its room. Errors name the product ("linear <name>").
Status CheckLinear(const Backend& b, const std::string& name, const TensorView& x,
                   const TensorView& y, int64_t in_features, int64_t out_features);

// y = x / sqrt(mean(x^2) + eps) * (weight + weight_offset) + bias per row of
// `hidden` floats. weight null: 1 (then weight_offset is ignored); bias null:
// none. weight_offset is 1 for norms that store w - 1 (Gemma), else 0.
struct RmsNormSpec {
  int64_t hidden = 0;
  const float* weight = nullptr;  // [hidden] or null
  const float* bias = nullptr;    // [hidden] or null
  float eps = 1e-6f;
  float weight_offset = 0.f;
};
Status CheckRmsNorm(const Backend& b, const TensorView& x, const RmsNormSpec& spec);

// x[i] = act(x[i]) for every element. act is not kNone.
Status CheckActivate(const Backend& b, const TensorView& x, Activation act);

// Gated FFN activation (SwiGLU: kSilu, GeGLU: kGeluErf / kGeluTanh):
// x: [rows, 2I] holding [gate | up] (the product with the fused
// [W_gate ; W_up] weight), out: [rows, I] = act(gate) * up. x and out do not
// overlap.
Status CheckGatedActivation(const Backend& b, const TensorView& x, Activation act,
                            const TensorView& out);

// Rotary position embedding (RoPE). Within each head, the first rotary_dims
// columns rotate in pairs by angle pos * base^(-2i / rotary_dims), pair i of
// rotary_dims / 2 being (i, i + rotary_dims / 2) for kHalfSplit (GPT-NeoX,
// Llama, transformers' rotate_half) or (2i, 2i + 1) for kInterleaved (GPT-J);
// the other columns pass through. pos = (t - start of its sequence +
// position_offset) * position_scale (position_scale < 1: linear scaling;
// NTK scaling changes base instead, at the caller). Angles in float64.
enum class RotaryLayout { kHalfSplit, kInterleaved };
struct RotarySpec {
  int64_t rotary_dims = 0;  // even, <= head size; 0 = the whole head
  double base = 10000.0;
  RotaryLayout layout = RotaryLayout::kHalfSplit;
  int64_t position_offset = 0;  // >= 0
  double position_scale = 1.0;  // > 0
};
// x: [T, ld] with heads at columns h * H, h < num_heads (num_heads * H <= ld).
Status CheckRotary(const Backend& b, const TensorView& x, int64_t num_heads,
                   int64_t head_size, const PackedBatch& batch, const RotarySpec& spec);

// Self-attention of packed sequences (each attends only to its own tokens).
// Token i of a sequence attends token j iff i - window_left <= j <= i +
// window_right, a bound of -1 being none; causal forces window_right to 0.
// So ModernBERT's local window of W tokens is left = right = W / 2, a
// decoder's sliding window of W tokens is causal with left = W - 1.
// Q and K heads are RMS-normalised (q_norm, k_norm: [H], eps qk_norm_eps)
// when given, then rotated (rotary) when given: Qwen3's order.
struct AttentionSpec {
  int64_t num_heads = 0;     // N
  int64_t num_kv_heads = 0;  // Nkv; 0 = N
  int64_t head_size = 0;     // H
  float scale = 0.f;         // multiplies QK^T; 0 = 1/sqrt(H)
  bool causal = false;
  int64_t window_left = -1;
  int64_t window_right = -1;
  const float* q_norm = nullptr;  // [H] or null
  const float* k_norm = nullptr;  // [H] or null
  float qk_norm_eps = 1e-6f;
  const RotarySpec* rotary = nullptr;  // null: no rotary
};
// qkv: [T, (N + 2 Nkv) H] = Q | K | V; out: [T, N H], not overlapping qkv.
Status CheckAttend(const Backend& b, const TensorView& qkv, const PackedBatch& batch,
                   const AttentionSpec& spec, const TensorView& out);

// Nkv, with 0 meaning N.
inline int64_t KvHeads(const AttentionSpec& spec) {
  return spec.num_kv_heads > 0 ? spec.num_kv_heads : spec.num_heads;
}
// The first rotary column count, with 0 meaning the whole head.
inline int64_t RotaryDims(const RotarySpec& spec, int64_t head_size) {
  return spec.rotary_dims > 0 ? spec.rotary_dims : head_size;
}

}  // namespace floe
