#include "engine/gated_rotary_encoder.h"

#include <algorithm>
#include <cmath>
#include <string>

namespace floe {

struct GatedRotaryEncoder::Layer {
  std::unique_ptr<LinearOp> qkv;  // [D] -> [3D]
  std::unique_ptr<LinearOp> out;  // [D] -> [D], + residual
  std::unique_ptr<DeviceBuffer> ln1_w, ln1_b;
  std::unique_ptr<LinearOp> gate_up;  // [D] -> [2I]: gate | up
  std::unique_ptr<LinearOp> down;     // [I] -> [D], + residual
  std::unique_ptr<DeviceBuffer> ln2_w, ln2_b;
};

GatedRotaryEncoder::~GatedRotaryEncoder() = default;

double GatedRotaryBase(const GatedRotaryConfig& c, int64_t length) {
  const double base = c.rotary.base;
  if (!(c.dynamic_ntk_factor > 0) || length <= c.ntk_trained_positions) return base;
  const double f = c.dynamic_ntk_factor;
  const double dims = static_cast<double>(RotaryDims(c.rotary, c.head_size()));
  return base * std::pow(f * static_cast<double>(length) / c.ntk_trained_positions - (f - 1.0),
                         dims / (dims - 2.0));
}

namespace {

StatusOr<std::unique_ptr<DeviceBuffer>> Upload(Backend* backend,
                                               const std::vector<float>& host) {
  FLOE_ASSIGN_OR_RETURN(auto buf, backend->Allocate(host.size() * sizeof(float)));
  FLOE_RETURN_IF_ERROR(
      backend->CopyToDevice(host.data(), host.size() * sizeof(float), buf->data()));
  return buf;
}

StatusOr<std::unique_ptr<LinearOp>> MakeLinear(Backend* backend, const GatedRotaryTensors& get,
                                               const std::string& name, bool bias, int64_t in,
                                               bool accumulate, LinearPrecision precision) {
  FLOE_ASSIGN_OR_RETURN(std::vector<float> weight, get(name + ".weight"));
  std::vector<float> b;
  if (bias) {
    FLOE_ASSIGN_OR_RETURN(b, get(name + ".bias"));
  }
  LinearSpec spec;
  spec.weight = weight.data();
  spec.bias = bias ? b.data() : nullptr;
  spec.in_features = in;
  spec.out_features = static_cast<int64_t>(weight.size()) / in;
  spec.accumulate = accumulate;
  spec.precision = precision;
  spec.name = name;
  return backend->CreateLinear(spec);
}

}  // namespace

StatusOr<std::unique_ptr<GatedRotaryEncoder>> GatedRotaryEncoder::Create(
    const GatedRotaryConfig& c, const GatedRotaryTensors& get, Backend* backend) {
  if (backend == nullptr) return InvalidArgumentError(c.name + ": no backend");
  std::unique_ptr<GatedRotaryEncoder> enc(new GatedRotaryEncoder());
  enc->config_ = c;
  enc->backend_ = backend;
  const int64_t D = c.hidden_size;
  FLOE_ASSIGN_OR_RETURN(enc->word_, get("word"));
  FLOE_ASSIGN_OR_RETURN(enc->token_type0_, get("type0"));
  if (static_cast<int64_t>(enc->word_.size()) != int64_t{c.vocab_size} * D ||
      static_cast<int64_t>(enc->token_type0_.size()) != D) {
    return InternalError(c.name + ": embedding tables of the wrong size");
  }
  auto to_device = [&](const std::string& name) -> StatusOr<std::unique_ptr<DeviceBuffer>> {
    FLOE_ASSIGN_OR_RETURN(std::vector<float> host, get(name));
    return Upload(backend, host);
  };
  FLOE_ASSIGN_OR_RETURN(enc->emb_gamma_, to_device("emb_ln.weight"));
  FLOE_ASSIGN_OR_RETURN(enc->emb_beta_, to_device("emb_ln.bias"));
  for (int i = 0; i < c.num_layers; ++i) {
    const std::string p = std::to_string(i) + ".";
    auto layer = std::make_unique<Layer>();
    // Q and K make the scores softmax amplifies: kHigh, as BERT's.
    FLOE_ASSIGN_OR_RETURN(layer->qkv, MakeLinear(backend, get, p + "qkv", c.qkv_bias, D, false,
                                                 LinearPrecision::kHigh));
    FLOE_ASSIGN_OR_RETURN(layer->out, MakeLinear(backend, get, p + "out", c.out_bias, D, true,
                                                 LinearPrecision::kDefault));
    FLOE_ASSIGN_OR_RETURN(layer->ln1_w, to_device(p + "ln1.weight"));
    FLOE_ASSIGN_OR_RETURN(layer->ln1_b, to_device(p + "ln1.bias"));
    FLOE_ASSIGN_OR_RETURN(layer->gate_up,
                          MakeLinear(backend, get, p + "gate_up", c.gate_up_bias, D, false,
                                     LinearPrecision::kDefault));
    FLOE_ASSIGN_OR_RETURN(layer->down, MakeLinear(backend, get, p + "down", c.down_bias,
                                                  c.intermediate_size, true,
                                                  LinearPrecision::kNoInt8));
    FLOE_ASSIGN_OR_RETURN(layer->ln2_w, to_device(p + "ln2.weight"));
    FLOE_ASSIGN_OR_RETURN(layer->ln2_b, to_device(p + "ln2.bias"));
    enc->layers_.push_back(std::move(layer));
  }
  return enc;
}

Status GatedRotaryEncoder::EnsureCapacity(int64_t tokens, int64_t seqs) {
  const int64_t rows = backend_->RoundUpRows(tokens);
  const int64_t D = config_.hidden_size, I = config_.intermediate_size;
  if (rows > capacity_rows_) {
    FLOE_RETURN_IF_ERROR(AllocateBuffers(backend_, {{&hidden_, rows * D * sizeof(float)},
                                                    {&qkv_, rows * 3 * D * sizeof(float)},
                                                    {&context_, rows * D * sizeof(float)},
                                                    {&gate_up_, rows * 2 * I * sizeof(float)},
                                                    {&inner_, rows * I * sizeof(float)}}));
    capacity_rows_ = rows;
  }
  if (seqs > capacity_seqs_) {
    FLOE_RETURN_IF_ERROR(AllocateBuffers(backend_, {{&cu_, (seqs + 1) * sizeof(int32_t)},
                                                    {&cu1_, 2 * seqs * sizeof(int32_t)},
                                                    {&skip_, seqs * sizeof(int32_t)},
                                                    {&pooled_, seqs * D * sizeof(float)}}));
    capacity_seqs_ = seqs;
  }
  return OkStatus();
}

Status GatedRotaryEncoder::Check(SeqSpan seqs, std::span<const int32_t> type1_from) const {
  const std::string& n = config_.name;
  for (size_t b = 0; b < seqs.size(); ++b) {
    const int64_t len = static_cast<int64_t>(seqs[b]->size());
    if (len < 1 || len > config_.max_positions) {
      return InvalidArgumentError(n + ": sequence " + std::to_string(b) + " has " +
                                  std::to_string(len) + " tokens (1 to " +
                                  std::to_string(config_.max_positions) + ")");
    }
    for (int32_t id : *seqs[b]) {
      if (id < 0 || id >= config_.vocab_size) {
        return InvalidArgumentError(
            n + ": sequence " + std::to_string(b) + ": id " + std::to_string(id) +
            " is not below the vocabulary size " + std::to_string(config_.vocab_size));
      }
    }
    if (b < type1_from.size() && type1_from[b] >= 0 && type1_from[b] < len) {
      return InvalidArgumentError(n + ": sequence " + std::to_string(b) +
                                  " asks for token type 1; the model embeds type 0 only");
    }
  }
  return OkStatus();
}

Status GatedRotaryEncoder::AttendAll(SeqSpan seqs, const PackedPass& pass,
                                     const AttentionSpec& attn,
                                     const std::vector<double>& bases) {
  const bool one_base =
      std::all_of(bases.begin(), bases.end(), [&](double b) { return b == bases[0]; });
  RotarySpec rotary = config_.rotary;
  AttentionSpec spec = attn;
  spec.rotary = &rotary;
  const int64_t T = pass.batch.total_tokens, D = config_.hidden_size;
  const TensorView qkv = backend_->Activations(*qkv_, T, 3 * D);
  const TensorView context = backend_->Activations(*context_, T, D);
  if (one_base) {
    rotary.base = bases[0];
    return backend_->Attend(qkv, pass.batch, spec, context);
  }
  // One sequence at a time, each with its own base; cu1_ holds {0, len} pairs.
  const int64_t B = static_cast<int64_t>(seqs.size());
  std::vector<int32_t> pairs(2 * B);
  for (int64_t b = 0; b < B; ++b) {
    pairs[2 * b] = 0;
    pairs[2 * b + 1] = static_cast<int32_t>(seqs[b]->size());
  }
  FLOE_RETURN_IF_ERROR(
      backend_->CopyToDevice(pairs.data(), pairs.size() * sizeof(int32_t), cu1_->data()));
  for (int64_t b = 0; b < B; ++b) {
    PackedBatch one;
    one.cu_seqlens_host = pairs.data() + 2 * b;
    one.cu_seqlens_device = cu1_->i32() + 2 * b;
    one.num_seqs = 1;
    one.total_tokens = one.max_seqlen = pairs[2 * b + 1];
    rotary.base = bases[b];
    const int64_t start = pass.cu[b], len = pairs[2 * b + 1];
    FLOE_RETURN_IF_ERROR(
        backend_->Attend(qkv.Rows(start, len), one, spec, context.Rows(start, len)));
  }
  return OkStatus();
}

Status GatedRotaryEncoder::Forward(SeqSpan seqs, PoolKind pool, float* out,
                                   std::vector<float>* hidden_host,
                                   std::span<const int32_t> pool_skip,
                                   std::span<const int32_t> type1_from) {
  const int64_t B = static_cast<int64_t>(seqs.size());
  if (B == 0) return OkStatus();
  const int64_t D = config_.hidden_size, I = config_.intermediate_size;
  FLOE_RETURN_IF_ERROR(Check(seqs, type1_from));
  int64_t T = 0;
  std::vector<double> bases(B);
  for (int64_t b = 0; b < B; ++b) {
    T += static_cast<int64_t>(seqs[b]->size());
    bases[b] = GatedRotaryBase(config_, static_cast<int64_t>(seqs[b]->size()));
  }
  FLOE_RETURN_IF_ERROR(EnsureCapacity(T, B));
  PackedPass pass;
  FLOE_RETURN_IF_ERROR(PackPass(backend_, seqs, pool_skip, cu_.get(), skip_.get(), &pass));

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
  const TensorView h = backend_->Activations(*hidden_, T, D);
  const TensorView qkv = backend_->Activations(*qkv_, T, 3 * D);
  const TensorView context = backend_->Activations(*context_, T, D);
  const TensorView gate_up = backend_->Activations(*gate_up_, T, 2 * I);
  const TensorView inner = backend_->Activations(*inner_, T, I);
  FLOE_RETURN_IF_ERROR(
      backend_->CopyToDevice(emb.data(), backend_->Activations(*hidden_, rows, D)));
  const float eps = config_.layer_norm_eps;
  FLOE_RETURN_IF_ERROR(backend_->LayerNorm(h, emb_gamma_->f32(), emb_beta_->f32(), eps));

  AttentionSpec attn;
  attn.num_heads = config_.num_heads;
  attn.head_size = config_.head_size();
  for (const auto& layer : layers_) {
    FLOE_RETURN_IF_ERROR(layer->qkv->Forward(h, qkv));
    FLOE_RETURN_IF_ERROR(AttendAll(seqs, pass, attn, bases));
    FLOE_RETURN_IF_ERROR(layer->out->Forward(context, h));  // h += ...
    FLOE_RETURN_IF_ERROR(
        backend_->LayerNorm(h, layer->ln1_w->f32(), layer->ln1_b->f32(), eps));
    FLOE_RETURN_IF_ERROR(layer->gate_up->Forward(h, gate_up));
    FLOE_RETURN_IF_ERROR(
        backend_->GatedActivation(gate_up, config_.gate_activation, inner));
    FLOE_RETURN_IF_ERROR(layer->down->Forward(inner, h));  // h += ...
    FLOE_RETURN_IF_ERROR(
        backend_->LayerNorm(h, layer->ln2_w->f32(), layer->ln2_b->f32(), eps));
  }
  const TensorView pooled = backend_->View(*pooled_, DType::kF32, {B, D});
  FLOE_RETURN_IF_ERROR(backend_->Pool(h, pass.batch, pool, pooled));
  FLOE_RETURN_IF_ERROR(backend_->CopyToHost(pooled, out));
  if (hidden_host != nullptr) {
    hidden_host->resize(T * D);
    FLOE_RETURN_IF_ERROR(backend_->CopyToHost(h, hidden_host->data()));
  }
  return OkStatus();
}

}  // namespace floe
