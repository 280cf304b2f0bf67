// Launchers of the newer encoders' ops on CUDA (backend/ops.h has the specs
// and the checks a caller runs first): RMSNorm, activations and gated FFN
// activations, rotary positions. Plain C++ as kernels.h; same conventions
// (act = element type `dt`, float* = float32, launch error returned).
// CudaBackend runs them (cuda_modern_ops.cc), after backend/ops.h's checks.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "backend/cuda/kernels.h"

namespace floe::cuda {

// Activation codes (backend.h's Activation, without kNone).
enum class ActCode : int { kGeluErf = 1, kGeluTanh = 2, kRelu = 3, kSilu = 4 };

// x[r] = x[r] / sqrt(mean(x[r]^2) + eps) * (weight + weight_offset) + bias,
// in place. x: [rows, hidden] act; weight, bias: [hidden] float32 or null.
cudaError_t LaunchRmsNorm(DType dt, void* x, int64_t rows, int64_t hidden,
                          const float* weight, const float* bias, float weight_offset,
                          float eps, cudaStream_t stream);

// x[i] = act(x[i]), n elements, in place.
cudaError_t LaunchActivate(DType dt, void* x, int64_t n, ActCode act,
                           cudaStream_t stream);

// out[r, i] = act(x[r, i]) * x[r, inner + i]. x: [rows, 2 inner] act
// ([gate | up]); out: [rows, inner] act.
cudaError_t LaunchGatedActivation(DType dt, const void* x, int64_t rows, int64_t inner,
                                  ActCode act, void* out, cudaStream_t stream);

// Rotary embedding of the first num_heads heads of each row of x ([T, ld]
// act), in place: pairs (i, i + dims/2) when !interleaved, (2i, 2i + 1)
// when interleaved, rotated by (index in its sequence + position_offset) *
// position_scale * base^(-2i / dims); angles in float64.
cudaError_t LaunchRotary(DType dt, void* x, int64_t ld, const int32_t* cu_seqlens,
                         int64_t num_seqs, int64_t tokens, int64_t num_heads,
                         int64_t head_size, int64_t dims, double base, bool interleaved,
                         int64_t position_offset, double position_scale,
                         cudaStream_t stream);

}  // namespace floe::cuda
