// The bare engine (token ids in, pooled vectors out) on a GPU, on a model of
// arctic-embed-m's shape: the floe side of docs/cuda.md's engine table, run by
// scripts/gpu-proof.sh. Make the model first:
//   python3 ../shared/tools/bertref.py make models/base
//       --vocab tests/data/models/bert-tiny-cls/vocab.txt --preset base
// then
//   build-cuda/bench/cuda_engine_bench --benchmark_min_time=2s
// FLOE_BENCH_MODEL overrides the folder (default: models/base under the source
// tree), FLOE_BENCH_DEVICE the device (default cuda), FLOE_BENCH_DTYPE the
// dtype (default float16), FLOE_BENCH_MAX_BATCH_TOKENS the tokens per forward
// pass (default 65536: 64 x 512 in one pass). Counter tokens_per_s is the
// number the table reports. Without a GPU every case is skipped with the
// backend's error.
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "engine/engine.h"
#include "model/config.h"

namespace {

std::string Env(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && v[0] != '\0' ? v : fallback;
}

std::string ModelPath() {
  std::string here = __FILE__;  // <source>/bench/cuda_engine_bench.cc
  here = here.substr(0, here.rfind('/'));
  return Env("FLOE_BENCH_MODEL", here.substr(0, here.rfind('/')) + "/models/base");
}

// The engine, or null with *error set.
floe::Engine* SharedEngine(std::string* error) {
  static std::unique_ptr<floe::ModelFolder> model;
  static std::unique_ptr<floe::Engine> engine;
  static std::string failure;
  if (!engine && failure.empty()) {
    auto m = floe::ModelFolder::Open(ModelPath());
    if (!m.ok()) {
      failure = m.status().ToString();
    } else {
      model = std::move(m).value();
      floe::RuntimeOptions options;
      options.device = Env("FLOE_BENCH_DEVICE", "cuda");
      options.dtype = Env("FLOE_BENCH_DTYPE", "float16");
      options.max_batch_tokens = std::stoul(Env("FLOE_BENCH_MAX_BATCH_TOKENS", "65536"));
      auto e = floe::Engine::Create(*model, options);
      if (!e.ok()) {
        failure = e.status().ToString();
      } else {
        engine = std::move(e).value();
      }
    }
  }
  *error = failure;
  return engine.get();
}

// Random ids between [CLS] and [SEP], as encoder_bench and peer benches use.
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

void BM_CudaEncoderForward(benchmark::State& state) {
  std::string error;
  floe::Engine* engine = SharedEngine(&error);
  if (engine == nullptr) {
    state.SkipWithError(error.c_str());
    return;
  }
  const int seq = static_cast<int>(state.range(0));
  const int batch = static_cast<int>(state.range(1));
  const auto seqs = RandomBatch(seq, batch);
  std::vector<float> out(static_cast<size_t>(batch) * engine->hidden_size());
  // Warm-up: cuBLASLt plans for these row counts, buffers grown.
  for (int i = 0; i < 3; ++i) {
    const floe::Status s = engine->EmbedPooled(seqs, out.data());
    if (!s.ok()) {
      state.SkipWithError(s.ToString().c_str());
      return;
    }
  }
  // EmbedPooled returns after the vectors are on the host: each iteration
  // is a whole forward pass, device work included.
  for (auto _ : state) {
    floe::Status s = engine->EmbedPooled(seqs, out.data());
    if (!s.ok()) {
      state.SkipWithError(s.ToString().c_str());
      break;
    }
    benchmark::DoNotOptimize(out.data());
  }
  state.counters["tokens_per_s"] = benchmark::Counter(
      static_cast<double>(seq) * batch, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["seqs_per_s"] =
      benchmark::Counter(batch, benchmark::Counter::kIsIterationInvariantRate);
}

BENCHMARK(BM_CudaEncoderForward)
    ->ArgNames({"seq", "batch"})
    ->ArgsProduct({{512, 50}, {1, 16, 64}})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
