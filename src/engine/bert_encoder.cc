#include "engine/bert_encoder.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "core/log.h"

namespace floe {

struct BertEncoder::Layer {
  std::unique_ptr<LinearOp> qkv;        // [D] -> [3D], Wq | Wk | Wv fused
  std::unique_ptr<LinearOp> attn_out;   // [D] -> [D], + residual
  std::unique_ptr<DeviceBuffer> attn_ln_gamma, attn_ln_beta;
  std::unique_ptr<LinearOp> ffn_in;     // [D] -> [I], + activation
  std::unique_ptr<LinearOp> ffn_out;    // [I] -> [D], + residual
  std::unique_ptr<DeviceBuffer> out_ln_gamma, out_ln_beta;
};

namespace {
constexpr const char* kStageNames[8] = {"embed",  "qkv",    "attention", "attn_out",
                                        "ln",     "ffn_in", "ffn_out",   "pool"};
}  // namespace

BertEncoder::~BertEncoder() {
  if (!profile_ || profiled_tokens_ == 0) return;
  double total = 0;
  for (double s : stage_seconds_) total += s;
  std::string line = "encoder profile: " + std::to_string(profiled_tokens_) + " tokens, " +
                     std::to_string(total) + " s;";
  for (int i = 0; i < 8; ++i) {
    char buf[64];
    std::snprintf(buf, sizeof(buf), " %s %.1f%%", kStageNames[i],
                  total > 0 ? 100.0 * stage_seconds_[i] / total : 0.0);
    line += buf;
  }
  FLOE_LOG(kInfo) << line;
}

namespace {

StatusOr<std::unique_ptr<DeviceBuffer>> Upload(Backend* backend, const std::vector<float>& host) {
  FLOE_ASSIGN_OR_RETURN(auto buf, backend->Allocate(host.size() * sizeof(float)));
  FLOE_RETURN_IF_ERROR(backend->CopyToDevice(host.data(), host.size() * sizeof(float), buf->data()));
  return buf;
}

StatusOr<std::unique_ptr<DeviceBuffer>> LoadToDevice(Backend* backend, const WeightStore& w,
                                                     const std::string& name,
                                                     const std::vector<int64_t>& shape) {
  FLOE_ASSIGN_OR_RETURN(std::vector<float> host, w.LoadFloat(name, shape));
  return Upload(backend, host);
}

Activation ActivationFor(HiddenAct a) {
  switch (a) {
    case HiddenAct::kGeluErf: return Activation::kGeluErf;
    case HiddenAct::kGeluTanh: return Activation::kGeluTanh;
    case HiddenAct::kRelu: return Activation::kRelu;
  }
  return Activation::kGeluErf;
}

StatusOr<std::unique_ptr<LinearOp>> LoadLinear(Backend* backend, const WeightStore& w,
                                               const std::string& scope, int64_t in, int64_t out,
                                               Activation act, bool accumulate,
                                               LinearPrecision precision = LinearPrecision::kDefault) {
  FLOE_ASSIGN_OR_RETURN(std::vector<float> weight, w.LoadFloat(scope + ".weight", {out, in}));
  FLOE_ASSIGN_OR_RETURN(std::vector<float> bias, w.LoadFloat(scope + ".bias", {out}));
  LinearSpec spec;
  spec.weight = weight.data();
  spec.bias = bias.data();
  spec.in_features = in;
  spec.out_features = out;
  spec.activation = act;
  spec.accumulate = accumulate;
  spec.name = scope;
  spec.precision = precision;
  return backend->CreateLinear(spec);
}

}  // namespace

StatusOr<std::unique_ptr<BertEncoder>> BertEncoder::Create(const ModelFolder& model,
                                                           Backend* backend) {
  const BertConfig& c = model.config;
  if (c.hidden_size <= 0 || c.num_attention_heads <= 0 ||
      c.hidden_size % c.num_attention_heads != 0 || c.num_hidden_layers <= 0 ||
      c.intermediate_size <= 0 || c.vocab_size <= 0 || c.max_position_embeddings <= 0 ||
      c.type_vocab_size <= 0) {
    return InvalidArgumentError(model.path + ": config.json: inconsistent sizes (hidden_size " +
                                std::to_string(c.hidden_size) + ", num_attention_heads " +
                                std::to_string(c.num_attention_heads) + ")");
  }
  if (model.weights == nullptr) return InvalidArgumentError(model.path + ": no weights opened");
  const WeightStore& w = *model.weights;
  std::unique_ptr<BertEncoder> enc(new BertEncoder());
  enc->config_ = c;
  enc->backend_ = backend;
  const char* prof = std::getenv("FLOE_PROFILE");
  enc->profile_ = prof != nullptr && prof[0] != '\0' && prof[0] != '0';
  const int64_t D = c.hidden_size, I = c.intermediate_size;

  FLOE_ASSIGN_OR_RETURN(enc->word_, LoadToDevice(backend, w, "embeddings.word_embeddings.weight",
                                                 {c.vocab_size, D}));
  FLOE_ASSIGN_OR_RETURN(enc->position_,
                        LoadToDevice(backend, w, "embeddings.position_embeddings.weight",
                                     {c.max_position_embeddings, D}));
  {
    FLOE_ASSIGN_OR_RETURN(std::vector<float> tt,
                          w.LoadFloat("embeddings.token_type_embeddings.weight",
                                      {c.type_vocab_size, D}));
    tt.resize(D);  // every token is type 0
    FLOE_ASSIGN_OR_RETURN(enc->token_type0_, Upload(backend, tt));
  }
  FLOE_ASSIGN_OR_RETURN(enc->emb_gamma_,
                        LoadToDevice(backend, w, "embeddings.LayerNorm.weight", {D}));
  FLOE_ASSIGN_OR_RETURN(enc->emb_beta_, LoadToDevice(backend, w, "embeddings.LayerNorm.bias", {D}));

  const Activation act = ActivationFor(c.hidden_act);
  for (int i = 0; i < c.num_hidden_layers; ++i) {
    const std::string p = "encoder.layer." + std::to_string(i) + ".";
    auto layer = std::make_unique<Layer>();
    {
      // Q, K and V as one [3D, D] weight: one GEMM instead of three.
      std::vector<float> weight, bias;
      weight.reserve(3 * D * D);
      bias.reserve(3 * D);
      for (const char* part : {"query", "key", "value"}) {
        const std::string scope = p + "attention.self." + part;
        FLOE_ASSIGN_OR_RETURN(std::vector<float> wp, w.LoadFloat(scope + ".weight", {D, D}));
        FLOE_ASSIGN_OR_RETURN(std::vector<float> bp, w.LoadFloat(scope + ".bias", {D}));
        weight.insert(weight.end(), wp.begin(), wp.end());
        bias.insert(bias.end(), bp.begin(), bp.end());
      }
      LinearSpec spec;
      spec.weight = weight.data();
      spec.bias = bias.data();
      spec.in_features = D;
      spec.out_features = 3 * D;
      spec.name = p + "attention.self.{query,key,value}";
      // Q and K make the attention scores, which softmax amplifies most
      // (about 0.02 of cosine at 254 tokens on a random base-sized model in
      // plain bfloat16, against 0.003 for any other product).
      spec.precision = LinearPrecision::kHigh;
      FLOE_ASSIGN_OR_RETURN(layer->qkv, backend->CreateLinear(spec));
    }
    FLOE_ASSIGN_OR_RETURN(layer->attn_out, LoadLinear(backend, w, p + "attention.output.dense", D,
                                                      D, Activation::kNone, true));
    FLOE_ASSIGN_OR_RETURN(layer->attn_ln_gamma,
                          LoadToDevice(backend, w, p + "attention.output.LayerNorm.weight", {D}));
    FLOE_ASSIGN_OR_RETURN(layer->attn_ln_beta,
                          LoadToDevice(backend, w, p + "attention.output.LayerNorm.bias", {D}));
    FLOE_ASSIGN_OR_RETURN(layer->ffn_in,
                          LoadLinear(backend, w, p + "intermediate.dense", D, I, act, false));
    // int8 rounds its GELU inputs too coarsely (docs/cpu-performance.md).
    FLOE_ASSIGN_OR_RETURN(layer->ffn_out, LoadLinear(backend, w, p + "output.dense", I, D,
                                                     Activation::kNone, true,
                                                     LinearPrecision::kNoInt8));
    FLOE_ASSIGN_OR_RETURN(layer->out_ln_gamma,
                          LoadToDevice(backend, w, p + "output.LayerNorm.weight", {D}));
    FLOE_ASSIGN_OR_RETURN(layer->out_ln_beta,
                          LoadToDevice(backend, w, p + "output.LayerNorm.bias", {D}));
    enc->layers_.push_back(std::move(layer));
  }
  return enc;
}

Status BertEncoder::EnsureCapacity(int64_t tokens, int64_t seqs) {
  const int64_t rows = backend_->RoundUpRows(tokens);
  const int64_t D = config_.hidden_size, I = config_.intermediate_size;
  if (rows > capacity_rows_) {
    FLOE_ASSIGN_OR_RETURN(ids_, backend_->Allocate(rows * sizeof(int32_t)));
    FLOE_ASSIGN_OR_RETURN(hidden_, backend_->Allocate(rows * D * sizeof(float)));
    FLOE_ASSIGN_OR_RETURN(qkv_, backend_->Allocate(rows * 3 * D * sizeof(float)));
    FLOE_ASSIGN_OR_RETURN(context_, backend_->Allocate(rows * D * sizeof(float)));
    FLOE_ASSIGN_OR_RETURN(intermediate_, backend_->Allocate(rows * I * sizeof(float)));
    capacity_rows_ = rows;
  }
  if (seqs > capacity_seqs_) {
    FLOE_ASSIGN_OR_RETURN(cu_seqlens_, backend_->Allocate((seqs + 1) * sizeof(int32_t)));
    FLOE_ASSIGN_OR_RETURN(pool_skip_, backend_->Allocate(seqs * sizeof(int32_t)));
    FLOE_ASSIGN_OR_RETURN(pooled_, backend_->Allocate(seqs * D * sizeof(float)));
    capacity_seqs_ = seqs;
  }
  return OkStatus();
}

Status BertEncoder::Forward(std::span<const std::vector<int32_t>* const> seqs, PoolKind pool,
                            float* pooled_host, std::vector<float>* hidden_host,
                            std::span<const int32_t> pool_skip) {
  const int64_t B = static_cast<int64_t>(seqs.size());
  if (B == 0) return OkStatus();
  if (!pool_skip.empty() && static_cast<int64_t>(pool_skip.size()) != B) {
    return InvalidArgumentError("pool_skip has " + std::to_string(pool_skip.size()) +
                                " entries for " + std::to_string(B) + " sequences");
  }
  const int64_t D = config_.hidden_size;
  const int64_t N = config_.num_attention_heads;
  const int64_t H = D / N;

  std::vector<int32_t> cu(B + 1, 0);
  std::vector<int32_t> ids;
  int64_t max_len = 0;
  for (int64_t b = 0; b < B; ++b) {
    const auto& s = *seqs[b];
    cu[b + 1] = cu[b] + static_cast<int32_t>(s.size());
    max_len = std::max<int64_t>(max_len, static_cast<int64_t>(s.size()));
    ids.insert(ids.end(), s.begin(), s.end());
  }
  const int64_t T = cu[B];
  FLOE_RETURN_IF_ERROR(EnsureCapacity(T, B));
  FLOE_RETURN_IF_ERROR(backend_->CopyToDevice(ids.data(), T * sizeof(int32_t), ids_->data()));
  FLOE_RETURN_IF_ERROR(
      backend_->CopyToDevice(cu.data(), (B + 1) * sizeof(int32_t), cu_seqlens_->data()));
  PackedBatch batch;
  batch.cu_seqlens_host = cu.data();
  batch.cu_seqlens_device = cu_seqlens_->i32();
  batch.num_seqs = B;
  batch.total_tokens = T;
  batch.max_seqlen = max_len;
  if (std::any_of(pool_skip.begin(), pool_skip.end(), [](int32_t k) { return k > 0; })) {
    FLOE_RETURN_IF_ERROR(
        backend_->CopyToDevice(pool_skip.data(), B * sizeof(int32_t), pool_skip_->data()));
    batch.pool_skip_host = pool_skip.data();
    batch.pool_skip_device = pool_skip_->i32();
  }

  // Padding rows (T .. RoundUpRows(T)) go through the products too; start
  // them at zero each pass so their values stay bounded.
  const int64_t rows = backend_->RoundUpRows(T);
  float* h = hidden_->f32();
  if (rows > T) {
    std::vector<float> zeros((rows - T) * D, 0.f);
    FLOE_RETURN_IF_ERROR(
        backend_->CopyToDevice(zeros.data(), zeros.size() * sizeof(float), h + T * D));
  }
  using Clock = std::chrono::steady_clock;
  Clock::time_point last = Clock::now();
  // Closes the current stage (only when profiling; ops are synchronous on the
  // CPU, a GPU backend would need a device sync here).
  const auto mark = [&](int stage) {
    if (!profile_) return;
    const Clock::time_point now = Clock::now();
    stage_seconds_[stage] += std::chrono::duration<double>(now - last).count();
    last = now;
  };
  const float eps = config_.layer_norm_eps;
  FLOE_RETURN_IF_ERROR(backend_->EmbedLayerNorm(ids_->i32(), batch, word_->f32(),
                                                position_->f32(), token_type0_->f32(),
                                                emb_gamma_->f32(), emb_beta_->f32(), D, eps, h));
  mark(0);
  const float scale = 1.f / std::sqrt(static_cast<float>(H));
  for (const auto& layer : layers_) {
    FLOE_RETURN_IF_ERROR(layer->qkv->Forward(h, T, qkv_->f32()));
    mark(1);
    FLOE_RETURN_IF_ERROR(backend_->Attention(qkv_->f32(), batch, N, H, scale, context_->f32()));
    mark(2);
    FLOE_RETURN_IF_ERROR(layer->attn_out->Forward(context_->f32(), T, h));  // h += ...
    mark(3);
    FLOE_RETURN_IF_ERROR(backend_->LayerNorm(h, T, D, layer->attn_ln_gamma->f32(),
                                             layer->attn_ln_beta->f32(), eps));
    mark(4);
    FLOE_RETURN_IF_ERROR(layer->ffn_in->Forward(h, T, intermediate_->f32()));
    mark(5);
    FLOE_RETURN_IF_ERROR(layer->ffn_out->Forward(intermediate_->f32(), T, h));  // h += ...
    mark(6);
    FLOE_RETURN_IF_ERROR(backend_->LayerNorm(h, T, D, layer->out_ln_gamma->f32(),
                                             layer->out_ln_beta->f32(), eps));
    mark(4);
  }
  FLOE_RETURN_IF_ERROR(backend_->Pool(h, batch, D, pool, pooled_->f32()));
  mark(7);
  profiled_tokens_ += T;
  FLOE_RETURN_IF_ERROR(backend_->CopyToHost(pooled_->data(), B * D * sizeof(float), pooled_host));
  if (hidden_host != nullptr) {
    hidden_host->resize(T * D);
    FLOE_RETURN_IF_ERROR(backend_->CopyToHost(h, T * D * sizeof(float), hidden_host->data()));
  }
  return OkStatus();
}

}  // namespace floe
