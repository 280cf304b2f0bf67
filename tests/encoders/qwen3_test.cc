// Qwen3 as an embedder (engine/qwen3_encoder.h, model/qwen3_config.h): the
// tiny folder (tests/data/models/qwen3-tiny, make_qwen3_tiny.py) against the
// float64 transformers Qwen3Model golden (../golden/qwen3-tiny.jsonl, last
// token), causality, batch independence, config refusals by name, and that
// causal Attend does about half the work of full attention.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "engine/qwen3_encoder.h"
#include "model/config.h"
#include "model/qwen3_config.h"

namespace floe {
namespace {

// Qwen/Qwen3-Embedding-0.6B's config.json as published.
constexpr const char* kPublished = R"({
  "architectures": ["Qwen3ForCausalLM"], "attention_bias": false, "attention_dropout": 0.0,
  "bos_token_id": 151643, "eos_token_id": 151643, "head_dim": 128, "hidden_act": "silu",
  "hidden_size": 1024, "initializer_range": 0.02, "intermediate_size": 3072,
  "max_position_embeddings": 32768, "max_window_layers": 28, "model_type": "qwen3",
  "num_attention_heads": 16, "num_hidden_layers": 28, "num_key_value_heads": 8,
  "rms_norm_eps": 1e-06, "rope_scaling": null, "rope_theta": 1000000, "sliding_window": null,
  "tie_word_embeddings": true, "torch_dtype": "float32", "transformers_version": "4.51.3",
  "use_cache": true, "use_sliding_window": false, "vocab_size": 151669})";

// kPublished with `key`'s value replaced (or the field added before the end).
std::string With(const std::string& key, const std::string& value) {
  std::string c = kPublished;
  const size_t at = c.find("\"" + key + "\"");
  if (at == std::string::npos) return c.substr(0, c.rfind('}')) + ", \"" + key + "\": " + value + "}";
  const size_t colon = c.find(':', at), end = c.find_first_of(",}", colon);
  return c.substr(0, colon + 1) + " " + value + c.substr(end);
}

TEST(Qwen3Test, ParsesQwen3EmbeddingConfig) {
  auto c = ParseQwen3Config(kPublished, "config.json");
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->hidden_size, 1024);
  EXPECT_EQ(c->num_layers, 28);
  EXPECT_EQ(c->num_heads, 16);
  EXPECT_EQ(c->num_kv_heads, 8);
  EXPECT_EQ(c->head_dim, 128);
  EXPECT_EQ(c->intermediate_size, 3072);
  EXPECT_EQ(c->vocab_size, 151669);
  EXPECT_EQ(c->rope_theta, 1e6);
  EXPECT_FLOAT_EQ(c->rms_norm_eps, 1e-6f);
  EXPECT_EQ(c->window, std::vector<int>(28, -1));
  auto common = Qwen3CommonConfig(kPublished, "config.json");
  ASSERT_TRUE(common.ok());
  EXPECT_EQ(common->max_tokens(), 32768);
  EXPECT_EQ(common->type_vocab_size, 1);
  // transformers 5 writes rope_parameters; its theta is the one used.
  auto v5 = ParseQwen3Config(
      With("rope_parameters", R"({"rope_type": "default", "rope_theta": 5000.0})"), "c");
  ASSERT_TRUE(v5.ok()) << v5.status().message();
  EXPECT_EQ(v5->rope_theta, 5000.0);
  // Sliding layers from max_window_layers, as Qwen3Config.__post_init__.
  std::string sliding = With("use_sliding_window", "true");
  sliding = sliding.replace(sliding.find("\"sliding_window\": null"), 22,
                            "\"sliding_window\": 4096");
  sliding = sliding.replace(sliding.find("\"max_window_layers\": 28"), 23,
                            "\"max_window_layers\": 26");
  auto s = ParseQwen3Config(sliding, "c");
  ASSERT_TRUE(s.ok()) << s.status().message();
  EXPECT_EQ(s->window[25], -1);
  EXPECT_EQ(s->window[26], 4096);
  EXPECT_EQ(s->window[27], 4096);
}

TEST(Qwen3Test, ConfigRefusesWhatItDoesNotRunByName) {
  std::string chunked = "[";
  for (int i = 0; i < 28; ++i) chunked += std::string(i ? ", " : "") + "\"chunked_attention\"";
  chunked += "]";
  for (const auto& [key, value] : std::vector<std::pair<std::string, std::string>>{
           {"attention_bias", "true"},
           {"hidden_act", "\"gelu\""},
           {"rope_scaling", R"({"rope_type": "yarn", "factor": 4.0})"},
           {"rope_parameters", R"({"rope_type": "linear", "factor": 2.0})"},
           {"layer_types", chunked}}) {
    auto c = ParseQwen3Config(With(key, value), "config.json");
    ASSERT_FALSE(c.ok()) << key;
    EXPECT_EQ(c.status().code(), StatusCode::kUnimplemented) << key;
    EXPECT_NE(c.status().message().find(key), std::string::npos) << c.status().message();
  }
  EXPECT_EQ(ParseQwen3Config(With("num_key_value_heads", "5"), "c").status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseQwen3Config(With("head_dim", "127"), "c").status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseQwen3Config(With("use_sliding_window", "true"), "c").status().code(),
            StatusCode::kInvalidArgument);  // no sliding_window
  EXPECT_FALSE(ParseQwen3Config(R"({"model_type": "qwen2"})", "c").ok());
}

struct Golden {
  std::vector<int32_t> ids;
  std::vector<double> raw;
};

std::vector<Golden> LoadGolden() {
  std::ifstream in(std::string(FLOE_TEST_DATA) + "/golden/qwen3-tiny.jsonl");
  std::vector<Golden> out;
  std::string line;
  while (std::getline(in, line)) {
    const auto j = nlohmann::json::parse(line);
    out.push_back({j.at("ids").get<std::vector<int32_t>>(),
                   j.at("embedding_raw").get<std::vector<double>>()});
  }
  return out;
}

double Cosine(const float* a, const std::vector<double>& b) {
  double ab = 0, aa = 0, bb = 0;
  for (size_t i = 0; i < b.size(); ++i) {
    ab += a[i] * b[i];
    aa += double(a[i]) * a[i];
    bb += b[i] * b[i];
  }
  return ab / std::sqrt(aa * bb);
}

class Qwen3FolderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto folder = ModelFolder::Open(std::string(FLOE_TEST_DATA) + "/models/qwen3-tiny");
    ASSERT_TRUE(folder.ok()) << folder.status().message();
    folder_ = std::move(*folder);
    auto backend = CreateBackend(RuntimeOptions{});
    ASSERT_TRUE(backend.ok()) << backend.status().message();
    backend_ = std::move(*backend);
    auto enc = Qwen3Encoder::Create(*folder_, backend_.get());
    ASSERT_TRUE(enc.ok()) << enc.status().message();
    enc_ = std::move(*enc);
  }
  std::unique_ptr<ModelFolder> folder_;
  std::unique_ptr<Backend> backend_;
  std::unique_ptr<Qwen3Encoder> enc_;
};

TEST_F(Qwen3FolderTest, MatchesTransformersLastTokenInOneBatchAndAlone) {
  EXPECT_EQ(folder_->config.model_type, "qwen3");
  EXPECT_EQ(folder_->st.pooling, PoolingMode::kLastToken);
  EXPECT_EQ(folder_->st.prompts.at("query").rfind("Instruct: ", 0), 0u);
  const std::vector<Golden> golden = LoadGolden();
  ASSERT_GE(golden.size(), 9u);
  std::vector<std::vector<int32_t>> seqs;
  for (const Golden& g : golden) seqs.push_back(g.ids);
  const int D = enc_->config().hidden_size;
  std::vector<float> out(seqs.size() * D), alone(D);
  ASSERT_TRUE(enc_->ForwardAll(seqs, PoolKind::kLastToken, out.data()).ok());
  for (size_t b = 0; b < seqs.size(); ++b) {
    const double cos = Cosine(out.data() + b * D, golden[b].raw);
    EXPECT_GE(cos, 0.99999) << "sequence " << b << " (" << seqs[b].size() << " tokens)";
    std::printf("%4zu tokens: cosine 1 - %.2e\n", seqs[b].size(), 1 - cos);
    for (int i = 0; i < D; ++i) {  // the raw vector, not just its direction
      EXPECT_NEAR(out[b * D + i], golden[b].raw[i], 1e-3 * (1 + std::fabs(golden[b].raw[i])));
    }
    ASSERT_TRUE(enc_->ForwardAll({seqs[b]}, PoolKind::kLastToken, alone.data()).ok());
    for (int i = 0; i < D; ++i) EXPECT_NEAR(alone[i], out[b * D + i], 1e-4) << b;
  }
  std::vector<std::vector<int32_t>> bad = {{1, 1000}};
  EXPECT_EQ(enc_->ForwardAll(bad, PoolKind::kLastToken, out.data()).code(),
            StatusCode::kInvalidArgument);
}

TEST_F(Qwen3FolderTest, EarlierTokensDoNotSeeLaterOnes) {
  const std::vector<Golden> golden = LoadGolden();
  const std::vector<int32_t>& full = golden.back().ids;  // the longest
  ASSERT_GT(full.size(), 300u);
  const std::vector<int32_t> prefix(full.begin(), full.begin() + 200);
  std::vector<const std::vector<int32_t>*> a = {&full}, b = {&prefix};
  const int64_t D = enc_->config().hidden_size;
  std::vector<float> pooled(D), hidden_full, hidden_prefix;
  ASSERT_TRUE(enc_->Forward(SeqSpan(a.data(), 1), PoolKind::kLastToken, pooled.data(),
                            &hidden_full, {}, {}).ok());
  ASSERT_TRUE(enc_->Forward(SeqSpan(b.data(), 1), PoolKind::kLastToken, pooled.data(),
                            &hidden_prefix, {}, {}).ok());
  double worst = 0;
  for (int64_t i = 0; i < 200 * D; ++i) {
    worst = std::max(worst, double(std::fabs(hidden_full[i] - hidden_prefix[i])));
  }
  EXPECT_LT(worst, 1e-4);
  // ... and the last rows differ (the test can see a leak).
  double last = 0;
  for (int64_t i = 0; i < D; ++i) {
    last += std::fabs(hidden_full[(full.size() - 1) * D + i] - pooled[i]);
  }
  EXPECT_GT(last, 1e-2);
}

// Causal Attend computes only the key blocks it keeps (the speed half of
// that is bench/attend_bench's BM_Attend causal vs full). Keys and values
// from token 256 on are NaN: a kernel that read them (a masked score still
// multiplies its NaN value by 0 in P V) would spread NaN, so the first 128
// rows must be finite and equal the clean 256-token prefix's; full attention
// on the same input is the control (NaN everywhere). Qwen3's 128-wide heads,
// 4 query heads on 2 KV heads, rotary on.
TEST(Qwen3AttendTest, CausalNeverReadsKeysAfterItsBlock) {
  auto backend = CreateBackend(RuntimeOptions{});
  ASSERT_TRUE(backend.ok());
  const int64_t T = 512, P = 256, H = 128, N = 4, Nkv = 2, ld = (N + 2 * Nkv) * H;
  std::vector<float> clean(T * ld);
  std::mt19937 gen(1);
  std::normal_distribution<float> dist;
  for (float& x : clean) x = dist(gen);
  std::vector<float> poisoned = clean;
  for (int64_t t = P; t < T; ++t) {
    for (int64_t c = N * H; c < ld; ++c) poisoned[t * ld + c] = std::nanf("");
  }
  RotarySpec rotary;
  rotary.base = 1e6;
  AttentionSpec spec;
  spec.num_heads = N;
  spec.num_kv_heads = Nkv;
  spec.head_size = H;
  spec.rotary = &rotary;
  auto attend = [&](std::vector<float> qkv, int64_t len, bool causal) {
    std::vector<int32_t> cu = {0, static_cast<int32_t>(len)};
    PackedBatch batch;
    batch.cu_seqlens_host = batch.cu_seqlens_device = cu.data();
    batch.num_seqs = 1;
    batch.total_tokens = batch.max_seqlen = len;
    spec.causal = causal;
    std::vector<float> out(len * N * H);
    EXPECT_TRUE((*backend)
                    ->Attend(HostF32(qkv.data(), {len, ld}), batch, spec,
                             HostF32(out.data(), {len, N * H}))
                    .ok());
    return out;
  };
  const std::vector<float> prefix = attend(clean, P, true);
  const std::vector<float> causal = attend(poisoned, T, true);
  const std::vector<float> full = attend(poisoned, T, false);
  double worst = 0;
  for (int64_t i = 0; i < 128 * N * H; ++i) {
    ASSERT_TRUE(std::isfinite(causal[i])) << "row " << i / (N * H) << " read a later key";
    worst = std::max(worst, double(std::fabs(causal[i] - prefix[i])));
  }
  EXPECT_LT(worst, 1e-5);
  EXPECT_TRUE(std::isnan(full[0])) << "the control: full attention must see the NaN keys";
}

}  // namespace
}  // namespace floe
