// The tensor-core attention kernel (launcher: flash_attention.cu).
//
// Attention on tensor cores for packed variable-length sequences,
// FlashAttention-2 style (the idea of Dao's paper; no code copied).
//
// Shape legend: T tokens, B sequences (cu_seqlens [B + 1]), N query heads,
// Nkv key/value heads (group = N / Nkv: query head h reads KV head h /
// group), H head size in {32, 64, 128}. Token t's head h of Q is at q + t *
// ldq + h * H (K, V: kvh * H, strides ldk, ldv); out: [T, ldo].
//
// Grid (B, ceil(max_seqlen / kRows), N): block (b, tile, h) computes query
// rows [tile * kRows, tile * kRows + kRows) of sequence b and head h; blocks
// past their sequence's end leave at once, so no padded token is computed.
// Each of the kWarps warps owns 16 consecutive query rows (one mma M tile).
//
//   1. The block's Q rows are staged through shared memory into registers,
//      as mma A fragments (kept for the whole block).
//   2. For each tile of kKeys keys the block may see (a band when a window
//      is set): K and V rows are copied into shared memory (16-byte loads,
//      zeros past the sequence's end); each warp computes S = Q K^T for its
//      16 rows with mma.sync m16n8k16 (float16 / bfloat16 in, float32
//      accumulators), masks keys outside the sequence or the row's window to
//      -inf, and updates the online softmax in float32 (running row max m,
//      running row sum l, accumulator rescaled by exp(m_old - m_new)); the
//      probabilities P are rounded to the input type and O += P V runs on
//      mma.sync again, with P taken straight from S's accumulator registers.
//   3. O / l is rounded to the output type and stored.
// Scores are in the log2 domain (scale * log2(e) folded in): exp2f.
//
// Fragment layouts of mma.m16n8k16 (PTX ISA, "Matrix Fragments for
// mma.m16n8k16"), lane = 4 * g + t (g: groupID 0..7, t: thread in group
// 0..3); each 32-bit register holds two 16-bit elements, the lower column
// (or k) index in the low half:
//   A (16 x 16, row-major):  a0 = (g, 2t..2t+1)      a1 = (g + 8, 2t..2t+1)
//                            a2 = (g, 2t+8..2t+9)    a3 = (g + 8, 2t+8..2t+9)
//   B (16 x 8, k x n):       b0 = (k 2t..2t+1, n g)  b1 = (k 2t+8..2t+9, n g)
//   C (16 x 8, float32):     c0, c1 = (g, 2t), (g, 2t+1)
//                            c2, c3 = (g + 8, 2t), (g + 8, 2t+1)
// For S = Q K^T, B[k][n] = K[key n][dim k]: b0 is two adjacent dims of one
// key row, one 32-bit load from the [key][dim] tile. For O = P V, B[k][n] =
// V[key k][dim n]: two keys of one dim, two 16-bit loads. S's C fragments of
// key tiles 2s and 2s + 1 are exactly P's A fragment for key step s.
//
// Not run on a GPU yet (docs/cuda.md): tests/cuda/cuda_attention_test.cc
// compares it with the CPU backend where a GPU is present, and
// tests/cuda/flash_attention_emulation_test.cc runs this file's kernel as
// host code (threads for CUDA threads, the mma from PTX's fragment tables)
// everywhere. So this header uses only CUDA's basic builtins (threadIdx,
// blockIdx, __syncthreads, __shfl_xor_sync, min, max, exp2f), and the one
// instruction the emulation replaces, mma.sync, sits behind
// FLOE_FLASH_ATTENTION_EMULATION.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>

namespace floe::cuda::flash {

constexpr int kWarps = 4;
constexpr int kThreads = 32 * kWarps;
constexpr int kRows = 16 * kWarps;  // query rows per block: 16 per warp
constexpr int kKeys = 64;           // keys per K/V tile
constexpr int kPad = 8;             // 16-bit elements of padding per shared row
static_assert(kRows == kKeys, "the Q tile is staged in the K tile's shared memory");

// The kernel's arguments; 16-bit elements are moved as raw bits (uint16_t),
// the element type only picks the mma instruction and the rounding of P, O.
struct Params {
  const uint16_t* q;
  const uint16_t* k;
  const uint16_t* v;
  uint16_t* out;
  int64_t ldq, ldk, ldv, ldo;  // row strides, elements
  const int32_t* cu;
  int group;         // query heads per KV head
  float scale_log2;  // scale * log2(e)
  int left, right;   // window bounds, -1: none
};

// D = A B + D on tensor cores, and two floats rounded into one register;
// T is __half or __nv_bfloat16.
template <typename T>
struct Mma {
  static constexpr bool kBf16 = std::is_same_v<T, __nv_bfloat16>;

  static __device__ __forceinline__ void Run(float (&c)[4], const uint32_t (&a)[4], uint32_t b0,
                                             uint32_t b1) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    if constexpr (kBf16) {
      asm("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 "
          "{%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};\n"
          : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
          : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
    } else {
      asm("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 "
          "{%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};\n"
          : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
          : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
    }
#elif defined(FLOE_FLASH_ATTENTION_EMULATION)
    EmulatedMma(c, a, b0, b1, kBf16);  // tests/cuda/flash_attention_emulation_test.cc
#else
    __trap();  // the launcher never picks this kernel below sm_80
#endif
  }
  static __device__ __forceinline__ uint32_t Pack(float lo, float hi) {
    uint32_t u;  // the low half holds lo
    if constexpr (kBf16) {
      const __nv_bfloat162 h = __floats2bfloat162_rn(lo, hi);
      memcpy(&u, &h, 4);
    } else {
      const __half2 h = __floats2half2_rn(lo, hi);
      memcpy(&u, &h, 4);
    }
    return u;
  }
};

// A shared-memory tile of kKeys rows of one head: row r's element e at
// r * kLds + e. The padding (kPad) makes the fragment loads below free of
// bank conflicts: rows are (H + 8) / 2 words apart, 4 or 20 modulo 32.
template <int H>
struct Tile {
  static constexpr int kLds = H + kPad;
  static constexpr int kChunks = H / 8;  // 16-byte chunks per row
  uint16_t* p;

  // Rows [row0, row0 + kKeys) of a head whose row 0 is at head0 (row
  // stride ld elements); rows at or past len are zeros (never read from
  // global memory). Called by every thread of the block.
  __device__ __forceinline__ void Load(const uint16_t* head0, int64_t ld, int row0, int len) const {
    for (int c = threadIdx.x; c < kKeys * kChunks; c += kThreads) {
      const int r = c / kChunks, ch = c % kChunks;  // chunk fastest: coalesced
      uint4 v = make_uint4(0u, 0u, 0u, 0u);
      if (row0 + r < len) {
        v = *reinterpret_cast<const uint4*>(head0 + static_cast<int64_t>(row0 + r) * ld + ch * 8);
      }
      *reinterpret_cast<uint4*>(p + r * kLds + ch * 8) = v;
    }
  }
  // Elements (row, col) and (row, col + 1) in one register; col even.
  __device__ __forceinline__ uint32_t Pair(int row, int col) const {
    return *reinterpret_cast<const uint32_t*>(p + row * kLds + col);
  }
  // Elements (row, col) and (row + 1, col) in one register.
  __device__ __forceinline__ uint32_t Column(int row, int col) const {
    return static_cast<uint32_t>(p[row * kLds + col]) |
           (static_cast<uint32_t>(p[(row + 1) * kLds + col]) << 16);
  }
};

// True when query i may attend key j (both indices within the sequence).
__device__ __forceinline__ bool Allowed(int i, int j, int left, int right) {
  return (left < 0 || j >= i - left) && (right < 0 || j <= i + right);
}

template <typename T, int H>
__global__ void __launch_bounds__(kThreads) TensorCoreAttentionKernel(Params p) {
  constexpr int kDimSteps = H / 16;      // k steps of S = Q K^T (16 dims each)
  constexpr int kDimTiles = H / 8;       // n tiles of O (8 dims each)
  constexpr int kKeyTiles = kKeys / 8;   // n tiles of S (8 keys each)
  constexpr int kKeySteps = kKeys / 16;  // k steps of O = P V (16 keys each)
  __shared__ __align__(16) uint16_t k_smem[kKeys * Tile<H>::kLds];  // Q first, then K
  __shared__ __align__(16) uint16_t v_smem[kKeys * Tile<H>::kLds];
  const Tile<H> ks{k_smem}, vs{v_smem};

  const int b = blockIdx.x, h = blockIdx.z, kvh = h / p.group;
  const int start = p.cu[b], len = p.cu[b + 1] - start;
  const int q0 = blockIdx.y * kRows;  // first query row of the block, in the sequence
  if (q0 >= len) return;              // the whole block leaves: no barrier is split
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int g = lane / 4, t = lane % 4;
  const int r0 = warp * 16 + g;              // this thread's rows in the block: r0, r0 + 8
  const int qi[2] = {q0 + r0, q0 + r0 + 8};  // ... and in the sequence

  // 1. Q (16 rows x H per warp) as A fragments, k step s = dims [16s, 16s + 16).
  ks.Load(p.q + static_cast<int64_t>(start) * p.ldq + h * H, p.ldq, q0, len);
  __syncthreads();
  uint32_t qf[kDimSteps][4];
#pragma unroll
  for (int s = 0; s < kDimSteps; ++s) {
    qf[s][0] = ks.Pair(r0, 16 * s + 2 * t);
    qf[s][1] = ks.Pair(r0 + 8, 16 * s + 2 * t);
    qf[s][2] = ks.Pair(r0, 16 * s + 2 * t + 8);
    qf[s][3] = ks.Pair(r0 + 8, 16 * s + 2 * t + 8);
  }

  // o[n]: C fragment of dims [8n, 8n + 8); m, l: rows r0 (index 0), r0 + 8 (1).
  // l is this thread's share of the row sum (its columns); the four threads
  // of a group add theirs at the end (they scale theirs by the same factors).
  float o[kDimTiles][4];
#pragma unroll
  for (int n = 0; n < kDimTiles; ++n) o[n][0] = o[n][1] = o[n][2] = o[n][3] = 0.f;
  float m[2] = {-INFINITY, -INFINITY}, l[2] = {0.f, 0.f};

  // Keys [k_begin, k_end) that some row of the block may attend.
  const int q_last = min(len, q0 + kRows) - 1;
  const int k_begin = p.left < 0 ? 0 : max(0, q0 - p.left);
  const int k_end = p.right < 0 ? len : min(len, q_last + p.right + 1);
  const uint16_t* k_head = p.k + static_cast<int64_t>(start) * p.ldk + kvh * H;
  const uint16_t* v_head = p.v + static_cast<int64_t>(start) * p.ldv + kvh * H;

  for (int k0 = k_begin; k0 < k_end; k0 += kKeys) {
    __syncthreads();  // every warp is done with the previous tile (and with Q)
    ks.Load(k_head, p.ldk, k0, len);
    vs.Load(v_head, p.ldv, k0, len);
    __syncthreads();

    // 2a. S = Q K^T: s[j] is the C fragment of keys k0 + [8j, 8j + 8).
    float s[kKeyTiles][4];
#pragma unroll
    for (int j = 0; j < kKeyTiles; ++j) {
      s[j][0] = s[j][1] = s[j][2] = s[j][3] = 0.f;
#pragma unroll
      for (int d = 0; d < kDimSteps; ++d) {
        Mma<T>::Run(s[j], qf[d], ks.Pair(8 * j + g, 16 * d + 2 * t),
                    ks.Pair(8 * j + g, 16 * d + 2 * t + 8));
      }
    }

    // 2b. Scale into the log2 domain, mask, and each row's tile max. Element
    // e of s[j] is row qi[e / 2], key k0 + 8j + 2t + e % 2.
    float mx[2] = {-INFINITY, -INFINITY};
#pragma unroll
    for (int j = 0; j < kKeyTiles; ++j) {
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int key = k0 + 8 * j + 2 * t + (e & 1);
        const int r = e >> 1;
        const bool ok = key < len && Allowed(qi[r], key, p.left, p.right);
        s[j][e] = ok ? s[j][e] * p.scale_log2 : -INFINITY;
        mx[r] = fmaxf(mx[r], s[j][e]);
      }
    }
    // A row's 64 keys are spread over the 4 threads of its group (lanes 4g
    // .. 4g + 3): reduce over lane bits 0 and 1.
    float base[2];
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      mx[r] = fmaxf(mx[r], __shfl_xor_sync(0xffffffffu, mx[r], 1));
      mx[r] = fmaxf(mx[r], __shfl_xor_sync(0xffffffffu, mx[r], 2));
      const float m_new = fmaxf(m[r], mx[r]);
      // -inf while the row has seen no allowed key: subtract 0 instead, so
      // that exp2(-inf - base) is 0, never NaN.
      base[r] = m_new == -INFINITY ? 0.f : m_new;
      const float corr = exp2f(m[r] - base[r]);  // 0 while m[r] is -inf
      m[r] = m_new;
      l[r] *= corr;
#pragma unroll
      for (int n = 0; n < kDimTiles; ++n) {
        o[n][2 * r] *= corr;
        o[n][2 * r + 1] *= corr;
      }
    }

    // 2c. P = exp2(S - m), rounded to T, as A fragments of O += P V: key
    // step s (keys [16s, 16s + 16)) takes S tiles 2s (a0, a1) and 2s + 1
    // (a2, a3); within a tile, elements 0, 1 are row r0 and 2, 3 row r0 + 8.
    uint32_t pf[kKeySteps][4];
#pragma unroll
    for (int j = 0; j < kKeyTiles; ++j) {
      const float e0 = exp2f(s[j][0] - base[0]), e1 = exp2f(s[j][1] - base[0]);
      const float e2 = exp2f(s[j][2] - base[1]), e3 = exp2f(s[j][3] - base[1]);
      l[0] += e0 + e1;
      l[1] += e2 + e3;
      pf[j / 2][(j % 2) * 2] = Mma<T>::Pack(e0, e1);
      pf[j / 2][(j % 2) * 2 + 1] = Mma<T>::Pack(e2, e3);
    }

    // 2d. O += P V: b0 = V rows (keys) 16s + 2t, + 1 of dim 8n + g; b1 the
    // same 8 keys on.
#pragma unroll
    for (int n = 0; n < kDimTiles; ++n) {
#pragma unroll
      for (int st = 0; st < kKeySteps; ++st) {
        Mma<T>::Run(o[n], pf[st], vs.Column(16 * st + 2 * t, 8 * n + g),
                    vs.Column(16 * st + 2 * t + 8, 8 * n + g));
      }
    }
  }

  // 3. Row sums over the group's four threads, then O / l. Every stored row
  // attends at least itself, so l >= 1.
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    l[r] += __shfl_xor_sync(0xffffffffu, l[r], 1);
    l[r] += __shfl_xor_sync(0xffffffffu, l[r], 2);
  }
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    if (qi[r] >= len) continue;
    const float inv = 1.f / l[r];
    uint16_t* row = p.out + static_cast<int64_t>(start + qi[r]) * p.ldo + h * H;
#pragma unroll
    for (int n = 0; n < kDimTiles; ++n) {
      *reinterpret_cast<uint32_t*>(row + 8 * n + 2 * t) =
          Mma<T>::Pack(o[n][2 * r] * inv, o[n][2 * r + 1] * inv);
    }
  }
}

}  // namespace floe::cuda::flash
