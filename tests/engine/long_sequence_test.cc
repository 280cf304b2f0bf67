// An XLM-R-shaped encoder (8,194 positions, as bge-m3) on one 8,192-token
// sequence: attention must not hold a T x T score matrix. Its fidelity to
// transformers at that length is tests/real/xlmr_fidelity_test.py's.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "engine/engine.h"
#include "model/bert_weights.h"
#include "model/config.h"
#include "model/test_util.h"

namespace floe {
namespace {

using namespace floe::testing_util;

// kB from /proc/self/status ("VmHWM", "VmRSS").
int64_t StatusKb(const std::string& key) {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind(key + ":", 0) == 0) return std::stoll(line.substr(key.size() + 1));
  }
  return -1;
}

// Resets VmHWM to the current RSS (Linux clear_refs 5); false if it cannot.
bool ResetPeakRss() {
  std::ofstream f("/proc/self/clear_refs");
  f << "5";
  f.flush();
  return f.good();
}

TEST(LongSequenceTest, EightKTokensTakeMemoryLinearInTheLength) {
  constexpr int kHidden = 128, kHeads = 2, kInter = 256, kVocab = 100, kPositions = 8194;
  TempDir dir;
  const nlohmann::json cfg = {
      {"architectures", {"XLMRobertaModel"}}, {"model_type", "xlm-roberta"},
      {"hidden_size", kHidden}, {"num_hidden_layers", 1}, {"num_attention_heads", kHeads},
      {"intermediate_size", kInter}, {"vocab_size", kVocab},
      {"max_position_embeddings", kPositions}, {"type_vocab_size", 1}, {"pad_token_id", 1},
      {"layer_norm_eps", 1e-5}, {"hidden_act", "gelu"}};
  WriteFile(dir.File("config.json"), cfg.dump());
  auto parsed = ParseBertConfig(cfg.dump(), "config.json");
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  std::mt19937 rng(7);
  std::normal_distribution<float> normal(0.f, 0.1f);
  std::vector<TensorBytes> tensors;
  for (const BertTensorSpec& spec : BertTensorSpecs(*parsed)) {
    int64_t n = 1;
    for (int64_t d : spec.shape) n *= d;
    std::vector<float> v(n);
    const bool norm_weight = spec.name.find("LayerNorm.weight") != std::string::npos;
    for (float& x : v) x = (norm_weight ? 1.f : 0.f) + normal(rng);
    tensors.push_back({spec.name, "F32", spec.shape,
                       std::string(reinterpret_cast<const char*>(v.data()), n * sizeof(float))});
  }
  WriteFile(dir.File("model.safetensors"), BuildSafetensors(tensors));
  auto model = ModelFolder::Open(dir.path());
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  auto engine = Engine::Create(**model, {});
  ASSERT_TRUE(engine.ok()) << engine.status().ToString();

  constexpr int64_t T = kPositions - 2;  // the most the table holds
  std::vector<int32_t> ids(T);
  for (int64_t t = 0; t < T; ++t) ids[t] = static_cast<int32_t>(3 + (t * 7919) % (kVocab - 3));
  std::vector<float> out(kHidden);
  ASSERT_TRUE((*engine)->EmbedPooled({{0, 5, 2}}, out.data()).ok());
  if (!ResetPeakRss()) GTEST_SKIP() << "cannot reset the peak RSS (/proc/self/clear_refs)";
  const int64_t before_kb = StatusKb("VmRSS");
  ASSERT_TRUE((*engine)->EmbedPooled({ids}, out.data()).ok());
  const int64_t growth = (StatusKb("VmHWM") - before_kb) * 1024;
  double norm = 0;
  for (float x : out) norm += double(x) * x;
  EXPECT_TRUE(std::isfinite(norm) && norm > 0);
  // Activations are T x (5 D + I) floats (29 MiB); one head's T x T float32
  // scores alone would be 256 MiB (and per thread, or per head, more).
  const int64_t scores = T * T * 4;
  std::printf("[ 8,192 tokens ] peak RSS growth %.1f MiB; one head's T x T scores %.0f MiB\n",
              growth / 1048576.0, scores / 1048576.0);
  EXPECT_LT(growth, scores / 2);
}

}  // namespace
}  // namespace floe
