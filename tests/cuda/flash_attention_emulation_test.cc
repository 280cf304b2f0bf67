// The tensor-core attention kernel (backend/cuda/flash_attention_kernel.cuh)
// compiled as host code and run on the CPU, against a float64 reference: its
// index math (which shared-memory elements go in which mma register, the
// masks, the online softmax, the output stores) checked on a machine
// without a GPU. One std::thread per CUDA thread of a block; __syncthreads
// and each warp's __shfl_xor_sync are barriers; mma.sync m16n8k16 is
// computed from PTX's fragment tables (PTX ISA, "Matrix Fragments for
// mma.m16n8k16 with floating point type"), written here independently of
// the kernel's loads. What this cannot check: the real instruction's
// behaviour, timing, and anything of the launcher (cuda_attention_test.cc
// does that on a GPU).
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <barrier>
#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "core/half.h"

namespace floe_emulation {

struct Index {
  unsigned x = 0, y = 0, z = 0;
};
thread_local Index thread_index, block_index;

constexpr int kWarps = 4, kLanes = 32;

// The block being run: its barriers and each warp's exchange slots. Slots
// are double-buffered (a lane's n-th shuffle or mma uses buffer n % 2), so
// one barrier per exchange is enough: a lane reuses a buffer only after the
// next exchange's barrier, which every lane reaches after its read.
struct Block {
  std::barrier<> all{kWarps * kLanes};
  std::barrier<> warp[kWarps] = {std::barrier<>(kLanes), std::barrier<>(kLanes),
                                 std::barrier<>(kLanes), std::barrier<>(kLanes)};
  float shuffle[2][kWarps][kLanes];
  struct MmaRegs {
    uint32_t a[4], b[2];
  } mma[2][kWarps][kLanes];
};
Block* block = nullptr;
thread_local unsigned shuffles = 0, mmas = 0;  // this lane's exchanges so far

void Sync() { block->all.arrive_and_wait(); }

float ShflXor(float v, int mask) {
  const int w = thread_index.x / kLanes, lane = thread_index.x % kLanes;
  auto& slots = block->shuffle[shuffles++ % 2][w];
  slots[lane] = v;
  block->warp[w].arrive_and_wait();
  return slots[lane ^ mask];
}

float Element(uint32_t reg, int half, bool bf16) {
  const auto bits = static_cast<uint16_t>(half ? reg >> 16 : reg & 0xffffu);
  return bf16 ? floe::BFloat16ToFloat(bits) : floe::HalfToFloat(bits);
}

// D = A B + C of one warp. Every lane publishes its fragments, then computes
// its own four D elements, reading A[row][k] and B[k][n] from the lane and
// register PTX assigns them:
//   A (row, k): lane 4 (row % 8) + (k % 8) / 2, register row / 8 + 2 (k / 8)
//   B (k, n):   lane 4 n + (k % 8) / 2,         register k / 8
//   C (row, n): lane 4 (row % 8) + n / 2,       register 2 (row / 8) + n % 2
// each register holding element k (or n) % 2 == 0 in its low half.
void Mma(float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1, bool bf16) {
  const int w = thread_index.x / kLanes, lane = thread_index.x % kLanes;
  auto& regs = block->mma[mmas++ % 2][w];
  std::copy(a, a + 4, regs[lane].a);
  regs[lane].b[0] = b0;
  regs[lane].b[1] = b1;
  block->warp[w].arrive_and_wait();
  for (int i = 0; i < 4; ++i) {
    // This lane's C / D register i: the inverse of the C row above.
    const int row = lane / 4 + 8 * (i / 2), n = 2 * (lane % 4) + i % 2;
    float acc = c[i];
    for (int k = 0; k < 16; ++k) {
      const float x =
          Element(regs[4 * (row % 8) + (k % 8) / 2].a[row / 8 + 2 * (k / 8)], k % 2, bf16);
      const float y = Element(regs[4 * n + (k % 8) / 2].b[k / 8], k % 2, bf16);
      acc += x * y;
    }
    c[i] = acc;
  }
}

}  // namespace floe_emulation

// CUDA's builtins, as the kernel header uses them, for host code.
#undef __global__
#undef __device__
#undef __shared__
#undef __launch_bounds__
#define __global__
#define __device__
#define __shared__ static
#define __launch_bounds__(n)
#define threadIdx floe_emulation::thread_index
#define blockIdx floe_emulation::block_index
#define __syncthreads() floe_emulation::Sync()
inline float __shfl_xor_sync(unsigned, float v, int mask) {
  return floe_emulation::ShflXor(v, mask);
}
inline void EmulatedMma(float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1,
                        bool bf16) {
  floe_emulation::Mma(c, a, b0, b1, bf16);
}
using std::max;
using std::min;
#define FLOE_FLASH_ATTENTION_EMULATION 1
#include "backend/cuda/flash_attention_kernel.cuh"  // its #pragma unroll: tests/CMakeLists.txt
#undef threadIdx
#undef blockIdx
#undef __syncthreads
#undef __shared__

namespace floe {
namespace {

namespace flash = cuda::flash;

struct Case {
  std::vector<int32_t> lengths;
  int heads, kv_heads, head_size;
  int left = -1, right = -1;  // window bounds, -1: none
  float scale = 0.f;          // 0: 1 / sqrt(H)
  float sigma = 1.f;          // inputs N(0, sigma^2)
};

uint16_t ToBits(float x, bool bf16) { return bf16 ? FloatToBFloat16(x) : FloatToHalf(x); }
float FromBits(uint16_t x, bool bf16) { return bf16 ? BFloat16ToFloat(x) : HalfToFloat(x); }

// Runs every block of the kernel's grid (B, ceil(max_len / kRows), N), one
// after the other, each with kThreads threads. qkv: [T, (N + 2 Nkv) H].
template <typename T, int H>
std::vector<uint16_t> RunKernel(const Case& c, const std::vector<int32_t>& cu,
                                const std::vector<uint16_t>& qkv) {
  const int N = c.heads, Nkv = c.kv_heads;
  const int64_t ld = static_cast<int64_t>(N + 2 * Nkv) * H;
  std::vector<uint16_t> out(static_cast<size_t>(cu.back()) * N * H, 0x7fff);  // NaN
  flash::Params p;
  p.q = qkv.data();
  p.k = qkv.data() + N * H;
  p.v = qkv.data() + (N + Nkv) * H;
  p.out = out.data();
  p.ldq = p.ldk = p.ldv = ld;
  p.ldo = static_cast<int64_t>(N) * H;
  p.cu = cu.data();
  p.group = N / Nkv;
  const float scale = c.scale > 0.f ? c.scale : 1.f / std::sqrt(static_cast<float>(H));
  p.scale_log2 = scale * 1.4426950408889634f;
  p.left = c.left;
  p.right = c.right;
  const int longest = *std::max_element(c.lengths.begin(), c.lengths.end());
  const unsigned tiles = (longest + flash::kRows - 1) / flash::kRows;
  for (unsigned b = 0; b < c.lengths.size(); ++b) {
    for (unsigned tile = 0; tile < tiles; ++tile) {
      for (unsigned h = 0; h < static_cast<unsigned>(N); ++h) {
        floe_emulation::Block blk;
        floe_emulation::block = &blk;
        std::vector<std::thread> threads;
        for (unsigned i = 0; i < static_cast<unsigned>(flash::kThreads); ++i) {
          threads.emplace_back([&p, i, b, tile, h] {
            floe_emulation::thread_index = {i, 0, 0};
            floe_emulation::shuffles = floe_emulation::mmas = 0;
            floe_emulation::block_index = {b, tile, h};
            flash::TensorCoreAttentionKernel<T, H>(p);
          });
        }
        for (auto& t : threads) t.join();
        floe_emulation::block = nullptr;
      }
    }
  }
  return out;
}

// Attention in float64 from the same (rounded) inputs.
std::vector<double> Reference(const Case& c, const std::vector<int32_t>& cu,
                              const std::vector<float>& x) {
  const int N = c.heads, Nkv = c.kv_heads, H = c.head_size;
  const int64_t ld = static_cast<int64_t>(N + 2 * Nkv) * H;
  const double scale = c.scale > 0.f ? c.scale : 1.0 / std::sqrt(static_cast<double>(H));
  std::vector<double> out(static_cast<size_t>(cu.back()) * N * H, 0.0);
  for (size_t b = 0; b + 1 < cu.size(); ++b) {
    const int start = cu[b], len = cu[b + 1] - cu[b];
    for (int h = 0; h < N; ++h) {
      const int kvh = h / (N / Nkv);
      for (int i = 0; i < len; ++i) {
        std::vector<double> w(len, -INFINITY);
        double mx = -INFINITY;
        for (int j = 0; j < len; ++j) {
          if ((c.left >= 0 && j < i - c.left) || (c.right >= 0 && j > i + c.right)) continue;
          double dot = 0;
          for (int e = 0; e < H; ++e) {
            dot += static_cast<double>(x[(start + i) * ld + h * H + e]) *
                   x[(start + j) * ld + (N + kvh) * H + e];
          }
          w[j] = dot * scale;
          mx = std::max(mx, w[j]);
        }
        double sum = 0;
        for (int j = 0; j < len; ++j) sum += w[j] = std::exp(w[j] - mx);
        for (int j = 0; j < len; ++j) {
          for (int e = 0; e < H; ++e) {
            out[(static_cast<size_t>(start) + i) * N * H + h * H + e] +=
                w[j] / sum * x[(start + j) * ld + (N + Nkv + kvh) * H + e];
          }
        }
      }
    }
  }
  return out;
}

template <typename T, int H>
void Check(Case c, uint32_t seed) {
  constexpr bool bf16 = std::is_same_v<T, __nv_bfloat16>;
  c.head_size = H;
  std::vector<int32_t> cu = {0};
  for (int32_t l : c.lengths) cu.push_back(cu.back() + l);
  const size_t n = static_cast<size_t>(cu.back()) * (c.heads + 2 * c.kv_heads) * H;
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.f, c.sigma);
  std::vector<uint16_t> bits(n);
  std::vector<float> values(n);
  for (size_t i = 0; i < n; ++i) {
    bits[i] = ToBits(dist(rng), bf16);
    values[i] = FromBits(bits[i], bf16);
  }
  const auto got = RunKernel<T, H>(c, cu, bits);
  const auto want = Reference(c, cu, values);
  double num = 0, den = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    const double d = FromBits(got[i], bf16) - want[i];
    num += d * d;
    den += want[i] * want[i];
  }
  // P and the output rounded to the type: about 2^-11 (float16), 2^-8
  // (bfloat16) relative per element. A wrong index gives errors of order 1
  // (NaN where a row is never written).
  const double nmse = std::isfinite(num) ? num / den : INFINITY;
  EXPECT_LE(nmse, bf16 ? 2e-4 : 2e-5)
      << (bf16 ? "bfloat16" : "float16") << " H " << H << ", " << c.heads << "/" << c.kv_heads
      << " heads, window " << c.left << "," << c.right << ", sigma " << c.sigma;
}

// Few tokens, as 128 threads per block on a CPU are slow: one token, and
// a full 64-row tile plus a partial one; grouped KV heads (2 query heads
// per KV head).
const std::vector<int32_t> kLengths = {1, 70};

TEST(FlashAttentionEmulationTest, EveryHeadSizeAndTypeMatchesReference) {
  const Case c{kLengths, 2, 1, 0};
  Check<__half, 32>(c, 1);
  Check<__half, 64>(c, 2);
  Check<__half, 128>(c, 3);
  Check<__nv_bfloat16, 32>(c, 4);
  Check<__nv_bfloat16, 64>(c, 5);
  Check<__nv_bfloat16, 128>(c, 6);
}

// Three query tiles, so that windows drop whole key tiles.
TEST(FlashAttentionEmulationTest, CausalAndSlidingWindowsMatchReference) {
  Case causal{{1, 37, 130}, 2, 2, 0};
  causal.right = 0;
  Check<__half, 64>(causal, 7);
  Case sliding = causal;
  sliding.left = 20;  // key tiles before the band are skipped
  Check<__nv_bfloat16, 64>(sliding, 8);
  Case local{{1, 37, 130}, 2, 1, 0};
  local.left = 3;
  local.right = 70;  // asymmetric, past one tile
  Check<__half, 32>(local, 9);
}

// Scores of standard deviation 9 sqrt(H): nearly one-hot rows, where a
// wrong running max or a lost rescale shows.
TEST(FlashAttentionEmulationTest, SharpSoftmaxMatchesReference) {
  Case sharp{kLengths, 2, 2, 0};
  sharp.scale = 1.f;
  sharp.sigma = 3.f;
  Check<__half, 64>(sharp, 10);
  Check<__nv_bfloat16, 128>(sharp, 11);
}

}  // namespace
}  // namespace floe
