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
// (float32); out: [T, D] act.
cudaError_t LaunchEmbedLayerNorm(DType dt, const int32_t* ids, const int32_t* cu_seqlens,
                                 int64_t num_seqs, int64_t tokens, const float* word,
                                 const float* position, const float* token_type,
                                 const int32_t* type1_from, int64_t position_offset,
                                 const float* gamma, const float* beta, int64_t hidden, float eps,
                                 void* out, cudaStream_t stream);

// x[r] = LayerNorm(x[r] (+ residual[r]) (+ bias)) * gamma + beta, in place.
// x, residual: [rows, D] act (residual may be null); bias: [D] float32 or null.
// allow_warp: one warp per row with 16-byte accesses where D <= 1024, D x
// the element size is a multiple of 16 bytes and x, residual are 16-byte
// aligned; otherwise (or when false) one block per row.
cudaError_t LaunchLayerNorm(DType dt, void* x, const void* residual, const float* bias,
                            int64_t rows, int64_t hidden, const float* gamma, const float* beta,
                            float eps, bool allow_warp, cudaStream_t stream);

// y[r, c] += residual[r, c] + bias[c] (bias may be null). y, residual: [rows, cols] act.
cudaError_t LaunchAddResidual(DType dt, void* y, const void* residual, const float* bias,
                              int64_t rows, int64_t cols, cudaStream_t stream);

// x = 0.5 x (1 + erf(x / sqrt 2)), in place, n elements (exact GELU).
cudaError_t LaunchGeluErf(DType dt, void* x, int64_t n, cudaStream_t stream);
// out[i] = act(in[i]) for n elements, float32 <-> dt.
cudaError_t LaunchFromFloat(DType dt, const float* in, int64_t n, void* out, cudaStream_t stream);
cudaError_t LaunchToFloat(DType dt, const void* in, int64_t n, float* out, cudaStream_t stream);

// Self-attention of each packed sequence over its own tokens.
// qkv: [T, 3D] act (Q | K | V, head h at columns h*H of each); out: [T, D] act.
// allow_flash: the tiled kernel for H in {32, 64}; otherwise (or when false)
// the one-warp-per-row kernel, any H <= kMaxHeadSize.
cudaError_t LaunchAttention(DType dt, const void* qkv, const int32_t* cu_seqlens,
                            int64_t num_seqs, int64_t tokens, int64_t max_seqlen,
                            int64_t num_heads, int64_t head_size, float scale, bool allow_flash,
                            void* out, cudaStream_t stream);
// True when LaunchAttention uses the tiled (flash) kernel for this head size.
bool FlashAttentionSupports(int64_t head_size);

// kind: 0 CLS (first token), 1 mean, 2 max, 3 last token.
// hidden: [T, D] act; out: [B, D] float32. pool_skip: [B] leading tokens to
// leave out (Backend::Pool), or null.
cudaError_t LaunchPool(DType dt, const void* hidden, const int32_t* cu_seqlens,
                       const int32_t* pool_skip, int64_t num_seqs, int64_t dim, int kind,
                       float* out, cudaStream_t stream);

}  // namespace floe::cuda
