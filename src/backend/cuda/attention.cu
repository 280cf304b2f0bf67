// Self-attention over variable-length packed sequences, one launch per batch.
//
// Shape legend: T tokens, B sequences (cu_seqlens [B + 1]), N heads, H head
// size, D = N * H. qkv: [T, 3D] (Q | K | V), out: [T, D].
//
// FlashAttentionKernel (H in {32, 64}): flash-attention style. A block takes
// kFlashRows query rows of one (sequence, head), one row per thread with q
// and the output accumulator in registers; K and V stream through shared
// memory in tiles of kFlashKeys rows (converted to float32 once per tile), and
// the softmax is online (running max and sum, float32), so scores never touch
// global memory and no padded token is computed. Products are CUDA-core FMAs,
// not tensor cores: see docs/cuda.md for the measured cost and the next step.
//
// WarpAttentionKernel (any H <= kMaxHeadSize): one warp per (token, head),
// lanes split H, keys read straight from global memory (L2). The fallback,
// and the reference the tests compare the tiled kernel against.
#include <cmath>

#include "backend/cuda/device_utils.cuh"

namespace floe::cuda {
namespace {

constexpr int kFlashRows = 64;  // query rows (threads) per block
constexpr int kFlashKeys = 32;  // keys per shared-memory tile

template <typename T, int H>
__global__ void __launch_bounds__(kFlashRows)
    FlashAttentionKernel(const T* __restrict__ qkv, const int32_t* __restrict__ cu, int hidden,
                         float scale, T* __restrict__ out) {
  __shared__ __align__(16) float ks[kFlashKeys][H];
  __shared__ __align__(16) float vs[kFlashKeys][H];
  const int b = blockIdx.x, h = blockIdx.z;
  const int start = cu[b], len = cu[b + 1] - start;
  const int q0 = blockIdx.y * kFlashRows;
  if (q0 >= len) return;  // the whole block leaves: no barrier is split
  const int qi = q0 + static_cast<int>(threadIdx.x);
  const bool active = qi < len;
  const int64_t ld = 3LL * hidden;

  float q[H], acc[H];
#pragma unroll
  for (int d = 0; d < H; ++d) {
    q[d] = 0.f;
    acc[d] = 0.f;
  }
  if (active) {
    const T* qp = qkv + static_cast<int64_t>(start + qi) * ld + h * H;
#pragma unroll
    for (int d = 0; d < H; ++d) q[d] = ToFloat(qp[d]) * scale;
  }
  float m = -INFINITY, l = 0.f;
  for (int k0 = 0; k0 < len; k0 += kFlashKeys) {
    const int kn = min(kFlashKeys, len - k0);
    __syncthreads();  // every thread is done with the previous tile
    for (int idx = threadIdx.x; idx < kFlashKeys * H; idx += blockDim.x) {
      const int j = idx / H, d = idx % H;  // d fastest: coalesced reads
      float kv = 0.f, vv = 0.f;
      if (j < kn) {
        const T* kp = qkv + static_cast<int64_t>(start + k0 + j) * ld + hidden + h * H + d;
        kv = ToFloat(kp[0]);
        vv = ToFloat(kp[hidden]);
      }
      ks[j][d] = kv;
      vs[j][d] = vv;
    }
    __syncthreads();
    if (!active) continue;
    float s[kFlashKeys];
    float tile_max = -INFINITY;
#pragma unroll
    for (int j = 0; j < kFlashKeys; ++j) {
      float dot = 0.f;
#pragma unroll
      for (int d = 0; d < H; ++d) dot = fmaf(q[d], ks[j][d], dot);
      s[j] = j < kn ? dot : -INFINITY;
      tile_max = fmaxf(tile_max, s[j]);
    }
    const float m_new = fmaxf(m, tile_max);  // finite: the tile has >= 1 key
    const float corr = __expf(m - m_new);    // 0 on the first tile (m = -inf)
    l *= corr;
#pragma unroll
    for (int d = 0; d < H; ++d) acc[d] *= corr;
#pragma unroll
    for (int j = 0; j < kFlashKeys; ++j) {
      const float p = __expf(s[j] - m_new);  // 0 past the sequence's end
      l += p;
#pragma unroll
      for (int d = 0; d < H; ++d) acc[d] = fmaf(p, vs[j][d], acc[d]);
    }
    m = m_new;
  }
  if (active) {
    const float inv = 1.f / l;
    T* op = out + static_cast<int64_t>(start + qi) * hidden + h * H;
#pragma unroll
    for (int d = 0; d < H; ++d) op[d] = FromFloat<T>(acc[d] * inv);
  }
}

template <typename T>
__global__ void WarpAttentionKernel(const T* __restrict__ qkv, const int32_t* __restrict__ cu,
                                    int num_seqs, int64_t rows, int heads, int hidden,
                                    int head_size, float scale, T* __restrict__ out) {
  constexpr int kPer = kMaxHeadSize / 32;
  const int64_t warp = (static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x) >> 5;
  const int lane = threadIdx.x & 31;
  if (warp >= rows) return;  // warp-uniform
  const int t = static_cast<int>(warp / heads), h = static_cast<int>(warp % heads);
  const int b = SeqOfRow(cu, num_seqs, t);
  const int start = cu[b], end = cu[b + 1];
  const int64_t ld = 3LL * hidden;
  const T* qp = qkv + static_cast<int64_t>(t) * ld + h * head_size;
  float q[kPer], acc[kPer];
#pragma unroll
  for (int i = 0; i < kPer; ++i) {
    const int d = lane + 32 * i;
    q[i] = d < head_size ? ToFloat(qp[d]) * scale : 0.f;
    acc[i] = 0.f;
  }
  float m = -INFINITY, l = 0.f;
  for (int j = start; j < end; ++j) {
    const T* kp = qkv + static_cast<int64_t>(j) * ld + hidden + h * head_size;
    float dot = 0.f;
#pragma unroll
    for (int i = 0; i < kPer; ++i) {
      const int d = lane + 32 * i;
      if (d < head_size) dot = fmaf(q[i], ToFloat(kp[d]), dot);
    }
    dot = WarpSum(dot);
    const float m_new = fmaxf(m, dot);
    const float corr = __expf(m - m_new), p = __expf(dot - m_new);
    l = l * corr + p;
    const T* vp = kp + hidden;
#pragma unroll
    for (int i = 0; i < kPer; ++i) {
      const int d = lane + 32 * i;
      if (d < head_size) acc[i] = fmaf(p, ToFloat(vp[d]), acc[i] * corr);
    }
    m = m_new;
  }
  T* op = out + static_cast<int64_t>(t) * hidden + h * head_size;
  const float inv = 1.f / l;
#pragma unroll
  for (int i = 0; i < kPer; ++i) {
    const int d = lane + 32 * i;
    if (d < head_size) op[d] = FromFloat<T>(acc[i] * inv);
  }
}

template <typename T, int H>
cudaError_t LaunchFlash(const T* qkv, const int32_t* cu, int64_t num_seqs, int64_t max_seqlen,
                        int64_t heads, float scale, T* out, cudaStream_t stream) {
  const int64_t tiles = (max_seqlen + kFlashRows - 1) / kFlashRows;
  if (num_seqs > 0x7fffffffLL || tiles > 65535 || heads > 65535) return cudaErrorInvalidValue;
  const dim3 grid(static_cast<unsigned>(num_seqs), static_cast<unsigned>(tiles),
                  static_cast<unsigned>(heads));
  FlashAttentionKernel<T, H><<<grid, kFlashRows, 0, stream>>>(
      qkv, cu, static_cast<int>(heads * H), scale, out);
  return cudaGetLastError();
}

}  // namespace

bool FlashAttentionSupports(int64_t head_size) { return head_size == 32 || head_size == 64; }

cudaError_t LaunchAttention(DType dt, const void* qkv, const int32_t* cu_seqlens,
                            int64_t num_seqs, int64_t tokens, int64_t max_seqlen,
                            int64_t num_heads, int64_t head_size, float scale, bool allow_flash,
                            void* out, cudaStream_t stream) {
  if (num_seqs < 1 || tokens < 1 || max_seqlen < 1 || num_heads < 1 || head_size < 1 ||
      head_size > kMaxHeadSize || tokens > 0x7fffffffLL ||
      3 * num_heads * head_size > 0x7fffffffLL) {
    return cudaErrorInvalidValue;
  }
  return DispatchDType(dt, [&](auto tag) -> cudaError_t {
    using T = decltype(tag);
    const T* in = static_cast<const T*>(qkv);
    T* o = static_cast<T*>(out);
    if (allow_flash && head_size == 32) {
      return LaunchFlash<T, 32>(in, cu_seqlens, num_seqs, max_seqlen, num_heads, scale, o, stream);
    }
    if (allow_flash && head_size == 64) {
      return LaunchFlash<T, 64>(in, cu_seqlens, num_seqs, max_seqlen, num_heads, scale, o, stream);
    }
    constexpr int kThreads = 128;
    const int64_t rows = tokens * num_heads;
    const int64_t blocks = (rows * 32 + kThreads - 1) / kThreads;
    if (blocks > 0x7fffffffLL) return cudaErrorInvalidValue;
    WarpAttentionKernel<T><<<static_cast<unsigned>(blocks), kThreads, 0, stream>>>(
        in, cu_seqlens, static_cast<int>(num_seqs), rows, static_cast<int>(num_heads),
        static_cast<int>(num_heads * head_size), static_cast<int>(head_size), scale, o);
    return cudaGetLastError();
  });
}

}  // namespace floe::cuda
