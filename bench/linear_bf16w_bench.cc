// One Linear product, float32 against bfloat16 weights (backend/cpu/
// linear_bf16w.h) on its two paths: floe's kernel (widens bf16 on the fly)
// and the weight widened to float32 once per call + oneDNN's float32
// product. The path of the bf16 backend is forced with FLOE_CPU_BF16W_ROWS;
// run under ONEDNN_MAX_CPU_ISA=AVX2 (or any class without AVX512_BF16):
//   ONEDNN_MAX_CPU_ISA=AVX2 build/bench/linear_bf16w_bench --benchmark_min_time=0.2
// Args: m (rows), k, n; path 0 float32, 1 bf16 kernel, 2 bf16 widened.
// CpuBackend::kBf16wRows, the rows up to which the kernel runs, comes from
// where its time crosses the widened path's (docs/cpu-performance.md).
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "backend/backend.h"

namespace {

floe::Backend* SharedBackend(int path) {
  static std::unique_ptr<floe::Backend> backends[3];
  if (!backends[path]) {
    floe::RuntimeOptions o;
    o.dtype = path == 0 ? "float32" : "bfloat16";
    setenv("FLOE_CPU_BF16W_ROWS", path == 1 ? "1000000000" : "0", 1);
    auto b = floe::CreateBackend(o);
    unsetenv("FLOE_CPU_BF16W_ROWS");
    if (!b.ok()) return nullptr;
    backends[path] = std::move(b).value();
  }
  return backends[path].get();
}

void BM_Linear(benchmark::State& state) {
  const int64_t m = state.range(0), k = state.range(1), n = state.range(2);
  const int path = static_cast<int>(state.range(3));
  floe::Backend* b = SharedBackend(path);
  if (b == nullptr) {
    state.SkipWithError("no backend for this dtype (bfloat16 needs AVX2 and FMA)");
    return;
  }
  std::mt19937 rng(1);
  std::normal_distribution<float> d(0.f, 1.f);
  std::vector<float> w(n * k), bias(n), x(b->RoundUpRows(m) * k), y(b->RoundUpRows(m) * n);
  for (auto& v : w) v = 0.05f * d(rng);
  for (auto& v : bias) v = d(rng);
  for (auto& v : x) v = d(rng);
  floe::LinearSpec spec;
  spec.weight = w.data();
  spec.bias = bias.data();
  spec.in_features = k;
  spec.out_features = n;
  spec.name = "bench";
  auto lin = b->CreateLinear(spec);
  if (!lin.ok() || !(*lin)
                        ->Forward(floe::HostF32(x.data(), {m, k}, x.size() * 4),
                                  floe::HostF32(y.data(), {m, n}, y.size() * 4))
                        .ok()) {
    state.SkipWithError("linear failed");
    return;
  }
  for (auto _ : state) {
    floe::Status s = (*lin)->Forward(floe::HostF32(x.data(), {m, k}, x.size() * 4),
                                     floe::HostF32(y.data(), {m, n}, y.size() * 4));
    if (!s.ok()) state.SkipWithError(s.ToString().c_str());
    benchmark::DoNotOptimize(y.data());
  }
  state.counters["GFLOPS"] = benchmark::Counter(2.0 * m * k * n * 1e-9,
                                                benchmark::Counter::kIsIterationInvariantRate);
}

void Shapes(benchmark::internal::Benchmark* b) {
  // MiniLM (384: QKV, out, FFN up, down) and base (768) products.
  const int64_t shapes[][2] = {{384, 1152}, {384, 1536}, {1536, 384}, {768, 3072}, {3072, 768}};
  for (int64_t m : {1, 8, 12, 16, 32, 50, 64, 128, 256, 800}) {
    for (const auto& s : shapes) {
      for (int64_t path : {0, 1, 2}) b->Args({m, s[0], s[1], path});
    }
  }
}

BENCHMARK(BM_Linear)->ArgNames({"m", "k", "n", "path"})->Apply(Shapes)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
