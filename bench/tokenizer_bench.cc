// Tokenization throughput on one core (bytes of input text per second).
// Model: $FLOE_BENCH_TOKENIZER (a model folder), else the bert-base-uncased
// vocabulary of tests/data/models/bert-tiny-cls.
#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>

#include "text/tokenizer.h"

namespace {

const char* const kEnglish =
    "The committee reviewed the proposal in detail, weighing its costs against the "
    "benefits it promised to deliver over the next decade. Several members raised "
    "concerns about the timeline; others argued that delays would only increase the "
    "final price. In the end, a compromise was reached: construction would begin in "
    "spring, with a review scheduled for the following autumn. Glaciers form where "
    "snow accumulates faster than it melts, compressing over centuries into dense ice "
    "that flows slowly downhill under its own weight. Researchers at the university "
    "published their findings in 2019, reporting a 12.5% increase in efficiency "
    "compared with earlier designs. \"We didn't expect results this strong,\" said "
    "Dr. Alvarez, who led the study. The company's quarterly revenue rose to $4.2 "
    "billion, driven by strong demand for cloud services and data-center hardware. ";

floe::Tokenizer* Tok() {
  static std::unique_ptr<floe::Tokenizer> tok = [] {
    std::string dir;
    if (const char* env = std::getenv("FLOE_BENCH_TOKENIZER")) {
      dir = env;
    } else {
      dir = (std::filesystem::path(__FILE__).parent_path() / ".." / "tests" / "data" /
             "models" / "bert-tiny-cls")
                .string();
    }
    auto r = floe::Tokenizer::FromFolder(dir);
    if (!r.ok()) {
      std::fprintf(stderr, "tokenizer_bench: %s\n", r.status().ToString().c_str());
      std::exit(1);
    }
    return std::move(r).value();
  }();
  return tok.get();
}

std::string Repeat(const std::string& s, size_t bytes) {
  std::string out;
  while (out.size() < bytes) out += s;
  // Cut at a code point boundary near `bytes`.
  size_t cut = bytes;
  while (cut > 0 && (static_cast<unsigned char>(out[cut]) & 0xC0) == 0x80) --cut;
  out.resize(cut);
  return out;
}

void RunEncode(benchmark::State& state, const std::string& text, size_t max_length) {
  floe::Tokenizer* tok = Tok();
  size_t tokens = 0;
  for (auto _ : state) {
    auto ids = tok->Encode(text, max_length);
    if (!ids.ok()) {
      state.SkipWithError(ids.status().ToString().c_str());
      return;
    }
    tokens += ids->size();
    benchmark::DoNotOptimize(ids->data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * text.size()));
  state.counters["tokens/s"] =
      benchmark::Counter(static_cast<double>(tokens), benchmark::Counter::kIsRate);
}

// English text, one document of range(0) bytes per call, no truncation.
void BM_EncodeEnglish(benchmark::State& state) {
  RunEncode(state, Repeat(kEnglish, static_cast<size_t>(state.range(0))), 0);
}
BENCHMARK(BM_EncodeEnglish)->Arg(100)->Arg(2000)->Arg(64 << 10);

// A long document truncated to 512 tokens (the serving path for long input:
// tokenization stops once 512 ids are reached).
void BM_EncodeEnglishTruncated512(benchmark::State& state) {
  floe::Tokenizer* tok = Tok();
  const std::string text = Repeat(kEnglish, 64 << 10);
  for (auto _ : state) {
    auto ids = tok->Encode(text, 512);
    benchmark::DoNotOptimize(ids->data());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_EncodeEnglishTruncated512);

// Accented Latin, Cyrillic, CJK, emoji and punctuation: the non-ASCII path.
void BM_EncodeMixedUnicode(benchmark::State& state) {
  const std::string mixed =
      "Crème brûlée, naïve café — Ångström İstanbul. Привет, как дела? 東京タワーと"
      "서울 타워. Emoji 😀🎉 and “quotes” ¿sí? ";
  RunEncode(state, Repeat(mixed, 2000), 0);
}
BENCHMARK(BM_EncodeMixedUnicode);

}  // namespace

BENCHMARK_MAIN();
