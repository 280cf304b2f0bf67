// The CPU backend's packed attention alone (12 heads of 64, BERT-base), per
// layer: S = scale Q K^T, softmax, O = S V for every sequence, one job per
// (sequence, head). `OMP_NUM_THREADS=1 build/bench/attention_bench` gives
// figures that shared cores disturb least. Counter tokens_per_s is tokens
// through one layer's attention per second.
#include <benchmark/benchmark.h>

#include <cmath>
#include <random>
#include <vector>

#include "backend/backend.h"

namespace {

void BM_Attention(benchmark::State& state) {
  const int64_t seq = state.range(0), batch = state.range(1), heads = 12, head_size = 64;
  const int64_t D = heads * head_size, T = seq * batch;
  auto backend = floe::CreateBackend({});
  if (!backend.ok()) {
    state.SkipWithError(backend.status().ToString().c_str());
    return;
  }
  std::vector<int32_t> cu(batch + 1);
  for (int64_t b = 0; b <= batch; ++b) cu[b] = static_cast<int32_t>(b * seq);
  std::mt19937 rng(1);
  std::normal_distribution<float> d(0.f, 1.f);
  std::vector<float> qkv(T * 3 * D), out(T * D);
  for (auto& x : qkv) x = d(rng);
  floe::PackedBatch packed{cu.data(), cu.data(), batch, T, static_cast<int32_t>(seq)};
  const float scale = 1.f / std::sqrt(static_cast<float>(head_size));
  for (auto _ : state) {
    floe::Status s =
        (*backend)->Attention(floe::HostF32(qkv.data(), {T, 3 * D}), packed, heads,
                              head_size, scale, floe::HostF32(out.data(), {T, D}));
    if (!s.ok()) state.SkipWithError(s.ToString().c_str());
    benchmark::DoNotOptimize(out.data());
  }
  state.counters["tokens_per_s"] =
      benchmark::Counter(static_cast<double>(T), benchmark::Counter::kIsIterationInvariantRate);
}

BENCHMARK(BM_Attention)
    ->ArgNames({"seq", "batch"})
    ->Args({512, 16})
    ->Args({384, 16})
    ->Args({256, 16})
    ->Args({128, 16})
    ->Args({50, 64})
    ->Args({50, 1})
    ->Unit(benchmark::kMicrosecond)
    ->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
