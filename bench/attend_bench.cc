// Backend::Attend on one long sequence (issue 15): the CPU backend's
// flash-style kernel (key blocks, online softmax) against the kernel it
// replaced (64 query rows x all keys per score block, copied below as
// OldAttend, for this comparison only). Shapes: 16 heads of 64, full
// (BERT-like); causal 16 / 8 GQA heads of 128 (Qwen3-0.6B-like). Counter
// tokens_per_s; CPU is the process's (all threads), steadier than wall time
// on shared cores. bench/attend_sdpa_bench.py times torch's SDPA on the same
// shapes.
#include <benchmark/benchmark.h>
#include <dnnl.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "backend/backend.h"
#include "backend/cpu/kernels.h"

namespace {

// The pre-flash kernel, without Q/K norm and rotary (not benched), one job
// per head: S = scale Q_blk K_band^T for 64 queries, softmax, O = S V.
void OldAttend(const float* qkv, int64_t len, int64_t N, int64_t Nkv, int64_t H,
               bool causal, float* out) {
  constexpr int64_t kQueryBlock = 64;
  const int64_t group = N / Nkv, ld = (N + 2 * Nkv) * H, ldo = N * H;
  const float scale = 1.f / std::sqrt(static_cast<float>(H));
  const int64_t right = causal ? 0 : -1;
#pragma omp parallel
  {
    std::vector<float> q(len * H), k(len * H), scores(kQueryBlock * len);
#pragma omp for schedule(dynamic, 1)
    for (int64_t h = 0; h < N; ++h) {
      const int64_t kvh = h / group;
      for (int64_t t = 0; t < len; ++t) {
        std::copy_n(qkv + t * ld + h * H, H, q.data() + t * H);
        std::copy_n(qkv + t * ld + (N + kvh) * H, H, k.data() + t * H);
      }
      const float* v = qkv + (N + Nkv + kvh) * H;
      float* o = out + h * H;
      for (int64_t i0 = 0; i0 < len; i0 += kQueryBlock) {
        const int64_t i1 = std::min(len, i0 + kQueryBlock), bq = i1 - i0;
        const int64_t khi = right < 0 ? len : std::min(len, i1 + right), span = khi;
        float* s = scores.data();
        dnnl_sgemm('N', 'T', bq, span, H, scale, q.data() + i0 * H, H, k.data(), H, 0.f, s,
                   span);
        for (int64_t r = 0; r < bq; ++r) {
          const int64_t hi = right < 0 ? len : std::min(len, i0 + r + right + 1);
          float* row = s + r * span;
          floe::cpu::SoftmaxRows(row, 1, hi, span);
          std::fill(row + hi, row + span, 0.f);
        }
        dnnl_sgemm('N', 'N', bq, H, span, 1.f, s, span, v, ld, 0.f, o + i0 * ldo, ldo);
      }
    }
  }
}

// Args: tokens, heads, kv heads, head size, causal, kernel (0 old, 1 new).
void BM_Attend(benchmark::State& state) {
  const int64_t T = state.range(0), N = state.range(1), Nkv = state.range(2),
                H = state.range(3);
  const bool causal = state.range(4) != 0, flash = state.range(5) != 0;
  auto backend = floe::CreateBackend({});
  if (!backend.ok()) {
    state.SkipWithError(backend.status().ToString().c_str());
    return;
  }
  std::vector<int32_t> cu = {0, static_cast<int32_t>(T)};
  std::mt19937 rng(1);
  std::normal_distribution<float> d(0.f, 1.f);
  std::vector<float> qkv(T * (N + 2 * Nkv) * H), out(T * N * H);
  for (auto& x : qkv) x = d(rng);
  floe::PackedBatch packed{cu.data(), cu.data(), 1, T, T};
  floe::AttentionSpec spec;
  spec.num_heads = N;
  spec.num_kv_heads = Nkv;
  spec.head_size = H;
  spec.causal = causal;
  for (auto _ : state) {
    if (flash) {
      floe::Status s =
          (*backend)->Attend(floe::HostF32(qkv.data(), {T, (N + 2 * Nkv) * H}), packed,
                             spec, floe::HostF32(out.data(), {T, N * H}));
      if (!s.ok()) state.SkipWithError(s.ToString().c_str());
    } else {
      OldAttend(qkv.data(), T, N, Nkv, H, causal, out.data());
    }
    benchmark::DoNotOptimize(out.data());
  }
  state.counters["tokens_per_s"] =
      benchmark::Counter(static_cast<double>(T), benchmark::Counter::kIsIterationInvariantRate);
}

void Shapes(benchmark::internal::Benchmark* b) {
  for (int64_t T : {4096, 8192, 16384}) {
    for (int64_t kernel : {0, 1}) {
      b->Args({T, 16, 16, 64, 0, kernel});
      b->Args({T, 16, 8, 128, 1, kernel});
    }
  }
}

BENCHMARK(BM_Attend)
    ->ArgNames({"T", "N", "Nkv", "H", "causal", "flash"})
    ->Apply(Shapes)
    ->Iterations(1)
    ->MeasureProcessCPUTime()
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
