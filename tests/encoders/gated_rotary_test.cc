// The graph NomicBERT and GTE "new" share (engine/gated_rotary_encoder.h):
// dynamic NTK bases per sequence (a short and a long sequence in one pass
// equal each alone, and the long one differs from the unscaled model), GTE's
// config parsing and refusals, and both tiny folders of tests/data/models
// opening by model_type. Their numbers against the float64 reference are
// checked in tests/real/nomic_gte_test.py.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "engine/encoder.h"
#include "engine/gte_encoder.h"
#include "engine/nomic_encoder.h"
#include "model/config.h"
#include "model/gte_config.h"
#include "model/nomic_config.h"

namespace floe {
namespace {

std::string Data(const std::string& rel) { return std::string(FLOE_TEST_DATA) + "/" + rel; }

TEST(GatedRotaryTest, DynamicNtkBaseIsNomicsFormula) {
  GatedRotaryConfig c;
  c.hidden_size = 64;
  c.num_heads = 2;
  c.rotary.base = 1000.0;
  c.rotary.rotary_dims = 32;
  c.dynamic_ntk_factor = 2.0;
  c.ntk_trained_positions = 512;
  EXPECT_EQ(GatedRotaryBase(c, 512), 1000.0);
  EXPECT_NEAR(GatedRotaryBase(c, 1500), 1000.0 * std::pow(2.0 * 1500 / 512 - 1, 32.0 / 30),
              1e-9);
  c.dynamic_ntk_factor = 0.0;
  EXPECT_EQ(GatedRotaryBase(c, 5000), 1000.0);
}

TEST(GatedRotaryTest, NomicDynamicNtkPerSequence) {
  auto folder = ModelFolder::Open(Data("models/nomic-bert-tiny"));
  ASSERT_TRUE(folder.ok()) << folder.status().message();
  auto plain_cfg = ParseNomicBertConfig((*folder)->config_json, "config.json");
  ASSERT_TRUE(plain_cfg.ok()) << plain_cfg.status().message();
  EXPECT_EQ(plain_cfg->vocab_size, 2048);  // 2000 padded to a multiple of 64
  NomicBertConfig ntk = *plain_cfg;
  ntk.rotary_scaling_factor = 2.0;
  ntk.max_trained_positions = 16;
  auto backend = CreateBackend(RuntimeOptions{});
  ASSERT_TRUE(backend.ok());
  auto plain = NomicBertEncoder::Create(*plain_cfg, *(*folder)->weights, backend->get());
  auto scaled = NomicBertEncoder::Create(ntk, *(*folder)->weights, backend->get());
  ASSERT_TRUE(plain.ok() && scaled.ok());
  std::vector<std::vector<int32_t>> seqs = {std::vector<int32_t>(9), std::vector<int32_t>(40)};
  for (size_t b = 0; b < seqs.size(); ++b) {
    for (size_t i = 0; i < seqs[b].size(); ++i) seqs[b][i] = int32_t((i * 37 + b * 11) % 2000);
  }
  const int D = plain_cfg->hidden_size;
  std::vector<float> both(2 * D), short_alone(D), long_alone(D), long_plain(D), short_plain(D);
  ASSERT_TRUE((*scaled)->ForwardAll(seqs, PoolKind::kMean, both.data()).ok());
  ASSERT_TRUE((*scaled)->ForwardAll({seqs[0]}, PoolKind::kMean, short_alone.data()).ok());
  ASSERT_TRUE((*scaled)->ForwardAll({seqs[1]}, PoolKind::kMean, long_alone.data()).ok());
  ASSERT_TRUE((*plain)->ForwardAll({seqs[0]}, PoolKind::kMean, short_plain.data()).ok());
  ASSERT_TRUE((*plain)->ForwardAll({seqs[1]}, PoolKind::kMean, long_plain.data()).ok());
  double long_change = 0;
  for (int i = 0; i < D; ++i) {
    EXPECT_NEAR(both[i], short_alone[i], 1e-5);
    EXPECT_NEAR(both[D + i], long_alone[i], 1e-5);
    EXPECT_NEAR(short_alone[i], short_plain[i], 1e-5);  // 9 <= 16 trained: unscaled
    long_change = std::max(long_change, double(std::fabs(long_alone[i] - long_plain[i])));
  }
  EXPECT_GT(long_change, 1e-3);
}

constexpr const char* kGte = R"({
  "model_type": "new", "hidden_size": 64, "num_hidden_layers": 1,
  "num_attention_heads": 4, "intermediate_size": 96, "vocab_size": 100,
  "max_position_embeddings": 8192, "type_vocab_size": 0, "hidden_act": "gelu",
  "layer_norm_type": "layer_norm", "position_embedding_type": "rope",
  "rope_theta": 500000, "rope_scaling": {"type": "ntk", "factor": 2.0},
  "logn_attention_scale": false, "pack_qkv": true})";

std::string With(const std::string& key, const std::string& value) {
  std::string c = kGte;
  const size_t at = c.find("\"" + key + "\"");
  size_t colon = c.find(':', at), end = colon + 1, depth = 0;
  for (; end < c.size(); ++end) {
    if (c[end] == '{') ++depth;
    if (c[end] == '}' && depth-- == 0) break;
    if (c[end] == ',' && depth == 0) break;
  }
  return c.substr(0, colon + 1) + " " + value + c.substr(end);
}

TEST(GatedRotaryTest, GteConfigAndRefusals) {
  auto c = ParseGteConfig(kGte, "config.json");
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->ntk_factor, 2.0);
  const GatedRotaryConfig g = GteGraphConfig(*c);
  EXPECT_EQ(g.rotary.base, 1e6);
  EXPECT_NEAR(g.rotary.position_scale, std::pow(2.0, -2.0 / 16), 1e-15);
  EXPECT_EQ(g.gate_activation, Activation::kGeluErf);
  EXPECT_EQ(GteTensorSpecs(*c).size(), 3u + 11u);  // no token types
  auto unpacked = ParseGteConfig(With("pack_qkv", "false"), "config.json");
  ASSERT_TRUE(unpacked.ok());
  EXPECT_EQ(GteTensorSpecs(*unpacked).size(), 3u + 15u);
  for (const auto& [key, value] : std::vector<std::pair<std::string, std::string>>{
           {"hidden_act", "\"relu\""},
           {"layer_norm_type", "\"rms_norm\""},
           {"position_embedding_type", "\"absolute\""},
           {"rope_scaling", R"({"type": "dynamic", "factor": 2.0})"},
           {"rope_scaling", R"({"type": "ntk", "factor": 2.0, "mixed_b": 0.5})"},
           {"logn_attention_scale", "true"}}) {
    auto r = ParseGteConfig(With(key, value), "config.json");
    ASSERT_FALSE(r.ok()) << key << " " << value;
    EXPECT_EQ(r.status().code(), StatusCode::kUnimplemented) << key;
    EXPECT_NE(r.status().message().find(key), std::string::npos) << r.status().message();
  }
  EXPECT_EQ(ParseGteConfig(With("num_attention_heads", "5"), "c").status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseGteConfig(With("hidden_size", "\"x\""), "c").status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_FALSE(ParseGteConfig(R"({"model_type": "bert"})", "c").ok());
}

TEST(GatedRotaryTest, TinyFoldersOpenByModelType) {
  auto backend = CreateBackend(RuntimeOptions{});
  ASSERT_TRUE(backend.ok());
  for (const char* name : {"models/nomic-bert-tiny", "models/gte-tiny"}) {
    auto folder = ModelFolder::Open(Data(name));
    ASSERT_TRUE(folder.ok()) << name << ": " << folder.status().message();
    auto enc = CreateEncoder(**folder, backend->get());
    ASSERT_TRUE(enc.ok()) << name << ": " << enc.status().message();
    std::vector<const std::vector<int32_t>*> seqs;
    const std::vector<int32_t> ids = {0, 5, 7, 2};
    seqs.push_back(&ids);
    std::vector<float> out((*folder)->config.hidden_size);
    ASSERT_TRUE((*enc)->Forward(SeqSpan(seqs.data(), 1), PoolKind::kCls, out.data(), nullptr,
                                {}, {}).ok());
    double norm = 0;
    for (float x : out) norm += double(x) * x;
    EXPECT_GT(norm, 0.0) << name;
  }
  // A missing tensor is named.
  auto folder = ModelFolder::Open(Data("models/gte-tiny"));
  ASSERT_TRUE(folder.ok());
  auto c = ParseGteConfig((*folder)->config_json, "c");
  ASSERT_TRUE(c.ok());
  c->num_layers = 3;
  auto enc = GteEncoder::Create(*c, *(*folder)->weights, backend->get());
  ASSERT_FALSE(enc.ok());
  EXPECT_NE(enc.status().message().find("encoder.layer.2"), std::string::npos)
      << enc.status().message();
}

}  // namespace
}  // namespace floe
