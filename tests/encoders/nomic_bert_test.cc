// NomicBERT (engine/nomic_encoder.h) against an independent float64
// reference written here from the published architecture (contrastors'
// NomicBertModel: post-norm blocks, fused Wqkv, rotary on Q and K with
// rotate_half, y = fc11(x) * silu(fc12(x)), no biases), on random weights of
// nomic-embed-text-v1.5's shapes (768 hidden, 12 heads, 3072 inner) with 2
// layers and the vocabulary cut to 512 rows, read back from a safetensors
// file the test writes. Mean pooling; cosine >= 0.99999 per text.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "engine/nomic_encoder.h"
#include "model/nomic_config.h"
#include "model/safetensors.h"

namespace floe {
namespace {

namespace fs = std::filesystem;
using Tensors = std::map<std::string, std::vector<float>>;

constexpr const char* kConfig = R"({
  "model_type": "nomic_bert", "architectures": ["NomicBertModel"],
  "activation_function": "swiglu", "n_embd": 768, "n_head": 12, "n_inner": 3072,
  "n_layer": 2, "n_positions": 8192, "vocab_size": 512, "type_vocab_size": 2,
  "layer_norm_epsilon": 1e-12, "prenorm": false, "parallel_block": false,
  "causal": false, "use_rms_norm": false, "qkv_proj_bias": false,
  "mlp_fc1_bias": false, "mlp_fc2_bias": false, "rotary_emb_base": 1000,
  "rotary_emb_fraction": 1.0, "rotary_emb_interleaved": false,
  "rotary_scaling_factor": null})";

// Writes tensors as a float32 safetensors file.
void WriteSafetensors(const std::string& path, const Tensors& t,
                      const std::map<std::string, std::vector<int64_t>>& shapes) {
  std::string header = "{";
  size_t offset = 0;
  for (const auto& [name, v] : t) {
    if (header.size() > 1) header += ",";
    std::string shape;
    for (int64_t d : shapes.at(name)) {
      if (!shape.empty()) shape += ',';
      shape += std::to_string(d);
    }
    header += "\"" + name + "\":{\"dtype\":\"F32\",\"shape\":[" + shape +
              "],\"data_offsets\":[" + std::to_string(offset) + "," +
              std::to_string(offset + v.size() * 4) + "]}";
    offset += v.size() * 4;
  }
  header += "}";
  while (header.size() % 8 != 0) header += " ";
  std::ofstream f(path, std::ios::binary);
  const uint64_t n = header.size();
  f.write(reinterpret_cast<const char*>(&n), 8);
  f.write(header.data(), static_cast<std::streamsize>(header.size()));
  for (const auto& [name, v] : t) {
    f.write(reinterpret_cast<const char*>(v.data()),
            static_cast<std::streamsize>(v.size() * 4));
  }
}

// Float64 reference of the whole model, mean-pooled per sequence.
class Reference {
 public:
  Reference(const NomicBertConfig& c, const Tensors& t) : c_(c), t_(t) {}

  std::vector<double> Embed(const std::vector<int32_t>& ids) const {
    const int64_t D = c_.hidden_size, L = static_cast<int64_t>(ids.size());
    std::vector<double> h(L * D);
    const auto& word = t_.at("embeddings.word_embeddings.weight");
    const auto& tt = t_.at("embeddings.token_type_embeddings.weight");
    for (int64_t i = 0; i < L; ++i) {
      for (int64_t d = 0; d < D; ++d) h[i * D + d] = double(word[ids[i] * D + d]) + tt[d];
    }
    LayerNorm(h, "emb_ln");
    for (int l = 0; l < c_.num_layers; ++l)
      Block(h, L, "encoder.layers." + std::to_string(l) + ".");
    std::vector<double> mean(D, 0.0);
    for (int64_t i = 0; i < L; ++i) {
      for (int64_t d = 0; d < D; ++d) mean[d] += h[i * D + d] / L;
    }
    return mean;
  }

 private:
  // y[L, out] = x[L, in] W^T, W [out, in].
  std::vector<double> Linear(const std::vector<double>& x, int64_t L,
                             const std::string& w, int64_t in) const {
    const auto& W = t_.at(w);
    const int64_t out = static_cast<int64_t>(W.size()) / in;
    std::vector<double> y(L * out, 0.0);
    for (int64_t i = 0; i < L; ++i) {
      for (int64_t o = 0; o < out; ++o) {
        double s = 0;
        for (int64_t k = 0; k < in; ++k) s += x[i * in + k] * W[o * in + k];
        y[i * out + o] = s;
      }
    }
    return y;
  }
  void LayerNorm(std::vector<double>& h, const std::string& name) const {
    const int64_t D = c_.hidden_size;
    const auto& g = t_.at(name + ".weight");
    const auto& b = t_.at(name + ".bias");
    for (size_t r = 0; r < h.size() / D; ++r) {
      double mean = 0, var = 0;
      for (int64_t d = 0; d < D; ++d) mean += h[r * D + d] / D;
      for (int64_t d = 0; d < D; ++d)
        var += (h[r * D + d] - mean) * (h[r * D + d] - mean) / D;
      const double inv = 1 / std::sqrt(var + c_.layer_norm_eps);
      for (int64_t d = 0; d < D; ++d)
        h[r * D + d] = (h[r * D + d] - mean) * inv * g[d] + b[d];
    }
  }
  // rotate_half (GPT-NeoX) of one head at position pos.
  void Rotate(double* x, int64_t pos) const {
    const int64_t dims = c_.rotary_dims, half = dims / 2;
    for (int64_t i = 0; i < half; ++i) {
      const double a = pos * std::pow(c_.rotary_base, -2.0 * i / dims);
      const double x1 = x[i], x2 = x[i + half];
      x[i] = x1 * std::cos(a) - x2 * std::sin(a);
      x[i + half] = x2 * std::cos(a) + x1 * std::sin(a);
    }
  }
  void Block(std::vector<double>& h, int64_t L, const std::string& p) const {
    const int64_t D = c_.hidden_size, N = c_.num_heads, H = D / N,
                  I = c_.intermediate_size;
    std::vector<double> qkv = Linear(h, L, p + "attn.Wqkv.weight", D);
    for (int64_t i = 0; i < L; ++i) {
      for (int64_t n = 0; n < N; ++n) {
        Rotate(&qkv[i * 3 * D + n * H], i);      // Q
        Rotate(&qkv[i * 3 * D + D + n * H], i);  // K
      }
    }
    std::vector<double> ctx(L * D, 0.0);
    for (int64_t n = 0; n < N; ++n) {
      for (int64_t i = 0; i < L; ++i) {
        std::vector<double> s(L);
        double mx = -1e300, sum = 0;
        for (int64_t j = 0; j < L; ++j) {
          double dot = 0;
          for (int64_t e = 0; e < H; ++e)
            dot += qkv[i * 3 * D + n * H + e] * qkv[j * 3 * D + D + n * H + e];
          s[j] = dot / std::sqrt(double(H));
          mx = std::max(mx, s[j]);
        }
        for (double& v : s) sum += (v = std::exp(v - mx));
        for (int64_t j = 0; j < L; ++j) {
          for (int64_t e = 0; e < H; ++e) {
            ctx[i * D + n * H + e] += s[j] / sum * qkv[j * 3 * D + 2 * D + n * H + e];
          }
        }
      }
    }
    const std::vector<double> attn = Linear(ctx, L, p + "attn.out_proj.weight", D);
    for (size_t k = 0; k < h.size(); ++k) h[k] += attn[k];
    LayerNorm(h, p + "norm1");
    const std::vector<double> up = Linear(h, L, p + "mlp.fc11.weight", D);
    const std::vector<double> gate = Linear(h, L, p + "mlp.fc12.weight", D);
    std::vector<double> y(L * I);
    for (size_t k = 0; k < y.size(); ++k)
      y[k] = up[k] * gate[k] / (1 + std::exp(-gate[k]));
    const std::vector<double> down = Linear(y, L, p + "mlp.fc2.weight", I);
    for (size_t k = 0; k < h.size(); ++k) h[k] += down[k];
    LayerNorm(h, p + "norm2");
  }

  const NomicBertConfig& c_;
  const Tensors& t_;
};

double Cosine(const float* a, const std::vector<double>& b) {
  double ab = 0, aa = 0, bb = 0;
  for (size_t i = 0; i < b.size(); ++i) {
    ab += a[i] * b[i];
    aa += double(a[i]) * a[i];
    bb += b[i] * b[i];
  }
  return ab / std::sqrt(aa * bb);
}

TEST(NomicBertTest, MatchesFloat64ReferenceOnV15Shapes) {
  auto config = ParseNomicBertConfig(kConfig, "config.json");
  ASSERT_TRUE(config.ok()) << config.status().message();
  EXPECT_EQ(config->intermediate_size, 3072);
  EXPECT_EQ(config->rotary_dims, 64);
  std::mt19937 gen(7);
  Tensors tensors;
  std::map<std::string, std::vector<int64_t>> shapes;
  for (const NomicTensorSpec& s : NomicBertTensorSpecs(*config)) {
    int64_t n = 1;
    for (int64_t d : s.shape) n *= d;
    const bool norm =
        s.name.find("norm") != std::string::npos || s.name.find("emb_ln") == 0;
    const bool bias =
        s.name.size() > 5 && s.name.compare(s.name.size() - 5, 5, ".bias") == 0;
    // Scales about as trained weights have: unit LayerNorm gains, 1/sqrt(fan_in)
    // products, Q and K larger so that attention is far from uniform and
    // positions (rotary) matter.
    const bool matrix =
        s.shape.size() == 2 && s.name.find("embeddings") == std::string::npos;
    const bool wqkv = s.name.find("Wqkv") != std::string::npos;
    float a = 1.f;
    if (norm) a = bias ? 0.1f : 0.2f;
    if (matrix) a = (wqkv ? 6.f : 1.7f) / std::sqrt(float(s.shape[1]));
    std::uniform_real_distribution<float> dist(-a, a);
    std::vector<float> v(n);
    for (float& x : v) x = (norm && !bias ? 1.f : 0.f) + dist(gen);
    tensors[s.name] = std::move(v);
    shapes[s.name] = s.shape;
  }
  const fs::path dir = fs::path(::testing::TempDir()) / "floe-nomic-bert-test";
  fs::create_directories(dir);
  WriteSafetensors((dir / "model.safetensors").string(), tensors, shapes);
  auto weights = WeightStore::Open(dir.string());
  ASSERT_TRUE(weights.ok()) << weights.status().message();
  auto backend = CreateBackend(RuntimeOptions{});
  ASSERT_TRUE(backend.ok()) << backend.status().message();
  auto enc = NomicBertEncoder::Create(*config, **weights, backend->get());
  ASSERT_TRUE(enc.ok()) << enc.status().message();

  std::vector<std::vector<int32_t>> seqs;
  std::uniform_int_distribution<int32_t> id(0, config->vocab_size - 1);
  for (int len : {1, 7, 33}) {
    seqs.emplace_back(len);
    for (int32_t& x : seqs.back()) x = id(gen);
  }
  std::vector<float> out(seqs.size() * 768);
  ASSERT_TRUE((*enc)->ForwardAll(seqs, PoolKind::kMean, out.data()).ok());
  const Reference ref(*config, tensors);
  for (size_t b = 0; b < seqs.size(); ++b) {
    const std::vector<double> want = ref.Embed(seqs[b]);
    const double cos = Cosine(out.data() + b * 768, want);
    EXPECT_GE(cos, 0.99999) << "length " << seqs[b].size();
    std::printf("length %zu: cosine %.8f\n", seqs[b].size(), cos);
  }
  // The same texts one at a time: the packed batch does not leak across texts.
  std::vector<float> alone(768);
  ASSERT_TRUE((*enc)->ForwardAll({seqs[2]}, PoolKind::kMean, alone.data()).ok());
  for (int i = 0; i < 768; ++i) EXPECT_NEAR(alone[i], out[2 * 768 + i], 1e-4);
  std::vector<std::vector<int32_t>> bad = {{0, 512}};
  EXPECT_EQ((*enc)->ForwardAll(bad, PoolKind::kMean, out.data()).code(),
            StatusCode::kInvalidArgument);
  fs::remove_all(dir);
}

TEST(NomicBertTest, ConfigRefusesWhatItDoesNotRunByName) {
  auto with = [](const std::string& key, const std::string& value) {
    std::string c = kConfig;
    const size_t at = c.find("\"" + key + "\"");
    const size_t colon = c.find(':', at), end = c.find_first_of(",}", colon);
    return c.substr(0, colon + 1) + " " + value + c.substr(end);
  };
  for (const auto& [key, value] : std::vector<std::pair<std::string, std::string>>{
           {"activation_function", "\"gelu\""},
           {"prenorm", "true"},
           {"causal", "true"},
           {"rotary_scaling_factor", "0.5"},
           {"rotary_emb_fraction", "0.0"}}) {
    auto c = ParseNomicBertConfig(with(key, value), "config.json");
    ASSERT_FALSE(c.ok()) << key;
    EXPECT_EQ(c.status().code(), StatusCode::kUnimplemented) << key;
    EXPECT_NE(c.status().message().find(key), std::string::npos) << c.status().message();
  }
  auto odd = ParseNomicBertConfig(with("n_head", "7"), "config.json");
  EXPECT_EQ(odd.status().code(), StatusCode::kInvalidArgument);
  EXPECT_FALSE(ParseNomicBertConfig(R"({"model_type": "bert"})", "config.json").ok());
  EXPECT_TRUE(IsNomicBertConfig(kConfig));
}

}  // namespace
}  // namespace floe
