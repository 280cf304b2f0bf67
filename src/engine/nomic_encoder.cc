#include "engine/nomic_encoder.h"

#include <algorithm>
#include <string>

#include "model/config.h"

namespace floe {

struct NomicBertEncoder::Layer {
  std::unique_ptr<LinearOp> qkv;       // [D] -> [3D]
  std::unique_ptr<LinearOp> out_proj;  // [D] -> [D], + residual
  std::unique_ptr<DeviceBuffer> norm1_w, norm1_b;
  std::unique_ptr<LinearOp> gate_up;  // [D] -> [2I]: fc12 (gate) | fc11 (up)
  std::unique_ptr<LinearOp> fc2;      // [I] -> [D], + residual
  std::unique_ptr<DeviceBuffer> norm2_w, norm2_b;
};

NomicBertEncoder::~NomicBertEncoder() = default;

namespace {

StatusOr<std::unique_ptr<DeviceBuffer>> Upload(Backend* backend,
                                               const std::vector<float>& host) {
  FLOE_ASSIGN_OR_RETURN(auto buf, backend->Allocate(host.size() * sizeof(float)));
  FLOE_RETURN_IF_ERROR(
      backend->CopyToDevice(host.data(), host.size() * sizeof(float), buf->data()));
  return buf;
}

// Loads tensors by the names of NomicBertTensorSpecs, checking each shape.
class Loader {
 public:
  Loader(const NomicBertConfig& c, const WeightStore& w) : w_(w) {
    for (NomicTensorSpec& s : NomicBertTensorSpecs(c)) shapes_.emplace_back(std::move(s));
  }
  StatusOr<std::vector<float>> Get(const std::string& name) const {
    for (const NomicTensorSpec& s : shapes_) {
      if (s.name == name) return w_.LoadFloat(name, s.shape);
    }
    return InternalError("nomic_bert: no tensor spec for " + name);
  }
  StatusOr<std::unique_ptr<DeviceBuffer>> ToDevice(Backend* b,
                                                   const std::string& name) const {
    FLOE_ASSIGN_OR_RETURN(std::vector<float> host, Get(name));
    return Upload(b, host);
  }

 private:
  const WeightStore& w_;
  std::vector<NomicTensorSpec> shapes_;
};

// A Linear from the row-wise concatenation of `parts` (weights [out_i, in],
// biases when `bias`), in order.
StatusOr<std::unique_ptr<LinearOp>> MakeLinear(Backend* backend, const Loader& l,
                                               const std::vector<std::string>& parts,
                                               bool bias, int64_t in, bool accumulate,
                                               LinearPrecision precision) {
  std::vector<float> weight, b;
  for (const std::string& p : parts) {
    FLOE_ASSIGN_OR_RETURN(std::vector<float> wp, l.Get(p + ".weight"));
    weight.insert(weight.end(), wp.begin(), wp.end());
    if (bias) {
      FLOE_ASSIGN_OR_RETURN(std::vector<float> bp, l.Get(p + ".bias"));
      b.insert(b.end(), bp.begin(), bp.end());
    }
  }
  LinearSpec spec;
  spec.weight = weight.data();
  spec.bias = bias ? b.data() : nullptr;
  spec.in_features = in;
  spec.out_features = static_cast<int64_t>(weight.size()) / in;
  spec.accumulate = accumulate;
  spec.precision = precision;
  spec.name = parts.size() == 1 ? parts[0] : parts[0] + "+" + parts[1];
  return backend->CreateLinear(spec);
}

}  // namespace

StatusOr<std::unique_ptr<NomicBertEncoder>> NomicBertEncoder::Create(
    const NomicBertConfig& c, const WeightStore& w, Backend* backend) {
  if (backend == nullptr) return InvalidArgumentError("nomic_bert: no backend");
  std::unique_ptr<NomicBertEncoder> enc(new NomicBertEncoder());
  enc->config_ = c;
  enc->backend_ = backend;
  const Loader l(c, w);
  const int64_t D = c.hidden_size;
  FLOE_ASSIGN_OR_RETURN(enc->word_, l.Get("embeddings.word_embeddings.weight"));
  enc->token_type0_.assign(D, 0.f);
  if (c.type_vocab_size > 0) {
    FLOE_ASSIGN_OR_RETURN(std::vector<float> tt,
                          l.Get("embeddings.token_type_embeddings.weight"));
    std::copy(tt.begin(), tt.begin() + D, enc->token_type0_.begin());
  }
  FLOE_ASSIGN_OR_RETURN(enc->emb_gamma_, l.ToDevice(backend, "emb_ln.weight"));
  FLOE_ASSIGN_OR_RETURN(enc->emb_beta_, l.ToDevice(backend, "emb_ln.bias"));
  for (int i = 0; i < c.num_layers; ++i) {
    const std::string p = "encoder.layers." + std::to_string(i) + ".";
    auto layer = std::make_unique<Layer>();
    // Q and K make the scores softmax amplifies: kHigh, as BERT's.
    FLOE_ASSIGN_OR_RETURN(layer->qkv,
                          MakeLinear(backend, l, {p + "attn.Wqkv"}, c.qkv_bias, D, false,
                                     LinearPrecision::kHigh));
    FLOE_ASSIGN_OR_RETURN(layer->out_proj,
                          MakeLinear(backend, l, {p + "attn.out_proj"}, c.qkv_bias, D,
                                     true, LinearPrecision::kDefault));
    FLOE_ASSIGN_OR_RETURN(layer->norm1_w, l.ToDevice(backend, p + "norm1.weight"));
    FLOE_ASSIGN_OR_RETURN(layer->norm1_b, l.ToDevice(backend, p + "norm1.bias"));
    // y = fc11(x) * silu(fc12(x)): fc12 is the gate, first in [gate | up].
    FLOE_ASSIGN_OR_RETURN(layer->gate_up,
                          MakeLinear(backend, l, {p + "mlp.fc12", p + "mlp.fc11"},
                                     c.fc1_bias, D, false, LinearPrecision::kDefault));
    FLOE_ASSIGN_OR_RETURN(
        layer->fc2, MakeLinear(backend, l, {p + "mlp.fc2"}, c.fc2_bias,
                               c.intermediate_size, true, LinearPrecision::kNoInt8));
    FLOE_ASSIGN_OR_RETURN(layer->norm2_w, l.ToDevice(backend, p + "norm2.weight"));
    FLOE_ASSIGN_OR_RETURN(layer->norm2_b, l.ToDevice(backend, p + "norm2.bias"));
    enc->layers_.push_back(std::move(layer));
  }
  return enc;
}

Status NomicBertEncoder::EnsureCapacity(int64_t tokens, int64_t seqs) {
  const int64_t rows = backend_->RoundUpRows(tokens);
  const int64_t D = config_.hidden_size, I = config_.intermediate_size;
  if (rows > capacity_rows_) {
    FLOE_ASSIGN_OR_RETURN(hidden_, backend_->Allocate(rows * D * sizeof(float)));
    FLOE_ASSIGN_OR_RETURN(qkv_, backend_->Allocate(rows * 3 * D * sizeof(float)));
    FLOE_ASSIGN_OR_RETURN(context_, backend_->Allocate(rows * D * sizeof(float)));
    FLOE_ASSIGN_OR_RETURN(gate_up_, backend_->Allocate(rows * 2 * I * sizeof(float)));
    FLOE_ASSIGN_OR_RETURN(inner_, backend_->Allocate(rows * I * sizeof(float)));
    capacity_rows_ = rows;
  }
  if (seqs > capacity_seqs_) {
    FLOE_ASSIGN_OR_RETURN(cu_, backend_->Allocate((seqs + 1) * sizeof(int32_t)));
    FLOE_ASSIGN_OR_RETURN(skip_, backend_->Allocate(seqs * sizeof(int32_t)));
    FLOE_ASSIGN_OR_RETURN(pooled_, backend_->Allocate(seqs * D * sizeof(float)));
    capacity_seqs_ = seqs;
  }
  return OkStatus();
}

StatusOr<std::unique_ptr<NomicBertEncoder>> NomicBertEncoder::Create(const ModelFolder& model,
                                                                     Backend* backend) {
  FLOE_ASSIGN_OR_RETURN(NomicBertConfig c,
                        ParseNomicBertConfig(model.config_json, model.path + "/config.json"));
  return Create(c, *model.weights, backend);
}

Status NomicBertEncoder::Forward(const std::vector<std::vector<int32_t>>& seqs, PoolKind pool,
                                 float* out) {
  std::vector<const std::vector<int32_t>*> ptrs;
  for (const auto& s : seqs) ptrs.push_back(&s);
  return Forward(SeqSpan(ptrs.data(), ptrs.size()), pool, out, nullptr, {}, {});
}

Status NomicBertEncoder::Forward(SeqSpan seqs, PoolKind pool, float* out,
                                 std::vector<float>* hidden_host,
                                 std::span<const int32_t> pool_skip,
                                 std::span<const int32_t> type1_from) {
  const int64_t B = static_cast<int64_t>(seqs.size());
  if (B == 0) return OkStatus();
  const int64_t D = config_.hidden_size, I = config_.intermediate_size;
  for (int64_t b = 0; b < B; ++b) {
    const int64_t len = static_cast<int64_t>(seqs[b]->size());
    if (len < 1 || len > config_.max_positions) {
      return InvalidArgumentError("nomic_bert: sequence " + std::to_string(b) + " has " +
                                  std::to_string(len) + " tokens (1 to " +
                                  std::to_string(config_.max_positions) + ")");
    }
    for (int32_t id : *seqs[b]) {
      if (id < 0 || id >= config_.vocab_size) {
        return InvalidArgumentError(
            "nomic_bert: sequence " + std::to_string(b) + ": id " + std::to_string(id) +
            " is not below the vocabulary size " + std::to_string(config_.vocab_size));
      }
    }
    if (static_cast<size_t>(b) < type1_from.size() && type1_from[b] >= 0 &&
        type1_from[b] < len) {
      return InvalidArgumentError("nomic_bert: sequence " + std::to_string(b) +
                                  " asks for token type 1; the model embeds type 0 only");
    }
  }
  int64_t T = 0;
  for (int64_t b = 0; b < B; ++b) T += static_cast<int64_t>(seqs[b]->size());
  FLOE_RETURN_IF_ERROR(EnsureCapacity(T, B));
  PackedPass pass;
  FLOE_RETURN_IF_ERROR(PackPass(backend_, seqs, pool_skip, cu_.get(), skip_.get(), &pass));
  const PackedBatch& batch = pass.batch;

  // Embeddings on the host (word row + token type 0; padding rows zero).
  const int64_t rows = backend_->RoundUpRows(T);
  std::vector<float> emb(rows * D, 0.f);
  for (int64_t b = 0, t = 0; b < B; ++b) {
    for (int32_t id : *seqs[b]) {
      const float* wr = word_.data() + static_cast<int64_t>(id) * D;
      for (int64_t i = 0; i < D; ++i) emb[t * D + i] = wr[i] + token_type0_[i];
      ++t;
    }
  }
  float* h = hidden_->f32();
  FLOE_RETURN_IF_ERROR(backend_->CopyToDevice(emb.data(), emb.size() * sizeof(float), h));
  const float eps = config_.layer_norm_eps;
  FLOE_RETURN_IF_ERROR(
      backend_->LayerNorm(h, T, D, emb_gamma_->f32(), emb_beta_->f32(), eps));

  RotarySpec rotary;
  rotary.rotary_dims = config_.rotary_dims;
  rotary.base = config_.rotary_base;
  rotary.layout =
      config_.rotary_interleaved ? RotaryLayout::kInterleaved : RotaryLayout::kHalfSplit;
  AttentionSpec attn;
  attn.num_heads = config_.num_heads;
  attn.head_size = config_.head_size();
  attn.rotary = &rotary;
  for (const auto& layer : layers_) {
    FLOE_RETURN_IF_ERROR(layer->qkv->Forward(h, T, qkv_->f32()));
    FLOE_RETURN_IF_ERROR(backend_->Attend(qkv_->f32(), batch, attn, context_->f32()));
    FLOE_RETURN_IF_ERROR(layer->out_proj->Forward(context_->f32(), T, h));  // h += ...
    FLOE_RETURN_IF_ERROR(
        backend_->LayerNorm(h, T, D, layer->norm1_w->f32(), layer->norm1_b->f32(), eps));
    FLOE_RETURN_IF_ERROR(layer->gate_up->Forward(h, T, gate_up_->f32()));
    FLOE_RETURN_IF_ERROR(backend_->GatedActivation(gate_up_->f32(), T, I,
                                                   Activation::kSilu, inner_->f32()));
    FLOE_RETURN_IF_ERROR(layer->fc2->Forward(inner_->f32(), T, h));  // h += ...
    FLOE_RETURN_IF_ERROR(
        backend_->LayerNorm(h, T, D, layer->norm2_w->f32(), layer->norm2_b->f32(), eps));
  }
  FLOE_RETURN_IF_ERROR(backend_->Pool(h, batch, D, pool, pooled_->f32()));
  FLOE_RETURN_IF_ERROR(backend_->CopyToHost(pooled_->data(), B * D * sizeof(float), out));
  if (hidden_host != nullptr) {
    hidden_host->resize(T * D);
    FLOE_RETURN_IF_ERROR(backend_->CopyToHost(h, T * D * sizeof(float), hidden_host->data()));
  }
  return OkStatus();
}

}  // namespace floe
