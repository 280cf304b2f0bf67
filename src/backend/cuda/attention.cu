// Attention over variable-length packed sequences on CUDA cores, the kernel
// choice, and the Q/K head copy (with RMSNorm) that Attend runs first.
//
// Shape legend: T tokens, B sequences (cu_seqlens [B + 1]), N query heads,
// Nkv key/value heads (query head h reads KV head h / (N / Nkv)), H head
// size. Q, K, V rows: token t's head h at q + t * ldq + h * H (kernels.h's
// AttentionArgs); out: [T, ldo].
//
// The tensor-core kernel lives in flash_attention.cu; these two are the
// fallback (FLOE_CUDA_ATTENTION=simple) and the only path for float32 and
// head sizes it does not take.
//
// TiledAttentionKernel (H in {32, 64}, no window): flash-attention style. A
// block takes kTiledRows query rows of one (sequence, head), one row per
// thread with q and the output accumulator in registers; K and V stream
// through shared memory in tiles of kTiledKeys rows (converted to float32
// once per tile), and the softmax is online (running max and sum, float32),
// so scores never touch global memory and no padded token is computed.
// Products are CUDA-core FMAs.
//
// WarpAttentionKernel (any H <= kMaxHeadSize, any window): one warp per
// (token, head), lanes split H, keys read straight from global memory (L2),
// only the keys the row's window allows.
#include <cmath>

#include "backend/cuda/device_utils.cuh"

namespace floe::cuda {
namespace {

constexpr int kTiledRows = 64;  // query rows (threads) per block
constexpr int kTiledKeys = 32;  // keys per shared-memory tile

// The launch's pointers as element type T, offsets in elements.
template <typename T>
struct Heads {
  const T* q;
  const T* k;
  const T* v;
  T* out;
  int64_t ldq, ldk, ldv, ldo;
};

template <typename T>
Heads<T> HeadsOf(const AttentionArgs& a) {
  return Heads<T>{static_cast<const T*>(a.q), static_cast<const T*>(a.k),
                  static_cast<const T*>(a.v), static_cast<T*>(a.out),
                  a.ldq, a.ldk, a.ldv, a.ldo};
}

// Grid (B, query tiles, N); query head h reads KV head h / group.
template <typename T, int H>
__global__ void __launch_bounds__(kTiledRows)
    TiledAttentionKernel(Heads<T> p, const int32_t* __restrict__ cu, int group, float scale) {
  __shared__ __align__(16) float ks[kTiledKeys][H];
  __shared__ __align__(16) float vs[kTiledKeys][H];
  const int b = blockIdx.x, h = blockIdx.z, kvh = h / group;
  const int start = cu[b], len = cu[b + 1] - start;
  const int q0 = blockIdx.y * kTiledRows;
  if (q0 >= len) return;  // the whole block leaves: no barrier is split
  const int qi = q0 + static_cast<int>(threadIdx.x);
  const bool active = qi < len;

  float q[H], acc[H];
#pragma unroll
  for (int d = 0; d < H; ++d) {
    q[d] = 0.f;
    acc[d] = 0.f;
  }
  if (active) {
    const T* qp = p.q + static_cast<int64_t>(start + qi) * p.ldq + h * H;
#pragma unroll
    for (int d = 0; d < H; ++d) q[d] = ToFloat(qp[d]) * scale;
  }
  float m = -INFINITY, l = 0.f;
  for (int k0 = 0; k0 < len; k0 += kTiledKeys) {
    const int kn = min(kTiledKeys, len - k0);
    __syncthreads();  // every thread is done with the previous tile
    for (int idx = threadIdx.x; idx < kTiledKeys * H; idx += blockDim.x) {
      const int j = idx / H, d = idx % H;  // d fastest: coalesced reads
      float kv = 0.f, vv = 0.f;
      if (j < kn) {
        const int64_t row = start + k0 + j;
        kv = ToFloat(p.k[row * p.ldk + kvh * H + d]);
        vv = ToFloat(p.v[row * p.ldv + kvh * H + d]);
      }
      ks[j][d] = kv;
      vs[j][d] = vv;
    }
    __syncthreads();
    if (!active) continue;
    float s[kTiledKeys];
    float tile_max = -INFINITY;
#pragma unroll
    for (int j = 0; j < kTiledKeys; ++j) {
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
    for (int j = 0; j < kTiledKeys; ++j) {
      const float e = __expf(s[j] - m_new);  // 0 past the sequence's end
      l += e;
#pragma unroll
      for (int d = 0; d < H; ++d) acc[d] = fmaf(e, vs[j][d], acc[d]);
    }
    m = m_new;
  }
  if (active) {
    const float inv = 1.f / l;
    T* op = p.out + static_cast<int64_t>(start + qi) * p.ldo + h * H;
#pragma unroll
    for (int d = 0; d < H; ++d) op[d] = FromFloat<T>(acc[d] * inv);
  }
}

// One warp per (token t, query head h): rows = T * N warps. Only keys j of
// t's sequence with t - left <= j <= t + right (a bound of -1: none) are
// visited, so masked keys cost nothing.
template <typename T>
__global__ void WarpAttentionKernel(Heads<T> p, const int32_t* __restrict__ cu, int num_seqs,
                                    int64_t rows, int heads, int group, int head_size,
                                    float scale, int left, int right) {
  constexpr int kPer = kMaxHeadSize / 32;
  const int64_t warp = (static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x) >> 5;
  const int lane = threadIdx.x & 31;
  if (warp >= rows) return;  // warp-uniform
  const int t = static_cast<int>(warp / heads), h = static_cast<int>(warp % heads);
  const int kvh = h / group;
  const int b = SeqOfRow(cu, num_seqs, t);
  const int lo = left < 0 ? cu[b] : max(cu[b], t - left);
  const int hi = right < 0 ? cu[b + 1] : min(cu[b + 1], t + right + 1);  // > t
  const T* qp = p.q + static_cast<int64_t>(t) * p.ldq + h * head_size;
  float q[kPer], acc[kPer];
#pragma unroll
  for (int i = 0; i < kPer; ++i) {
    const int d = lane + 32 * i;
    q[i] = d < head_size ? ToFloat(qp[d]) * scale : 0.f;
    acc[i] = 0.f;
  }
  float m = -INFINITY, l = 0.f;
  for (int j = lo; j < hi; ++j) {
    const T* kp = p.k + static_cast<int64_t>(j) * p.ldk + kvh * head_size;
    float dot = 0.f;
#pragma unroll
    for (int i = 0; i < kPer; ++i) {
      const int d = lane + 32 * i;
      if (d < head_size) dot = fmaf(q[i], ToFloat(kp[d]), dot);
    }
    dot = WarpSum(dot);
    const float m_new = fmaxf(m, dot);
    const float corr = __expf(m - m_new), e = __expf(dot - m_new);
    l = l * corr + e;
    const T* vp = p.v + static_cast<int64_t>(j) * p.ldv + kvh * head_size;
#pragma unroll
    for (int i = 0; i < kPer; ++i) {
      const int d = lane + 32 * i;
      if (d < head_size) acc[i] = fmaf(e, ToFloat(vp[d]), acc[i] * corr);
    }
    m = m_new;
  }
  T* op = p.out + static_cast<int64_t>(t) * p.ldo + h * head_size;
  const float inv = 1.f / l;  // l >= 1: the row attends itself
#pragma unroll
  for (int i = 0; i < kPer; ++i) {
    const int d = lane + 32 * i;
    if (d < head_size) op[d] = FromFloat<T>(acc[i] * inv);
  }
}

// One warp per (token, head): rows = T * heads warps.
template <typename T>
__global__ void CopyHeadsKernel(const T* __restrict__ src, int64_t ld_src, int64_t rows,
                                int heads, int head_size, const float* __restrict__ norm,
                                float eps, T* __restrict__ dst, int64_t ld_dst) {
  constexpr int kPer = kMaxHeadSize / 32;
  const int64_t warp = (static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x) >> 5;
  const int lane = threadIdx.x & 31;
  if (warp >= rows) return;  // warp-uniform
  const int64_t t = warp / heads;
  const int h = static_cast<int>(warp % heads);
  const T* s = src + t * ld_src + h * head_size;
  T* d = dst + t * ld_dst + h * head_size;
  float x[kPer];
  float ss = 0.f;
#pragma unroll
  for (int i = 0; i < kPer; ++i) {
    const int e = lane + 32 * i;
    x[i] = e < head_size ? ToFloat(s[e]) : 0.f;
    ss += x[i] * x[i];
  }
  const float r =
      norm != nullptr ? rsqrtf(WarpSum(ss) / static_cast<float>(head_size) + eps) : 1.f;
#pragma unroll
  for (int i = 0; i < kPer; ++i) {
    const int e = lane + 32 * i;
    if (e < head_size) d[e] = FromFloat<T>(norm != nullptr ? x[i] * r * norm[e] : x[i]);
  }
}

constexpr int kWarpThreads = 128;  // 4 (token, head) rows per block

unsigned WarpBlocks(int64_t rows) {
  return static_cast<unsigned>((rows * 32 + kWarpThreads - 1) / kWarpThreads);
}

// True when a's window masks some key (the tiled kernel has no masks).
bool Windowed(const AttentionArgs& a) {
  return WindowBound(a.window_left, a.max_seqlen) >= 0 ||
         WindowBound(a.window_right, a.max_seqlen) >= 0;
}

template <typename T, int H>
cudaError_t LaunchTiled(const AttentionArgs& a, cudaStream_t stream) {
  const int64_t tiles = (a.max_seqlen + kTiledRows - 1) / kTiledRows;
  if (a.num_seqs > 0x7fffffffLL || tiles > 65535 || a.num_heads > 65535) {
    return cudaErrorInvalidValue;
  }
  const dim3 grid(static_cast<unsigned>(a.num_seqs), static_cast<unsigned>(tiles),
                  static_cast<unsigned>(a.num_heads));
  TiledAttentionKernel<T, H><<<grid, kTiledRows, 0, stream>>>(
      HeadsOf<T>(a), a.cu_seqlens, static_cast<int>(a.num_heads / a.num_kv_heads), a.scale);
  return cudaGetLastError();
}

}  // namespace

const char* AttentionKernelName(AttentionKernel kernel) {
  switch (kernel) {
    case AttentionKernel::kTensorCore: return "tensor-core";
    case AttentionKernel::kTiled: return "tiled";
    case AttentionKernel::kWarp: return "warp";
  }
  return "?";
}

AttentionKernel ChooseAttentionKernel(const AttentionArgs& a, bool tensor_cores, bool tiled,
                                      int sm_major) {
  if (tensor_cores && TensorCoreAttentionSupports(a, sm_major)) {
    return AttentionKernel::kTensorCore;
  }
  if (tiled && !Windowed(a) && (a.head_size == 32 || a.head_size == 64)) {
    return AttentionKernel::kTiled;
  }
  return AttentionKernel::kWarp;
}

cudaError_t LaunchAttention(const AttentionArgs& a, AttentionKernel kernel,
                            cudaStream_t stream) {
  const int64_t N = a.num_heads, Nkv = a.num_kv_heads, H = a.head_size;
  if (a.num_seqs < 1 || a.tokens < 1 || a.max_seqlen < 1 || N < 1 || Nkv < 1 ||
      N % Nkv != 0 || H < 1 || H > kMaxHeadSize || a.tokens > 0x7fffffffLL || N > 65535) {
    return cudaErrorInvalidValue;
  }
  if (kernel == AttentionKernel::kTensorCore) return LaunchTensorCoreAttention(a, stream);
  return DispatchDType(a.dt, [&](auto tag) -> cudaError_t {
    using T = decltype(tag);
    if (kernel == AttentionKernel::kTiled) {
      if (Windowed(a)) return cudaErrorInvalidValue;
      if (H == 32) return LaunchTiled<T, 32>(a, stream);
      if (H == 64) return LaunchTiled<T, 64>(a, stream);
      return cudaErrorInvalidValue;
    }
    const int64_t rows = a.tokens * N;
    if ((rows * 32 + kWarpThreads - 1) / kWarpThreads > 0x7fffffffLL) {
      return cudaErrorInvalidValue;
    }
    WarpAttentionKernel<T><<<WarpBlocks(rows), kWarpThreads, 0, stream>>>(
        HeadsOf<T>(a), a.cu_seqlens, static_cast<int>(a.num_seqs), rows, static_cast<int>(N),
        static_cast<int>(N / Nkv), static_cast<int>(H), a.scale,
        WindowBound(a.window_left, a.max_seqlen), WindowBound(a.window_right, a.max_seqlen));
    return cudaGetLastError();
  });
}

cudaError_t LaunchCopyHeads(DType dt, const void* src, int64_t ld_src, int64_t tokens,
                            int64_t num_heads, int64_t head_size, const float* norm,
                            float eps, void* dst, int64_t ld_dst, cudaStream_t stream) {
  if (tokens < 1 || num_heads < 1 || num_heads > 65535 || head_size < 1 ||
      head_size > kMaxHeadSize || tokens * num_heads * 32 > 0x7fffffffLL * kWarpThreads) {
    return cudaErrorInvalidValue;
  }
  return DispatchDType(dt, [&](auto tag) -> cudaError_t {
    using T = decltype(tag);
    const int64_t rows = tokens * num_heads;
    CopyHeadsKernel<T><<<WarpBlocks(rows), kWarpThreads, 0, stream>>>(
        static_cast<const T*>(src), ld_src, rows, static_cast<int>(num_heads),
        static_cast<int>(head_size), norm, eps, static_cast<T*>(dst), ld_dst);
    return cudaGetLastError();
  });
}

}  // namespace floe::cuda
