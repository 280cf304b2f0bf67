#include "engine/modernbert_encoder.h"

#include <string>

#include "model/config.h"

namespace floe {

struct ModernBertEncoder::Layer {
  bool global = true;
  std::unique_ptr<DeviceBuffer> attn_norm_w, attn_norm_b;  // null on layer 0
  std::unique_ptr<LinearOp> wqkv;                          // [D] -> [3D]
  std::unique_ptr<LinearOp> attn_wo;                       // [D] -> [D], + residual
  std::unique_ptr<DeviceBuffer> mlp_norm_w, mlp_norm_b;
  std::unique_ptr<LinearOp> wi;      // [D] -> [2I]: input (activated) | gate
  std::unique_ptr<LinearOp> mlp_wo;  // [I] -> [D], + residual
};

ModernBertEncoder::~ModernBertEncoder() = default;

namespace {

// Loads tensors by the names of ModernBertTensorSpecs, checking each shape.
class Loader {
 public:
  Loader(const ModernBertConfig& c, const WeightStore& w, Backend* b)
      : w_(w), b_(b), specs_(ModernBertTensorSpecs(c)), c_(c) {}

  StatusOr<std::vector<float>> Get(const std::string& name) const {
    for (const TensorSpec& s : specs_) {
      if (s.name == name) return w_.LoadFloat(name, s.shape);
    }
    return InternalError("modernbert: no tensor spec for " + name);
  }
  StatusOr<std::unique_ptr<DeviceBuffer>> Upload(const std::vector<float>& host) const {
    FLOE_ASSIGN_OR_RETURN(auto buf, b_->Allocate(host.size() * sizeof(float)));
    FLOE_RETURN_IF_ERROR(
        b_->CopyToDevice(host.data(), host.size() * sizeof(float), buf->data()));
    return buf;
  }
  // A LayerNorm's weight and bias (zeros when the config has no norm bias).
  Status Norm(const std::string& name, std::unique_ptr<DeviceBuffer>* w,
              std::unique_ptr<DeviceBuffer>* b) const {
    FLOE_ASSIGN_OR_RETURN(std::vector<float> wh, Get(name + ".weight"));
    std::vector<float> bh(wh.size(), 0.f);
    if (c_.norm_bias) {
      FLOE_ASSIGN_OR_RETURN(bh, Get(name + ".bias"));
    }
    FLOE_ASSIGN_OR_RETURN(*w, Upload(wh));
    FLOE_ASSIGN_OR_RETURN(*b, Upload(bh));
    return OkStatus();
  }
  StatusOr<std::unique_ptr<LinearOp>> Linear(const std::string& name, bool bias, int64_t in,
                                             bool accumulate,
                                             LinearPrecision precision) const {
    FLOE_ASSIGN_OR_RETURN(std::vector<float> weight, Get(name + ".weight"));
    std::vector<float> bh;
    if (bias) {
      FLOE_ASSIGN_OR_RETURN(bh, Get(name + ".bias"));
    }
    LinearSpec spec;
    spec.weight = weight.data();
    spec.bias = bias ? bh.data() : nullptr;
    spec.in_features = in;
    spec.out_features = static_cast<int64_t>(weight.size()) / in;
    spec.accumulate = accumulate;
    spec.precision = precision;
    spec.name = name;
    return b_->CreateLinear(spec);
  }

 private:
  const WeightStore& w_;
  Backend* b_;
  std::vector<TensorSpec> specs_;
  const ModernBertConfig& c_;
};

Activation GateActivation(ModernBertActivation a) {
  switch (a) {
    case ModernBertActivation::kGeluTanh:
      return Activation::kGeluTanh;
    case ModernBertActivation::kSilu:
      return Activation::kSilu;
    case ModernBertActivation::kGeluErf:
      break;
  }
  return Activation::kGeluErf;
}

}  // namespace

StatusOr<std::unique_ptr<ModernBertEncoder>> ModernBertEncoder::Create(const ModelFolder& model,
                                                                       Backend* backend) {
  FLOE_ASSIGN_OR_RETURN(ModernBertConfig c, ParseModernBertConfig(
                                                model.config_json, model.path + "/config.json"));
  return Create(std::move(c), *model.weights, backend);
}

StatusOr<std::unique_ptr<ModernBertEncoder>> ModernBertEncoder::Create(
    ModernBertConfig c, const WeightStore& w, Backend* backend) {
  if (backend == nullptr) return InvalidArgumentError("modernbert: no backend");
  ResolveModernBertPrefix(w, &c);
  std::unique_ptr<ModernBertEncoder> enc(new ModernBertEncoder());
  enc->config_ = c;
  enc->backend_ = backend;
  const Loader l(enc->config_, w, backend);
  const int64_t D = c.hidden_size;
  const std::string& m = c.prefix;
  FLOE_ASSIGN_OR_RETURN(enc->word_, l.Get(m + "embeddings.tok_embeddings.weight"));
  FLOE_RETURN_IF_ERROR(l.Norm(m + "embeddings.norm", &enc->emb_w_, &enc->emb_b_));
  for (int i = 0; i < c.num_layers; ++i) {
    const std::string p = m + "layers." + std::to_string(i) + ".";
    auto layer = std::make_unique<Layer>();
    layer->global = c.global_layer[i];
    if (i > 0) FLOE_RETURN_IF_ERROR(l.Norm(p + "attn_norm", &layer->attn_norm_w,
                                           &layer->attn_norm_b));
    // Q and K make the scores softmax amplifies: kHigh, as BERT's.
    FLOE_ASSIGN_OR_RETURN(layer->wqkv, l.Linear(p + "attn.Wqkv", c.attention_bias, D, false,
                                                LinearPrecision::kHigh));
    FLOE_ASSIGN_OR_RETURN(layer->attn_wo, l.Linear(p + "attn.Wo", c.attention_bias, D, true,
                                                   LinearPrecision::kDefault));
    FLOE_RETURN_IF_ERROR(l.Norm(p + "mlp_norm", &layer->mlp_norm_w, &layer->mlp_norm_b));
    // transformers: input, gate = Wi(x).chunk(2); act(input) * gate. The
    // activated half comes first, as GatedActivation's [gate | up] reads it.
    FLOE_ASSIGN_OR_RETURN(layer->wi, l.Linear(p + "mlp.Wi", c.mlp_bias, D, false,
                                              LinearPrecision::kDefault));
    FLOE_ASSIGN_OR_RETURN(layer->mlp_wo, l.Linear(p + "mlp.Wo", c.mlp_bias,
                                                  c.intermediate_size, true,
                                                  LinearPrecision::kNoInt8));
    enc->layers_.push_back(std::move(layer));
  }
  FLOE_RETURN_IF_ERROR(l.Norm(m + "final_norm", &enc->final_w_, &enc->final_b_));
  return enc;
}

Status ModernBertEncoder::EnsureCapacity(int64_t tokens, int64_t seqs) {
  const int64_t rows = backend_->RoundUpRows(tokens);
  const int64_t D = config_.hidden_size, I = config_.intermediate_size;
  if (rows > capacity_rows_) {
    FLOE_RETURN_IF_ERROR(AllocateBuffers(backend_, {{&hidden_, rows * D * sizeof(float)},
                                                    {&normed_, rows * D * sizeof(float)},
                                                    {&qkv_, rows * 3 * D * sizeof(float)},
                                                    {&context_, rows * D * sizeof(float)},
                                                    {&gate_up_, rows * 2 * I * sizeof(float)},
                                                    {&inner_, rows * I * sizeof(float)}}));
    capacity_rows_ = rows;
  }
  if (seqs > capacity_seqs_) {
    FLOE_RETURN_IF_ERROR(AllocateBuffers(backend_, {{&cu_, (seqs + 1) * sizeof(int32_t)},
                                                    {&skip_, seqs * sizeof(int32_t)},
                                                    {&pooled_, seqs * D * sizeof(float)}}));
    capacity_seqs_ = seqs;
  }
  return OkStatus();
}

Status ModernBertEncoder::NormInto(const TensorView& src, DeviceBuffer& w,
                                   DeviceBuffer& b, const TensorView& dst) {
  const size_t bytes = src.bytes();
  if (dst.bytes() != bytes || dst.dtype != src.dtype) {
    return InternalError("modernbert: norm of " + DescribeTensor(src) + " into " +
                         DescribeTensor(dst));
  }
  if (backend_->device() == "cpu") {
    // The CPU backend's device memory is host memory (backend.h).
    FLOE_RETURN_IF_ERROR(backend_->CopyToDevice(src.data, bytes, dst.data));
  } else {
    host_rows_.resize((bytes + sizeof(float) - 1) / sizeof(float));
    FLOE_RETURN_IF_ERROR(backend_->CopyToHost(src.data, bytes, host_rows_.data()));
    FLOE_RETURN_IF_ERROR(backend_->CopyToDevice(host_rows_.data(), bytes, dst.data));
  }
  return backend_->LayerNorm(dst, w.f32(), b.f32(), config_.norm_eps);
}

Status ModernBertEncoder::Forward(SeqSpan seqs, PoolKind pool, float* out,
                                  std::vector<float>* hidden_host,
                                  std::span<const int32_t> pool_skip,
                                  std::span<const int32_t> type1_from) {
  const int64_t B = static_cast<int64_t>(seqs.size());
  if (B == 0) return OkStatus();
  const int64_t D = config_.hidden_size, I = config_.intermediate_size;
  int64_t T = 0;
  for (int64_t b = 0; b < B; ++b) {
    const int64_t len = static_cast<int64_t>(seqs[b]->size());
    const std::string which = "modernbert: sequence " + std::to_string(b);
    if (len < 1 || len > config_.max_positions) {
      return InvalidArgumentError(which + " has " + std::to_string(len) + " tokens (1 to " +
                                  std::to_string(config_.max_positions) + ")");
    }
    for (int32_t id : *seqs[b]) {
      if (id < 0 || id >= config_.vocab_size) {
        return InvalidArgumentError(which + ": id " + std::to_string(id) +
                                    " is outside the vocabulary (" +
                                    std::to_string(config_.vocab_size) + ")");
      }
    }
    if (static_cast<size_t>(b) < type1_from.size() && type1_from[b] >= 0 &&
        type1_from[b] < len) {
      return InvalidArgumentError(which + " asks for token type 1; ModernBERT has none");
    }
    T += len;
  }
  FLOE_RETURN_IF_ERROR(EnsureCapacity(T, B));
  PackedPass pass;
  FLOE_RETURN_IF_ERROR(PackPass(backend_, seqs, pool_skip, cu_.get(), skip_.get(), &pass));
  const PackedBatch& batch = pass.batch;

  // Embeddings: the rows of tok_embeddings, gathered on the host, then norm.
  std::vector<float> emb(backend_->RoundUpRows(T) * D, 0.f);
  for (int64_t b = 0, t = 0; b < B; ++b) {
    for (int32_t id : *seqs[b]) {
      const float* row = word_.data() + static_cast<int64_t>(id) * D;
      std::copy(row, row + D, emb.begin() + t * D);
      ++t;
    }
  }
  const TensorView h = backend_->Activations(*hidden_, T, D);
  const TensorView normed = backend_->Activations(*normed_, T, D);
  const TensorView qkv = backend_->Activations(*qkv_, T, 3 * D);
  const TensorView context = backend_->Activations(*context_, T, D);
  const TensorView gate_up = backend_->Activations(*gate_up_, T, 2 * I);
  const TensorView inner = backend_->Activations(*inner_, T, I);
  FLOE_RETURN_IF_ERROR(backend_->CopyToDevice(
      emb.data(),
      backend_->Activations(*hidden_, static_cast<int64_t>(emb.size()) / D, D)));
  const float eps = config_.norm_eps;
  FLOE_RETURN_IF_ERROR(backend_->LayerNorm(h, emb_w_->f32(), emb_b_->f32(), eps));

  RotarySpec global_rotary, local_rotary;  // the whole head, rotate_half
  global_rotary.base = config_.global_rope_theta;
  local_rotary.base = config_.local_rope_theta;
  AttentionSpec attn;
  attn.num_heads = config_.num_heads;
  attn.head_size = config_.head_size();
  for (const auto& layer : layers_) {
    TensorView x = h;  // layer 0: attn_norm is the identity
    if (layer->attn_norm_w != nullptr) {
      FLOE_RETURN_IF_ERROR(NormInto(h, *layer->attn_norm_w, *layer->attn_norm_b, normed));
      x = normed;
    }
    FLOE_RETURN_IF_ERROR(layer->wqkv->Forward(x, qkv));
    attn.rotary = layer->global ? &global_rotary : &local_rotary;
    attn.window_left = attn.window_right = layer->global ? -1 : config_.local_window_half;
    FLOE_RETURN_IF_ERROR(backend_->Attend(qkv, batch, attn, context));
    FLOE_RETURN_IF_ERROR(layer->attn_wo->Forward(context, h));  // h += ...
    FLOE_RETURN_IF_ERROR(NormInto(h, *layer->mlp_norm_w, *layer->mlp_norm_b, normed));
    FLOE_RETURN_IF_ERROR(layer->wi->Forward(normed, gate_up));
    FLOE_RETURN_IF_ERROR(
        backend_->GatedActivation(gate_up, GateActivation(config_.activation), inner));
    FLOE_RETURN_IF_ERROR(layer->mlp_wo->Forward(inner, h));  // h += ...
  }
  FLOE_RETURN_IF_ERROR(backend_->LayerNorm(h, final_w_->f32(), final_b_->f32(), eps));
  const TensorView pooled = backend_->View(*pooled_, DType::kF32, {B, D});
  FLOE_RETURN_IF_ERROR(backend_->Pool(h, batch, pool, pooled));
  FLOE_RETURN_IF_ERROR(backend_->CopyToHost(pooled, out));
  if (hidden_host != nullptr) {
    hidden_host->resize(T * D);
    FLOE_RETURN_IF_ERROR(backend_->CopyToHost(h, hidden_host->data()));
  }
  return OkStatus();
}

}  // namespace floe
