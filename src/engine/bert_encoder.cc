#include "engine/bert_encoder.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "core/log.h"
#include "model/bert_weights.h"

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
                                                     const BertConfig& c, BertTensor t,
                                                     int layer = 0) {
  FLOE_ASSIGN_OR_RETURN(std::vector<float> host, LoadBertTensor(w, c, t, layer));
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

// The Linear of a weight tensor and the bias tensor that follows it in the
// table (BertTensor lists every weight just before its bias).
StatusOr<std::unique_ptr<LinearOp>> LoadLinear(Backend* backend, const WeightStore& w,
                                               const BertConfig& c, BertTensor weight_tensor,
                                               int layer, Activation act, bool accumulate,
                                               LinearPrecision precision = LinearPrecision::kDefault) {
  const BertTensor bias_tensor = static_cast<BertTensor>(static_cast<int>(weight_tensor) + 1);
  const BertTensorSpec spec_w = BertTensorFor(c, weight_tensor, layer);
  FLOE_ASSIGN_OR_RETURN(std::vector<float> weight, w.LoadFloat(spec_w.name, spec_w.shape));
  FLOE_ASSIGN_OR_RETURN(std::vector<float> bias, LoadBertTensor(w, c, bias_tensor, layer));
  LinearSpec spec;
  spec.weight = weight.data();
  spec.bias = bias.data();
  spec.in_features = spec_w.shape[1];
  spec.out_features = spec_w.shape[0];
  spec.activation = act;
  spec.accumulate = accumulate;
  spec.name = spec_w.name.substr(0, spec_w.name.rfind('.'));
  spec.precision = precision;
  return backend->CreateLinear(spec);
}

}  // namespace

StatusOr<std::unique_ptr<BertEncoder>> BertEncoder::Create(const ModelFolder& model,
                                                           Backend* backend) {
  const BertConfig& c = model.config;
  if (c.hidden_size <= 0 || c.num_attention_heads <= 0 ||
      c.hidden_size % c.num_attention_heads != 0 || c.num_hidden_layers <= 0 ||
      c.intermediate_size <= 0 || c.vocab_size <= 0 || c.max_tokens() <= 0 ||
      c.position_offset < 0 || c.type_vocab_size <= 0 ||
      (c.classifier() && c.num_labels <= 0)) {
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
  const int64_t D = c.hidden_size;

  using BT = BertTensor;
  FLOE_ASSIGN_OR_RETURN(enc->word_, LoadToDevice(backend, w, c, BT::kWord));
  FLOE_ASSIGN_OR_RETURN(enc->position_, LoadToDevice(backend, w, c, BT::kPosition));
  FLOE_ASSIGN_OR_RETURN(enc->token_type_, LoadToDevice(backend, w, c, BT::kTokenType));
  FLOE_ASSIGN_OR_RETURN(enc->emb_gamma_, LoadToDevice(backend, w, c, BT::kEmbNormWeight));
  FLOE_ASSIGN_OR_RETURN(enc->emb_beta_, LoadToDevice(backend, w, c, BT::kEmbNormBias));

  const Activation act = ActivationFor(c.hidden_act);
  for (int i = 0; i < c.num_hidden_layers; ++i) {
    auto layer = std::make_unique<Layer>();
    {
      // Q, K and V as one [3D, D] weight: one GEMM instead of three.
      std::vector<float> weight, bias;
      weight.reserve(3 * D * D);
      bias.reserve(3 * D);
      for (BT part : {BT::kQueryWeight, BT::kKeyWeight, BT::kValueWeight}) {
        FLOE_ASSIGN_OR_RETURN(std::vector<float> wp, LoadBertTensor(w, c, part, i));
        FLOE_ASSIGN_OR_RETURN(std::vector<float> bp,
                              LoadBertTensor(w, c, static_cast<BT>(static_cast<int>(part) + 1), i));
        weight.insert(weight.end(), wp.begin(), wp.end());
        bias.insert(bias.end(), bp.begin(), bp.end());
      }
      LinearSpec spec;
      spec.weight = weight.data();
      spec.bias = bias.data();
      spec.in_features = D;
      spec.out_features = 3 * D;
      spec.name = "encoder.layer." + std::to_string(i) + ".attention.self.{query,key,value}";
      // Q and K make the attention scores, which softmax amplifies most
      // (about 0.02 of cosine at 254 tokens on a random base-sized model in
      // plain bfloat16, against 0.003 for any other product).
      spec.precision = LinearPrecision::kHigh;
      FLOE_ASSIGN_OR_RETURN(layer->qkv, backend->CreateLinear(spec));
    }
    FLOE_ASSIGN_OR_RETURN(layer->attn_out, LoadLinear(backend, w, c, BT::kAttnOutWeight, i,
                                                      Activation::kNone, true));
    FLOE_ASSIGN_OR_RETURN(layer->attn_ln_gamma, LoadToDevice(backend, w, c, BT::kAttnNormWeight, i));
    FLOE_ASSIGN_OR_RETURN(layer->attn_ln_beta, LoadToDevice(backend, w, c, BT::kAttnNormBias, i));
    FLOE_ASSIGN_OR_RETURN(layer->ffn_in,
                          LoadLinear(backend, w, c, BT::kFfnInWeight, i, act, false));
    // int8 rounds its GELU inputs too coarsely (docs/cpu-performance.md).
    FLOE_ASSIGN_OR_RETURN(layer->ffn_out, LoadLinear(backend, w, c, BT::kFfnOutWeight, i,
                                                     Activation::kNone, true,
                                                     LinearPrecision::kNoInt8));
    FLOE_ASSIGN_OR_RETURN(layer->out_ln_gamma, LoadToDevice(backend, w, c, BT::kOutNormWeight, i));
    FLOE_ASSIGN_OR_RETURN(layer->out_ln_beta, LoadToDevice(backend, w, c, BT::kOutNormBias, i));
    enc->layers_.push_back(std::move(layer));
  }
  if (c.classifier()) {
    FLOE_ASSIGN_OR_RETURN(enc->head_dense_, LoadLinear(backend, w, c, BT::kHeadDenseWeight, 0,
                                                       Activation::kNone, false));
    FLOE_ASSIGN_OR_RETURN(enc->head_out_weight_, LoadBertTensor(w, c, BT::kHeadOutWeight));
    FLOE_ASSIGN_OR_RETURN(enc->head_out_bias_, LoadBertTensor(w, c, BT::kHeadOutBias));
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
    // pooled_ is the head's Linear input: room for RoundUpRows(seqs) rows,
    // the padding ones zero.
    const int64_t seq_rows = backend_->RoundUpRows(seqs);
    FLOE_ASSIGN_OR_RETURN(cu_seqlens_, backend_->Allocate((seqs + 1) * sizeof(int32_t)));
    FLOE_ASSIGN_OR_RETURN(pool_skip_, backend_->Allocate(seqs * sizeof(int32_t)));
    FLOE_ASSIGN_OR_RETURN(type1_from_, backend_->Allocate(seqs * sizeof(int32_t)));
    FLOE_ASSIGN_OR_RETURN(pooled_, backend_->Allocate(seq_rows * D * sizeof(float)));
    const std::vector<float> zeros(seq_rows * D, 0.f);
    FLOE_RETURN_IF_ERROR(
        backend_->CopyToDevice(zeros.data(), zeros.size() * sizeof(float), pooled_->data()));
    if (head_dense_) {
      FLOE_ASSIGN_OR_RETURN(head_hidden_, backend_->Allocate(seq_rows * D * sizeof(float)));
    }
    capacity_seqs_ = seqs;
  }
  return OkStatus();
}

Status BertEncoder::Forward(std::span<const std::vector<int32_t>* const> seqs, PoolKind pool,
                            float* pooled_host, std::vector<float>* hidden_host,
                            std::span<const int32_t> pool_skip,
                            std::span<const int32_t> type1_from) {
  const int64_t B = static_cast<int64_t>(seqs.size());
  if (B == 0) return OkStatus();
  int64_t T = 0;
  FLOE_RETURN_IF_ERROR(Run(seqs, pool, pool_skip, type1_from, &T));
  const int64_t D = config_.hidden_size;
  FLOE_RETURN_IF_ERROR(
      backend_->CopyToHost(backend_->View(*pooled_, DType::kF32, {B, D}), pooled_host));
  if (hidden_host != nullptr) {
    hidden_host->resize(T * D);
    FLOE_RETURN_IF_ERROR(
        backend_->CopyToHost(backend_->Activations(*hidden_, T, D), hidden_host->data()));
  }
  return OkStatus();
}

Status BertEncoder::Classify(std::span<const std::vector<int32_t>* const> seqs,
                             float* logits_host, std::span<const int32_t> type1_from) {
  if (!head_dense_) {
    return FailedPreconditionError("the model has no classifier head");
  }
  const int64_t B = static_cast<int64_t>(seqs.size());
  if (B == 0) return OkStatus();
  int64_t T = 0;
  FLOE_RETURN_IF_ERROR(Run(seqs, PoolKind::kCls, {}, type1_from, &T));
  const int64_t D = config_.hidden_size, L = config_.num_labels;
  // Pool writes float32: a backend whose activations are another type
  // refuses it here (FAILED_PRECONDITION), as it has no head for them.
  const TensorView head_hidden = backend_->Activations(*head_hidden_, B, D);
  FLOE_RETURN_IF_ERROR(
      head_dense_->Forward(backend_->View(*pooled_, DType::kF32, {B, D}), head_hidden));
  std::vector<float> x(B * D);
  FLOE_RETURN_IF_ERROR(backend_->CopyToHost(head_hidden, x.data()));
  // tanh, then out: [B, D] x [L, D]^T + bias, accumulated in double.
  for (float& v : x) v = std::tanh(v);
  for (int64_t b = 0; b < B; ++b) {
    for (int64_t l = 0; l < L; ++l) {
      const float* wrow = head_out_weight_.data() + l * D;
      const float* xrow = x.data() + b * D;
      double acc = head_out_bias_[l];
      for (int64_t i = 0; i < D; ++i) acc += static_cast<double>(wrow[i]) * xrow[i];
      logits_host[b * L + l] = static_cast<float>(acc);
    }
  }
  return OkStatus();
}

Status BertEncoder::Attention(const PackedBatch& batch, int64_t heads, int64_t head_size,
                              float scale, const TensorView& qkv,
                              const TensorView& context) {
  // Backend::Attention keeps a max_len x max_len score matrix per thread
  // (256 MiB at 8,192 tokens); Backend::Attend goes in query blocks (memory
  // linear in the length). Long passes take Attend where the backend has it.
  if (batch.max_seqlen > kLongSequence && attend_available_) {
    AttentionSpec spec;
    spec.num_heads = heads;
    spec.head_size = head_size;
    spec.scale = scale;
    const Status s = backend_->Attend(qkv, batch, spec, context);
    if (s.code() != StatusCode::kUnimplemented) return s;
    attend_available_ = false;
    LogOnce(LogLevel::kInfo, "attend-missing-" + backend_->device(),
            "sequences over " + std::to_string(kLongSequence) + " tokens on " +
                backend_->device() + " use the full-score attention (" + s.message() + ")");
  }
  return backend_->Attention(qkv, batch, heads, head_size, scale, context);
}

Status BertEncoder::Run(std::span<const std::vector<int32_t>* const> seqs, PoolKind pool,
                        std::span<const int32_t> pool_skip, std::span<const int32_t> type1_from,
                        int64_t* total_tokens) {
  const int64_t B = static_cast<int64_t>(seqs.size());
  if (!pool_skip.empty() && static_cast<int64_t>(pool_skip.size()) != B) {
    return InvalidArgumentError("pool_skip has " + std::to_string(pool_skip.size()) +
                                " entries for " + std::to_string(B) + " sequences");
  }
  if (!type1_from.empty() && static_cast<int64_t>(type1_from.size()) != B) {
    return InvalidArgumentError("type1_from has " + std::to_string(type1_from.size()) +
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
  *total_tokens = T;
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
  bool any_type1 = false;
  for (size_t b = 0; b < type1_from.size(); ++b) {
    any_type1 |= type1_from[b] >= 0 && type1_from[b] < cu[b + 1] - cu[b];
  }
  if (any_type1) {
    if (config_.type_vocab_size < 2) {
      return InvalidArgumentError("token type 1 asked for, but the model has " +
                                  std::to_string(config_.type_vocab_size) + " token type");
    }
    FLOE_RETURN_IF_ERROR(
        backend_->CopyToDevice(type1_from.data(), B * sizeof(int32_t), type1_from_->data()));
    batch.type1_from_host = type1_from.data();
    batch.type1_from_device = type1_from_->i32();
  }

  // Padding rows (T .. RoundUpRows(T)) go through the products too; start
  // them at zero each pass so their values stay bounded.
  const int64_t rows = backend_->RoundUpRows(T);
  const int64_t I = config_.intermediate_size;
  const TensorView h = backend_->Activations(*hidden_, T, D);
  const TensorView qkv = backend_->Activations(*qkv_, T, 3 * D);
  const TensorView context = backend_->Activations(*context_, T, D);
  const TensorView intermediate = backend_->Activations(*intermediate_, T, I);
  if (rows > T) {
    const TensorView padding = backend_->Activations(*hidden_, rows, D).Rows(T, rows - T);
    const std::vector<char> zeros(padding.bytes(), 0);  // +0 in every float type
    FLOE_RETURN_IF_ERROR(
        backend_->CopyToDevice(zeros.data(), zeros.size(), padding.data));
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
  // From the embeddings to pooling: only ops of the backend, on buffers that
  // stay put, so the backend may replay them as one CUDA graph for the same
  // batch shape (Backend::RunGraph; the CPU backend just runs them).
  GraphKey key;
  key.owner = reinterpret_cast<uintptr_t>(this);
  key.tokens = T;
  key.seqs = B;
  key.max_seqlen = max_len;
  key.variant = static_cast<uint64_t>(pool) | (batch.pool_skip_device ? 16u : 0u) |
                (batch.type1_from_device ? 32u : 0u);
  key.lengths = HashLengths(cu);
  FLOE_RETURN_IF_ERROR(backend_->RunGraph(key, [&]() -> Status {
    const float eps = config_.layer_norm_eps;
    EmbeddingTables tables;
    tables.word = word_->f32();
    tables.position = position_->f32();
    tables.token_type = token_type_->f32();
    tables.gamma = emb_gamma_->f32();
    tables.beta = emb_beta_->f32();
    tables.position_offset = config_.position_offset;
    FLOE_RETURN_IF_ERROR(backend_->EmbedLayerNorm(ids_->i32(), batch, tables, eps, h));
    mark(0);
    const float scale = 1.f / std::sqrt(static_cast<float>(H));
    for (const auto& layer : layers_) {
      FLOE_RETURN_IF_ERROR(layer->qkv->Forward(h, qkv));
      mark(1);
      FLOE_RETURN_IF_ERROR(Attention(batch, N, H, scale, qkv, context));
      mark(2);
      FLOE_RETURN_IF_ERROR(layer->attn_out->Forward(context, h));  // h += ...
      mark(3);
      FLOE_RETURN_IF_ERROR(backend_->LayerNorm(h, layer->attn_ln_gamma->f32(),
                                               layer->attn_ln_beta->f32(), eps));
      mark(4);
      if (profile_) {  // the same vectors, each product's time apart
        FLOE_RETURN_IF_ERROR(layer->ffn_in->Forward(h, intermediate));
        mark(5);
        FLOE_RETURN_IF_ERROR(layer->ffn_out->Forward(intermediate, h));  // h += ...
        mark(6);
      } else {  // the backend may fuse them (int8 on the CPU: no float32 intermediate)
        FLOE_RETURN_IF_ERROR(layer->ffn_in->ForwardInto(h, intermediate, *layer->ffn_out, h));
      }
      FLOE_RETURN_IF_ERROR(backend_->LayerNorm(h, layer->out_ln_gamma->f32(),
                                               layer->out_ln_beta->f32(), eps));
      mark(4);
    }
    FLOE_RETURN_IF_ERROR(
        backend_->Pool(h, batch, pool, backend_->View(*pooled_, DType::kF32, {B, D})));
    mark(7);
    return OkStatus();
  }));
  profiled_tokens_ += T;
  return OkStatus();
}

}  // namespace floe
