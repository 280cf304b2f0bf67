// The CUDA backend: cuBLASLt products with weights converted once at load,
// and fused kernels for the rest (embeddings + LayerNorm, bias + GELU,
// bias + residual + LayerNorm, variable-length flash attention, pooling).
//
// Compute types:
//   float16, bfloat16: weights and activations in that type, float32
//     accumulation in every product; LayerNorm, softmax and pooling
//     statistics in float32.
//   float32: float32 everywhere, products on CUDA cores (CUBLAS_COMPUTE_32F);
//     FLOE_CUDA_TF32=1 lets them use TF32 tensor cores (faster, ~1e-3
//     relative error per product).
//   int8: UNIMPLEMENTED.
//
// Memory layout contract (what differs from the CPU backend):
//   - Activation buffers ([T, D], [T, 3D], [T, I]: the x and y of LinearOp,
//     the out of EmbedLayerNorm and Attention, the x of LayerNorm, the hidden
//     of Pool) are typed float* by the interface but hold elements of the
//     compute type, packed from the pointer the op received (2 bytes each in
//     float16/bfloat16: the engine's float32-sized buffers have room to spare).
//     Pointer arithmetic on them in float units is therefore meaningless; pass
//     the pointers the ops wrote.
//   - A buffer becomes an activation buffer when an op writes activations to
//     it; CopyToHost from an activation buffer converts to float32 (so the
//     engine's last-hidden-state copy works unchanged), from any other buffer
//     it copies bytes. CopyToDevice always copies bytes and makes the buffer
//     a plain one again; use CopyActivationsToDevice below to write float32
//     values as activations. An op that reads activations from a plain buffer
//     fails with FAILED_PRECONDITION instead of reading garbage.
//   - Tables and per-column vectors (embeddings, LayerNorm gamma and beta) are
//     float32 as the engine uploads them. Pool writes float32.
//
// Execution: every op is enqueued on the backend's own stream and returns
// without waiting; CopyToHost waits for the stream, so errors of earlier
// kernels surface there (named "cuda stream"). One thread at a time may use a
// backend (any thread: each call selects the backend's device first).
//
// Per backend (one per replica): its own stream, cuBLASLt handle and
// workspace. With BackendOptions::gpu_memory_utilization > 0 every byte the
// backend allocates counts against that fraction of the GPU's memory
// (RESOURCE_EXHAUSTED past it); with max_batch_tokens > 0 the scratch of the
// fused residual + LayerNorm is sized for it when the first residual product
// is created (at model load), not during the first request.
//
// Switches (environment, read when the backend is created), to turn an
// implementation off when measuring or debugging:
//   FLOE_CUDA_FLASH_ATTENTION=0  one-warp-per-row attention for every H
//   FLOE_CUDA_FUSED_RESIDUAL_LN=0  residual added in the product's epilogue
//                                  (beta = 1), LayerNorm as its own kernel
//   FLOE_CUDA_TF32=1             TF32 products for float32
#pragma once

#include <cstdint>
#include <memory>

#include "backend/backend.h"
#include "core/status.h"

namespace floe {

// The backend on GPU `ordinal`. FAILED_PRECONDITION naming the device when
// no GPU is usable (no driver, no device, ordinal out of range), UNIMPLEMENTED
// for int8, INVALID_ARGUMENT for a gpu_memory_utilization outside [0, 1],
// RESOURCE_EXHAUSTED when the stream, handle and workspace do not fit.
StatusOr<std::unique_ptr<Backend>> CreateCudaBackend(const BackendOptions& options, int ordinal);

// GPUs the CUDA runtime sees; 0 when it sees none or fails (no driver).
// Never fails: for tests that skip without a GPU.
int CudaDeviceCount();

// Writes `count` float32 values from host memory as activations of `backend`
// (a CUDA backend) at `device`, converted to its compute type, and marks the
// buffer holding `device` as an activation buffer. For tests and tools that
// feed ops directly. INVALID_ARGUMENT when backend is not a CUDA backend or
// device is not its memory with room for count elements.
Status CopyActivationsToDevice(Backend* backend, const float* host, int64_t count, void* device);

}  // namespace floe
