// The bare encoder forward pass (token ids in, pooled vectors out) on a model
// of arctic-embed-m's shape. Make the model first:
//   python3 ../shared/tools/bertref.py make models/base
//       --vocab tests/data/models/bert-tiny-cls/vocab.txt --preset base
// then (the figures in docs/cpu-performance.md):
//   build/bench/encoder_bench --benchmark_min_time=0.1 --benchmark_repetitions=3
// FLOE_BENCH_MODEL overrides the folder (default: models/base under the
// source tree), FLOE_BENCH_DTYPE the dtype (default float32), FLOE_BENCH_THREADS the threads (default all cores). Counter tokens_per_s is what docs/cpu-performance.md reports.
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "core/openmp_env.h"
#include "engine/engine.h"
#include "model/config.h"

// floe's OpenMP wait default, as the floe binary has it (core/openmp_env.h).
FLOE_OPENMP_PREINIT();

namespace {

std::string ModelPath() {
  const char* env = std::getenv("FLOE_BENCH_MODEL");
  if (env != nullptr) return env;
  std::string here = __FILE__;  // <source>/bench/encoder_bench.cc
  here = here.substr(0, here.rfind('/'));
  return here.substr(0, here.rfind('/')) + "/models/base";
}

floe::Engine* SharedEngine() {
  static std::unique_ptr<floe::ModelFolder> model;
  static std::unique_ptr<floe::Engine> engine;
  if (!engine) {
    auto m = floe::ModelFolder::Open(ModelPath());
    if (!m.ok()) return nullptr;
    model = std::move(m).value();
    floe::RuntimeOptions options;
    if (const char* dtype = std::getenv("FLOE_BENCH_DTYPE")) options.dtype = dtype;
    if (const char* threads = std::getenv("FLOE_BENCH_THREADS")) {
      options.num_threads = std::atoi(threads);
    }
    auto e = floe::Engine::Create(*model, options);
    if (!e.ok()) return nullptr;
    engine = std::move(e).value();
  }
  return engine.get();
}

// Random ids between [CLS] and [SEP], like peer-bench's random inputs.
std::vector<std::vector<int32_t>> RandomBatch(int seq, int batch) {
  std::mt19937 rng(42);
  std::uniform_int_distribution<int32_t> id(1000, 29000);
  std::vector<std::vector<int32_t>> seqs(batch, std::vector<int32_t>(seq));
  for (auto& s : seqs) {
    for (auto& t : s) t = id(rng);
    s.front() = 101;
    s.back() = 102;
  }
  return seqs;
}

void BM_EncoderForward(benchmark::State& state) {
  floe::Engine* engine = SharedEngine();
  if (engine == nullptr) {
    state.SkipWithError(("cannot open model " + ModelPath()).c_str());
    return;
  }
  const int seq = static_cast<int>(state.range(0));
  const int batch = static_cast<int>(state.range(1));
  const auto seqs = RandomBatch(seq, batch);
  std::vector<float> out(static_cast<size_t>(batch) * engine->hidden_size());
  if (!engine->EmbedPooled(seqs, out.data()).ok()) {  // warm-up: primitives for this size
    state.SkipWithError("EmbedPooled failed");
    return;
  }
  for (auto _ : state) {
    floe::Status s = engine->EmbedPooled(seqs, out.data());
    if (!s.ok()) state.SkipWithError(s.ToString().c_str());
    benchmark::DoNotOptimize(out.data());
  }
  state.counters["tokens_per_s"] = benchmark::Counter(
      static_cast<double>(seq) * batch, benchmark::Counter::kIsIterationInvariantRate);
}

BENCHMARK(BM_EncoderForward)
    ->ArgNames({"seq", "batch"})
    ->Args({512, 16})
    ->Args({256, 16})  // the long run of models whose limit is 256 (all-MiniLM-L6-v2)
    ->Args({50, 64})
    ->Args({50, 1})
    ->Args({12, 1})  // one short sentence (issue 18's batch 1 on all-MiniLM-L6-v2)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
