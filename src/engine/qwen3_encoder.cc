#include "engine/qwen3_encoder.h"

#include <algorithm>
#include <string>

#include "model/config.h"

namespace floe {

struct Qwen3Encoder::Layer {
  std::unique_ptr<DeviceBuffer> input_norm;  // [D]
  std::unique_ptr<LinearOp> qkv;             // [D] -> [(N + 2 Nkv) H]: q | k | v
  std::unique_ptr<DeviceBuffer> q_norm, k_norm;  // [H]
  std::unique_ptr<LinearOp> o_proj;          // [N H] -> [D], + residual
  std::unique_ptr<DeviceBuffer> post_norm;   // [D]
  std::unique_ptr<LinearOp> gate_up;         // [D] -> [2I]: gate | up
  std::unique_ptr<LinearOp> down;            // [I] -> [D], + residual
  int64_t window = -1;                       // sliding window, -1: none
};

Qwen3Encoder::~Qwen3Encoder() = default;

namespace {

// Rows per MLP chunk: bounds the [rows, 3I] inner activations of long inputs.
constexpr int64_t kMlpRows = 2048;

// Loads tensors by the names of Qwen3TensorSpecs, checking each shape.
class Loader {
 public:
  Loader(const Qwen3Config& c, const WeightStore& w, const std::string& prefix)
      : w_(w), prefix_(prefix), specs_(Qwen3TensorSpecs(c, prefix)) {}

  // `name` without the prefix.
  StatusOr<std::vector<float>> Get(const std::string& name) const {
    for (const TensorSpec& s : specs_) {
      if (s.name == prefix_ + name) return w_.LoadFloat(s.name, s.shape);
    }
    return InternalError("qwen3: no tensor spec for " + name);
  }
  StatusOr<std::unique_ptr<DeviceBuffer>> ToDevice(Backend* backend,
                                                   const std::string& name) const {
    FLOE_ASSIGN_OR_RETURN(std::vector<float> host, Get(name));
    FLOE_ASSIGN_OR_RETURN(auto buf, backend->Allocate(host.size() * sizeof(float)));
    FLOE_RETURN_IF_ERROR(
        backend->CopyToDevice(host.data(), host.size() * sizeof(float), buf->data()));
    return buf;
  }
  // A Linear (no bias) from the row-wise concatenation of `parts`' weights.
  StatusOr<std::unique_ptr<LinearOp>> Linear(Backend* backend,
                                             const std::vector<std::string>& parts, int64_t in,
                                             bool accumulate, LinearPrecision precision) const {
    std::vector<float> weight;
    for (const std::string& p : parts) {
      FLOE_ASSIGN_OR_RETURN(std::vector<float> wp, Get(p + ".weight"));
      weight.insert(weight.end(), wp.begin(), wp.end());
    }
    LinearSpec spec;
    spec.weight = weight.data();
    spec.in_features = in;
    spec.out_features = static_cast<int64_t>(weight.size()) / in;
    spec.accumulate = accumulate;
    spec.precision = precision;
    spec.name = prefix_ + parts[0];
    for (size_t i = 1; i < parts.size(); ++i) spec.name += "+" + parts[i];
    return backend->CreateLinear(spec);
  }

 private:
  const WeightStore& w_;
  std::string prefix_;
  std::vector<TensorSpec> specs_;
};

}  // namespace

StatusOr<std::unique_ptr<Qwen3Encoder>> Qwen3Encoder::Create(const Qwen3Config& c,
                                                             const WeightStore& w,
                                                             const std::string& prefix,
                                                             Backend* backend) {
  if (backend == nullptr) return InvalidArgumentError("qwen3: no backend");
  if (backend->device().rfind("cpu", 0) != 0) {
    // The residual stream is copied before each in-place RMSNorm (a host
    // memcpy here), and the GPU backends lack RmsNorm and Attend.
    return UnimplementedError("qwen3 on " + backend->device() +
                              ": the backend lacks RmsNorm and Attend (CPU only for now)");
  }
  std::unique_ptr<Qwen3Encoder> enc(new Qwen3Encoder());
  enc->config_ = c;
  enc->backend_ = backend;
  const Loader l(c, w, prefix);
  const int64_t D = c.hidden_size;
  FLOE_ASSIGN_OR_RETURN(enc->embed_, l.Get("embed_tokens.weight"));
  FLOE_ASSIGN_OR_RETURN(enc->final_norm_, l.ToDevice(backend, "norm.weight"));
  for (int i = 0; i < c.num_layers; ++i) {
    const std::string p = "layers." + std::to_string(i) + ".";
    auto layer = std::make_unique<Layer>();
    layer->window = c.window.empty() ? -1 : c.window[i];
    FLOE_ASSIGN_OR_RETURN(layer->input_norm, l.ToDevice(backend, p + "input_layernorm.weight"));
    // Q and K make the scores softmax amplifies: kHigh, as BERT's.
    FLOE_ASSIGN_OR_RETURN(
        layer->qkv, l.Linear(backend,
                             {p + "self_attn.q_proj", p + "self_attn.k_proj",
                              p + "self_attn.v_proj"},
                             D, false, LinearPrecision::kHigh));
    FLOE_ASSIGN_OR_RETURN(layer->q_norm, l.ToDevice(backend, p + "self_attn.q_norm.weight"));
    FLOE_ASSIGN_OR_RETURN(layer->k_norm, l.ToDevice(backend, p + "self_attn.k_norm.weight"));
    FLOE_ASSIGN_OR_RETURN(layer->o_proj,
                          l.Linear(backend, {p + "self_attn.o_proj"},
                                   int64_t{c.num_heads} * c.head_dim, true,
                                   LinearPrecision::kDefault));
    FLOE_ASSIGN_OR_RETURN(layer->post_norm,
                          l.ToDevice(backend, p + "post_attention_layernorm.weight"));
    FLOE_ASSIGN_OR_RETURN(layer->gate_up,
                          l.Linear(backend, {p + "mlp.gate_proj", p + "mlp.up_proj"}, D, false,
                                   LinearPrecision::kDefault));
    FLOE_ASSIGN_OR_RETURN(layer->down, l.Linear(backend, {p + "mlp.down_proj"},
                                                c.intermediate_size, true,
                                                LinearPrecision::kNoInt8));
    enc->layers_.push_back(std::move(layer));
  }
  // A chunk the backend does not pad, so that chunks never write past their rows.
  enc->mlp_rows_ = kMlpRows;
  while (backend->RoundUpRows(enc->mlp_rows_) != enc->mlp_rows_) enc->mlp_rows_ *= 2;
  return enc;
}

StatusOr<std::unique_ptr<Qwen3Encoder>> Qwen3Encoder::Create(const ModelFolder& model,
                                                             Backend* backend) {
  FLOE_ASSIGN_OR_RETURN(Qwen3Config c,
                        ParseQwen3Config(model.config_json, model.path + "/config.json"));
  return Create(c, *model.weights, Qwen3WeightPrefix(*model.weights), backend);
}

Status Qwen3Encoder::EnsureCapacity(int64_t tokens, int64_t seqs) {
  const int64_t rows = backend_->RoundUpRows(tokens);
  const int64_t D = config_.hidden_size, I = config_.intermediate_size;
  const int64_t Q = int64_t{config_.num_heads} * config_.head_dim;
  const int64_t KV = int64_t{config_.num_kv_heads} * config_.head_dim;
  if (rows > capacity_rows_) {
    const int64_t mlp = std::min(rows, mlp_rows_);
    FLOE_RETURN_IF_ERROR(AllocateBuffers(backend_, {{&hidden_, rows * D * sizeof(float)},
                                                    {&normed_, rows * D * sizeof(float)},
                                                    {&qkv_, rows * (Q + 2 * KV) * sizeof(float)},
                                                    {&context_, rows * Q * sizeof(float)},
                                                    {&gate_up_, mlp * 2 * I * sizeof(float)},
                                                    {&inner_, mlp * I * sizeof(float)}}));
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

Status Qwen3Encoder::CheckSeqs(SeqSpan seqs, std::span<const int32_t> type1_from) const {
  for (size_t b = 0; b < seqs.size(); ++b) {
    const std::string which = "qwen3: sequence " + std::to_string(b);
    const int64_t len = static_cast<int64_t>(seqs[b]->size());
    if (len < 1 || len > config_.max_positions) {
      return InvalidArgumentError(which + " has " + std::to_string(len) + " tokens (1 to " +
                                  std::to_string(config_.max_positions) + ")");
    }
    for (int32_t id : *seqs[b]) {
      if (id < 0 || id >= config_.vocab_size) {
        return InvalidArgumentError(which + ": id " + std::to_string(id) +
                                    " is not below the vocabulary size " +
                                    std::to_string(config_.vocab_size));
      }
    }
    if (b < type1_from.size() && type1_from[b] >= 0 && type1_from[b] < len) {
      return InvalidArgumentError(which + " asks for token type 1; the model has one type");
    }
  }
  return OkStatus();
}

Status Qwen3Encoder::Mlp(const Layer& layer, const TensorView& h) {
  const int64_t T = h.rows(), D = config_.hidden_size, I = config_.intermediate_size;
  RmsNormSpec norm;
  norm.hidden = D;
  norm.weight = layer.post_norm->f32();
  norm.eps = config_.rms_norm_eps;
  const TensorView normed = backend_->Activations(*normed_, T, D);
  for (int64_t r0 = 0; r0 < T; r0 += mlp_rows_) {
    const int64_t m = std::min(mlp_rows_, T - r0);
    // The last chunk's padding rows lie past T, inside the buffers.
    const TensorView x = normed.Rows(r0, m), y = h.Rows(r0, m);
    const TensorView gate_up = backend_->Activations(*gate_up_, m, 2 * I);
    const TensorView inner = backend_->Activations(*inner_, m, I);
    FLOE_RETURN_IF_ERROR(backend_->CopyToDevice(y.data, y.bytes(), x.data));
    FLOE_RETURN_IF_ERROR(backend_->RmsNorm(x, norm));
    FLOE_RETURN_IF_ERROR(layer.gate_up->Forward(x, gate_up));
    FLOE_RETURN_IF_ERROR(backend_->GatedActivation(gate_up, Activation::kSilu, inner));
    FLOE_RETURN_IF_ERROR(layer.down->Forward(inner, y));  // h += ...
  }
  return OkStatus();
}

Status Qwen3Encoder::Forward(SeqSpan seqs, PoolKind pool, float* out,
                             std::vector<float>* hidden_host, std::span<const int32_t> pool_skip,
                             std::span<const int32_t> type1_from) {
  const int64_t B = static_cast<int64_t>(seqs.size());
  if (B == 0) return OkStatus();
  FLOE_RETURN_IF_ERROR(CheckSeqs(seqs, type1_from));
  const int64_t D = config_.hidden_size;
  int64_t T = 0;
  for (int64_t b = 0; b < B; ++b) T += static_cast<int64_t>(seqs[b]->size());
  FLOE_RETURN_IF_ERROR(EnsureCapacity(T, B));
  PackedPass pass;
  FLOE_RETURN_IF_ERROR(PackPass(backend_, seqs, pool_skip, cu_.get(), skip_.get(), &pass));
  const PackedBatch& batch = pass.batch;

  // embed_tokens on the host; padding rows zero.
  const int64_t rows = backend_->RoundUpRows(T);
  {
    std::vector<float> emb(rows * D, 0.f);
    int64_t t = 0;
    for (int64_t b = 0; b < B; ++b) {
      for (int32_t id : *seqs[b]) {
        std::copy_n(embed_.data() + static_cast<int64_t>(id) * D, D, emb.data() + t * D);
        ++t;
      }
    }
    FLOE_RETURN_IF_ERROR(
        backend_->CopyToDevice(emb.data(), backend_->Activations(*hidden_, rows, D)));
  }
  const int64_t Q = int64_t{config_.num_heads} * config_.head_dim;
  const int64_t KV = int64_t{config_.num_kv_heads} * config_.head_dim;
  const TensorView h = backend_->Activations(*hidden_, T, D);
  const TensorView x = backend_->Activations(*normed_, T, D);
  const TensorView qkv = backend_->Activations(*qkv_, T, Q + 2 * KV);
  const TensorView context = backend_->Activations(*context_, T, Q);

  RotarySpec rotary;
  rotary.base = config_.rope_theta;  // rotary_dims 0: the whole head
  rotary.layout = RotaryLayout::kHalfSplit;
  AttentionSpec attn;
  attn.num_heads = config_.num_heads;
  attn.num_kv_heads = config_.num_kv_heads;
  attn.head_size = config_.head_dim;
  attn.causal = true;
  attn.qk_norm_eps = config_.rms_norm_eps;
  attn.rotary = &rotary;
  RmsNormSpec norm;
  norm.hidden = D;
  norm.eps = config_.rms_norm_eps;
  for (const auto& layer : layers_) {
    // Padding rows too (they go through the products).
    FLOE_RETURN_IF_ERROR(
        backend_->CopyToDevice(h.data, rows * D * DTypeSize(h.dtype), x.data));
    norm.weight = layer->input_norm->f32();
    FLOE_RETURN_IF_ERROR(backend_->RmsNorm(x, norm));
    FLOE_RETURN_IF_ERROR(layer->qkv->Forward(x, qkv));
    attn.window_left = layer->window > 0 ? layer->window - 1 : -1;
    attn.q_norm = layer->q_norm->f32();
    attn.k_norm = layer->k_norm->f32();
    FLOE_RETURN_IF_ERROR(backend_->Attend(qkv, batch, attn, context));
    FLOE_RETURN_IF_ERROR(layer->o_proj->Forward(context, h));  // h += ...
    FLOE_RETURN_IF_ERROR(Mlp(*layer, h));
  }
  norm.weight = final_norm_->f32();
  FLOE_RETURN_IF_ERROR(backend_->RmsNorm(h, norm));
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
