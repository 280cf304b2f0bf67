// Launchers of the CUDA backend's kernels. Plain C++ (only core/dtype.h) so that
// the .cu files build as C++17 with nvcc; cuda_backend.cc checks every input
// (CheckInputs) and turns each returned cudaError_t into a Status naming the
// op. A launcher only enqueues work on `stream` and returns the launch error
// (cudaGetLastError), or cudaErrorInvalidValue for a shape the kernel cannot
// take (which CheckInputs should already have refused).
//
// Shape legend: T tokens of a packed batch, B sequences (cu_seqlens: [B + 1],
// device), D hidden, N heads, H head size, V vocabulary, P positions.
//
// Activations ("act", void*) are of element type `dt`; float statistics
// (LayerNorm, softmax, pooling) and every float* here are float32.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "core/dtype.h"

namespace floe::cuda {

using floe::DType;
using floe::DTypeSize;

// Largest hidden size of the row kernels (one row's float32 values sit in
// shared memory).
constexpr int64_t kMaxRowHidden = 8192;
// Largest head size of the attention kernels.
constexpr int64_t kMaxHeadSize = 256;

// out[t] = LayerNorm(word[ids[t]] + position[i + position_offset]
// + token_type[type]), i being t's index in its sequence, type 1 when
// type1_from (device, [B], may be null) is not null and i >= type1_from[seq].
// word: [V, D], position: [P, D], token_type: [types, D], gamma/beta: [D]
// (float32); out: [T, D] act. copy ([T, D] float32, may be null): the same
// values before their rounding to act (the float32 input of a kHigh
// product, host/wide_qkv.h).
cudaError_t LaunchEmbedLayerNorm(DType dt, const int32_t* ids, const int32_t* cu_seqlens,
                                 int64_t num_seqs, int64_t tokens, const float* word,
                                 const float* position, const float* token_type,
                                 const int32_t* type1_from, int64_t position_offset,
                                 const float* gamma, const float* beta, int64_t hidden, float eps,
                                 void* out, float* copy, cudaStream_t stream);

// x[r] = LayerNorm(x[r] (+ residual[r]) (+ bias)) * gamma + beta, in place.
// x, residual: [rows, D] act (residual may be null); bias: [D] float32 or null.
// allow_warp: one warp per row with 16-byte accesses where D <= 1024, D x
// the element size is a multiple of 16 bytes and x, residual are 16-byte
// aligned; otherwise (or when false) one block per row. copy ([rows, D]
// float32, may be null; 16-byte aligned for the warp kernel): the output
// before its rounding to act.
cudaError_t LaunchLayerNorm(DType dt, void* x, const void* residual, const float* bias,
                            int64_t rows, int64_t hidden, const float* gamma, const float* beta,
                            float eps, bool allow_warp, float* copy, cudaStream_t stream);

// y[r, c] += residual[r, c] + bias[c] (bias may be null). y, residual: [rows, cols] act.
cudaError_t LaunchAddResidual(DType dt, void* y, const void* residual, const float* bias,
                              int64_t rows, int64_t cols, cudaStream_t stream);

// x = 0.5 x (1 + erf(x / sqrt 2)), in place, n elements (exact GELU).
cudaError_t LaunchGeluErf(DType dt, void* x, int64_t n, cudaStream_t stream);
// y[r, c] = GELU(y[r, c] + bias[c]) in place, the sum and GELU in float32,
// one rounding to act (bias: [cols] float32 or null; tanh: the tanh form,
// else exact erf). y: [rows, cols] act. 16-byte loads and stores where y is
// 16-byte aligned and cols a multiple of 16 bytes of act, else one element
// per thread.
cudaError_t LaunchBiasGelu(DType dt, void* y, const float* bias, int64_t rows, int64_t cols,
                           bool tanh, cudaStream_t stream);
// out[i] = act(in[i]) for n elements, float32 <-> dt.
cudaError_t LaunchFromFloat(DType dt, const float* in, int64_t n, void* out, cudaStream_t stream);
cudaError_t LaunchToFloat(DType dt, const void* in, int64_t n, float* out, cudaStream_t stream);

// One attention launch: Backend::Attention (BERT's) and Backend::Attend
// (masks, grouped KV heads). q, k, v point at head 0's first element of
// token 0 (act); token t's head h of Q is at q + t * ldq + h * H, and query
// head h reads KV head h / (num_heads / num_kv_heads) of k and v (row
// strides ldk, ldv, in elements). out: [T, ldo] act, head h at column h * H.
// Token i of a sequence attends its token j iff (window_left < 0 || j >=
// i - window_left) && (window_right < 0 || j <= i + window_right); -1 is
// no bound (causal: window_right = 0). Every row attends at least itself.
struct AttentionArgs {
  DType dt = DType::kF32;
  const void* q = nullptr;
  const void* k = nullptr;
  const void* v = nullptr;
  int64_t ldq = 0, ldk = 0, ldv = 0;
  void* out = nullptr;
  int64_t ldo = 0;
  const int32_t* cu_seqlens = nullptr;  // device, [B + 1]
  int64_t num_seqs = 0, tokens = 0, max_seqlen = 0;
  int64_t num_heads = 0, num_kv_heads = 0, head_size = 0;
  float scale = 0.f;  // multiplies QK^T
  int64_t window_left = -1, window_right = -1;
};

// A window bound as the kernels take it: -1 (none) for a bound that reaches
// past the longest sequence (it masks nothing), so that every bound fits an
// int.
inline int WindowBound(int64_t w, int64_t max_seqlen) {
  return w < 0 || w >= max_seqlen ? -1 : static_cast<int>(w);
}

// The attention kernels (attention.cu, flash_attention.cu):
//   kTensorCore: FlashAttention-2 style on mma.sync (sm_80+), float16 and
//     bfloat16, H in {32, 64, 128}: 64 query rows per block, K/V tiles of
//     64 keys in shared memory, float32 scores and online softmax.
//   kTiled: CUDA-core flash-style kernel, H in {32, 64}, no window.
//   kWarp: one warp per (token, head), any H <= kMaxHeadSize, every mask.
enum class AttentionKernel { kTensorCore, kTiled, kWarp };
const char* AttentionKernelName(AttentionKernel kernel);

// The kernel LaunchAttention should run for `a`: kTensorCore when
// tensor_cores (FLOE_CUDA_ATTENTION is not "simple") and
// TensorCoreAttentionSupports; else kTiled when tiled
// (FLOE_CUDA_FLASH_ATTENTION is not 0), H is 32 or 64 and no window bound
// is set; else kWarp. sm_major: the GPU's compute capability (0: unknown).
// Host logic only: runs without a GPU.
AttentionKernel ChooseAttentionKernel(const AttentionArgs& a, bool tensor_cores, bool tiled,
                                      int sm_major);
// Enqueues `kernel` (cudaErrorInvalidValue when it cannot take `a`).
cudaError_t LaunchAttention(const AttentionArgs& a, AttentionKernel kernel,
                            cudaStream_t stream);

// flash_attention.cu. True when the tensor-core kernel takes `a`: sm_major
// >= 8, float16 or bfloat16, H in {32, 64, 128}, q, k, v, out 16-byte
// aligned and every row stride a multiple of 8 elements.
bool TensorCoreAttentionSupports(const AttentionArgs& a, int sm_major);
cudaError_t LaunchTensorCoreAttention(const AttentionArgs& a, cudaStream_t stream);

// dst[t, h * H + e] = src[t, h * H + e] for tokens t < T and heads h <
// num_heads, each head RMS-normalised (x / sqrt(mean(x^2) + eps) * norm[e],
// float32 statistics) when norm ([H] float32) is not null. src, dst: act,
// row strides ld_src, ld_dst elements; they do not overlap.
cudaError_t LaunchCopyHeads(DType dt, const void* src, int64_t ld_src, int64_t tokens,
                            int64_t num_heads, int64_t head_size, const float* norm,
                            float eps, void* dst, int64_t ld_dst, cudaStream_t stream);

// kind: 0 CLS (first token), 1 mean, 2 max, 3 last token.
// hidden: [T, D] act; out: [B, D] float32. pool_skip: [B] leading tokens to
// leave out (Backend::Pool), or null.
cudaError_t LaunchPool(DType dt, const void* hidden, const int32_t* cu_seqlens,
                       const int32_t* pool_skip, int64_t num_seqs, int64_t dim, int kind,
                       float* out, cudaStream_t stream);

}  // namespace floe::cuda
