// The CUDA backend: cuBLASLt products with weights converted once at load,
// and fused kernels for the rest (embeddings + LayerNorm, bias + GELU,
// bias + residual + LayerNorm, variable-length flash attention on tensor
// cores, pooling), and Attend (masks, grouped KV heads, Q/K norm, rotary).
//
// Compute types:
//   float16, bfloat16: weights and activations in that type, float32
//     accumulation in every product; LayerNorm, softmax and pooling
//     statistics in float32. Products marked LinearPrecision::kHigh (Q/K/V)
//     run on float32 copies instead (host/wide_qkv.h): the LayerNorm before
//     writes its output in float32 too, the product is float32 (float16;
//     TF32 in bfloat16) on float32 weights with a float32 output, and the
//     Attention right after reads that (CUDA-core kernels in float32), its
//     output rounded once.
//   float32: float32 everywhere, products on CUDA cores (CUBLAS_COMPUTE_32F);
//     FLOE_CUDA_TF32=1 lets them use TF32 tensor cores (faster, ~1e-3
//     relative error per product).
//   int8: UNIMPLEMENTED.
//
// Memory layout contract (what differs from the CPU backend):
//   - Activations ([T, D], [T, 3D], [T, I]: the x and y of LinearOp, the out
//     of EmbedLayerNorm and Attention, the x of LayerNorm, the hidden of
//     Pool) are views (backend/tensor.h) of activation_dtype(): the compute
//     type, 2 bytes an element in float16/bfloat16. Every op refuses a view
//     of another element type (FAILED_PRECONDITION), of another device or of
//     memory this backend did not allocate (INVALID_ARGUMENT).
//   - Backend::CopyToHost(view, float*) reads a view's values as float32
//     (converted on the device from float16/bfloat16), and
//     Backend::CopyToDevice(float*, view) writes float32 values into one; the
//     byte copies copy bytes.
//   - Tables and per-column vectors (embeddings, LayerNorm gamma and beta) are
//     float32 as the engine uploads them. Pool writes float32.
//
// Execution: every op is enqueued on the backend's own stream and returns
// without waiting; CopyToHost waits for the stream, so errors of earlier
// kernels surface there (named "cuda stream"). One thread at a time may use a
// backend (any thread: each call selects the backend's device first).
//
// Per backend (one per replica): its own stream, cuBLASLt handle and
// workspace. With RuntimeOptions::gpu_memory_fraction > 0 every byte the
// backend allocates counts against that fraction of the GPU's memory
// (RESOURCE_EXHAUSTED past it); with max_batch_tokens > 0 the scratch of the
// fused residual + LayerNorm is sized for it when the first residual product
// is created (at model load), not during the first request.
//
// Switches (environment, read when the backend is created), to turn an
// implementation off when measuring or debugging:
//   FLOE_CUDA_ATTENTION=simple   attention on CUDA cores only (the default,
//                                "tensor", runs float16 / bfloat16 with H in
//                                {32, 64, 128} on tensor cores: mma.sync,
//                                sm_80+; float32 always on CUDA cores)
//   FLOE_CUDA_FLASH_ATTENTION=0  of the CUDA-core kernels, one-warp-per-row
//                                for every H (not the tiled one for 32, 64)
//   FLOE_CUDA_FUSED_RESIDUAL_LN=0  residual added in the product's epilogue
//                                  (beta = 1), LayerNorm as its own kernel
//   FLOE_CUDA_TF32=1             TF32 products for float32
//   FLOE_CUDA_WARP_LAYERNORM=0   LayerNorm one block per row for every D (not
//                                one warp per row with 16-byte accesses)
//   FLOE_CUDA_GRAPHS=0           no CUDA graphs (Backend::RunGraph runs its
//                                body eagerly every time)
//   FLOE_CUDA_GRAPHS_MAX=N       at most N graphs held (default 32)
//   FLOE_CUDA_QKV=f32|tf32|compute  kHigh products: float32 copies with a
//                                float32 CUDA-core product (float16's
//                                default), with a TF32 product (bfloat16's),
//                                or in the compute type like every other
//                                product (then attention on tensor cores)
//   FLOE_CUDA_FUSED_BIAS_GELU=0  erf GELU as the BIAS epilogue + the scalar
//                                erf kernel (not no epilogue + one
//                                vectorised bias + GELU kernel)
//
// Products run on RowBucket(m) rows (host/row_buckets.h, RoundUpRows), with
// cuBLASLt plans shared by every Linear of the backend per bucket and shape.
#pragma once

#include <cstdint>
#include <memory>

#include "backend/backend.h"
#include "core/status.h"

namespace floe {

// The backend on GPU `ordinal`, for CreateBackend, which has checked
// `options` and parsed their dtype into `compute_type`. FAILED_PRECONDITION
// naming the device when no GPU is usable (no driver, no device, ordinal out
// of range), UNIMPLEMENTED for int8, RESOURCE_EXHAUSTED when the stream,
// handle and workspace do not fit.
StatusOr<std::unique_ptr<Backend>> CreateCudaBackend(const RuntimeOptions& options,
                                                     ComputeType compute_type, int ordinal);

// GPUs the CUDA runtime sees; 0 when it sees none or fails (no driver).
// Never fails: for tests that skip without a GPU.
int CudaDeviceCount();

}  // namespace floe
