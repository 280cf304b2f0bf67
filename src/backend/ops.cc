// Input checks of the ops in backend/ops.h, and the Backend defaults for a
// device that does not implement one.
#include "backend/ops.h"

#include <string>
#include <string_view>

#include "backend/backend.h"

namespace floe {
namespace {

Status Bad(const char* op, const std::string& what) {
  return InvalidArgumentError(std::string(op) + ": " + what);
}

std::string N(int64_t v) { return std::to_string(v); }

bool KnownActivation(Activation a) {
  switch (a) {
    case Activation::kGeluErf:
    case Activation::kGeluTanh:
    case Activation::kRelu:
    case Activation::kSilu:
      return true;
    case Activation::kNone:
      break;
  }
  return false;
}

// The packed batch's host view: offsets from 0 to T, non-decreasing.
Status CheckBatch(const char* op, const PackedBatch& b) {
  if (b.cu_seqlens_host == nullptr || b.num_seqs < 1) return Bad(op, "empty batch");
  if (b.cu_seqlens_host[0] != 0 || b.cu_seqlens_host[b.num_seqs] != b.total_tokens) {
    return Bad(op, "cu_seqlens must run from 0 to " + N(b.total_tokens));
  }
  for (int64_t i = 0; i < b.num_seqs; ++i) {
    const int64_t len = b.cu_seqlens_host[i + 1] - b.cu_seqlens_host[i];
    if (len < 1 || len > b.max_seqlen) {
      return Bad(op, "sequence " + N(i) + " has " + N(len) + " tokens (1 to max_seqlen " +
                         N(b.max_seqlen) + ")");
    }
  }
  return OkStatus();
}

Status CheckRotarySpec(const char* op, const RotarySpec& s, int64_t head_size) {
  const int64_t rot = RotaryDims(s, head_size);
  if (rot < 2 || rot % 2 != 0 || rot > head_size) {
    return Bad(op, "rotary_dims " + N(rot) + " must be even, 2 to the head size " +
                       N(head_size));
  }
  if (!(s.base > 1.0)) return Bad(op, "rotary base must be > 1");
  if (s.position_offset < 0) return Bad(op, "negative position_offset");
  if (!(s.position_scale > 0.0)) return Bad(op, "position_scale must be > 0");
  return OkStatus();
}

// A view of the backend's activations, of `dims`.
Status CheckActs(const Backend& b, std::string_view op, const char* arg,
                 const TensorView& v, std::initializer_list<int64_t> dims) {
  return CheckTensor(v, op, arg, b.activation_dtype(), b.tensor_device(), dims);
}

bool Overlap(const TensorView& a, const TensorView& b) {
  const char* pa = static_cast<const char*>(a.data);
  const char* pb = static_cast<const char*>(b.data);
  return a.numel() > 0 && b.numel() > 0 && pa < pb + b.bytes() && pb < pa + a.bytes();
}

}  // namespace

std::string DescribeTensor(const TensorView& v) {
  std::string s = std::string(DTypeLongName(v.dtype)) + " [";
  for (int i = 0; i < v.rank; ++i) s += (i ? ", " : "") + N(v.shape[i]);
  return s + "] on " + DeviceName(v.device);
}

Status CheckTensor(const TensorView& v, std::string_view op, const char* arg, DType dtype,
                   Device device, std::initializer_list<int64_t> dims) {
  bool shape_ok = v.rank == static_cast<int>(dims.size());
  int i = 0;
  for (int64_t d : dims) {
    if (!shape_ok) break;
    shape_ok = v.shape[i] >= 0 && (d < 0 || v.shape[i] == d);
    ++i;
  }
  if (v.dtype == dtype && v.device == device && shape_ok &&
      (v.data != nullptr || v.numel() == 0)) {
    return OkStatus();
  }
  std::string want = "[";
  i = 0;
  for (int64_t d : dims) want += (i++ ? ", " : "") + (d < 0 ? std::string("*") : N(d));
  want += "]";
  const std::string what = std::string(op) + ": " + arg + " is " + DescribeTensor(v) +
                           ", expected " + DTypeLongName(dtype) + " " + want + " on " +
                           DeviceName(device);
  // Memory elsewhere first: it cannot be read here at all.
  if (v.device != device) return InvalidArgumentError(what);
  if (v.dtype != dtype) return FailedPreconditionError(what);
  if (v.data == nullptr && v.numel() != 0) {
    return InvalidArgumentError(std::string(op) + ": " + arg + " is null");
  }
  return InvalidArgumentError(what);
}

Status CheckEmbedLayerNorm(const Backend& b, const PackedBatch& batch,
                           const TensorView& out) {
  return CheckActs(b, "EmbedLayerNorm", "out", out, {batch.total_tokens, -1});
}

Status CheckLayerNorm(const Backend& b, const TensorView& x, const float* gamma,
                      const float* beta) {
  FLOE_RETURN_IF_ERROR(CheckActs(b, "LayerNorm", "x", x, {-1, -1}));
  if (gamma == nullptr || beta == nullptr) return Bad("LayerNorm", "null gamma or beta");
  return OkStatus();
}

Status CheckAttention(const Backend& b, const TensorView& qkv, const PackedBatch& batch,
                      int64_t num_heads, int64_t head_size, const TensorView& out) {
  const int64_t T = batch.total_tokens, D = num_heads * head_size;
  FLOE_RETURN_IF_ERROR(CheckActs(b, "Attention", "qkv", qkv, {T, 3 * D}));
  FLOE_RETURN_IF_ERROR(CheckActs(b, "Attention", "out", out, {T, D}));
  if (Overlap(qkv, out)) return Bad("Attention", "qkv and out overlap");
  return OkStatus();
}

Status CheckPool(const Backend& b, const TensorView& hidden, const PackedBatch& batch,
                 const TensorView& out) {
  FLOE_RETURN_IF_ERROR(CheckActs(b, "Pool", "hidden", hidden, {batch.total_tokens, -1}));
  return CheckTensor(out, "Pool", "out", DType::kF32, b.tensor_device(),
                     {batch.num_seqs, hidden.cols()});
}

Status CheckLinear(const Backend& b, const std::string& name, const TensorView& x,
                   const TensorView& y, int64_t in_features, int64_t out_features) {
  const int64_t m = x.rows();
  const DType act = b.activation_dtype();
  const Device dev = b.tensor_device();
  const size_t es = DTypeSize(act);
  const size_t padded = static_cast<size_t>(b.RoundUpRows(m));
  // The common case without building a message (one call per product).
  if (x.dtype == act && y.dtype == act && x.device == dev && y.device == dev &&
      x.rank == 2 && y.rank == 2 && m >= 1 && x.shape[1] == in_features &&
      y.shape[0] == m && y.shape[1] == out_features && x.data != nullptr &&
      y.data != nullptr && (x.capacity == 0 || x.capacity >= padded * in_features * es) &&
      (y.capacity == 0 || y.capacity >= padded * out_features * es) && !Overlap(x, y)) {
    return OkStatus();
  }
  const std::string op = "linear " + name;
  FLOE_RETURN_IF_ERROR(CheckActs(b, op, "x", x, {-1, in_features}));
  FLOE_RETURN_IF_ERROR(CheckActs(b, op, "y", y, {m, out_features}));
  if (m < 1) return InvalidArgumentError(op + ": rows " + N(m) + " out of range");
  if (x.capacity != 0 && x.capacity < padded * in_features * es) {
    return InvalidArgumentError(op + ": x has room for fewer than " + N(padded) +
                                " rows");
  }
  if (y.capacity != 0 && y.capacity < padded * out_features * es) {
    return InvalidArgumentError(op + ": y has room for fewer than " + N(padded) +
                                " rows");
  }
  if (Overlap(x, y)) return InvalidArgumentError(op + ": x and y overlap");
  return OkStatus();
}

Status CheckRmsNorm(const Backend& b, const TensorView& x, const RmsNormSpec& spec) {
  if (spec.hidden < 1) {
    return Bad("rms_norm", "bad shape [" + N(x.rows()) + ", " + N(spec.hidden) + "]");
  }
  FLOE_RETURN_IF_ERROR(CheckActs(b, "rms_norm", "x", x, {-1, spec.hidden}));
  if (x.data == nullptr) return Bad("rms_norm", "null input");
  if (!(spec.eps > 0.f)) return Bad("rms_norm", "eps must be > 0");
  return OkStatus();
}

Status CheckActivate(const Backend& b, const TensorView& x, Activation act) {
  // Any shape: the element type and the device only.
  if (x.dtype != b.activation_dtype() || x.device != b.tensor_device()) {
    return CheckTensor(x, "activate", "x", b.activation_dtype(), b.tensor_device(), {-1});
  }
  if (x.data == nullptr && x.numel() > 0) return Bad("activate", "null input");
  if (!KnownActivation(act)) return Bad("activate", "no activation given");
  return OkStatus();
}

Status CheckGatedActivation(const Backend& b, const TensorView& x, Activation act,
                            const TensorView& out) {
  const char* op = "gated_activation";
  if (x.data == nullptr || out.data == nullptr) return Bad(op, "null input or output");
  const int64_t rows = x.rows(), inner = x.cols() / 2;
  if (x.rank != 2 || inner < 1 || x.cols() % 2 != 0)
    return Bad(op, "x is " + DescribeTensor(x) + ", not [rows, 2 x inner]");
  FLOE_RETURN_IF_ERROR(CheckActs(b, op, "x", x, {rows, 2 * inner}));
  FLOE_RETURN_IF_ERROR(CheckActs(b, op, "out", out, {rows, inner}));
  if (!KnownActivation(act)) return Bad(op, "no activation given");
  if (Overlap(x, out)) return Bad(op, "input and output overlap");
  return OkStatus();
}

Status CheckRotary(const Backend& b, const TensorView& x, int64_t num_heads,
                   int64_t head_size, const PackedBatch& batch, const RotarySpec& spec) {
  const char* op = "rotary";
  if (x.data == nullptr) return Bad(op, "null input");
  FLOE_RETURN_IF_ERROR(CheckBatch(op, batch));
  FLOE_RETURN_IF_ERROR(CheckActs(b, op, "x", x, {batch.total_tokens, -1}));
  const int64_t ld = x.cols();
  if (num_heads < 1 || head_size < 1 || num_heads * head_size > ld) {
    return Bad(
        op, N(num_heads) + " heads of " + N(head_size) + " do not fit rows of " + N(ld));
  }
  return CheckRotarySpec(op, spec, head_size);
}

Status CheckAttend(const Backend& b, const TensorView& qkv, const PackedBatch& batch,
                   const AttentionSpec& spec, const TensorView& out) {
  const char* op = "attention";
  if (qkv.data == nullptr || out.data == nullptr) return Bad(op, "null input or output");
  const int64_t n = spec.num_heads, nkv = KvHeads(spec), h = spec.head_size;
  if (n < 1 || h < 1 || spec.num_kv_heads < 0) {
    return Bad(op, "bad heads: " + N(n) + " x " + N(h) + ", kv " + N(spec.num_kv_heads));
  }
  if (n % nkv != 0) {
    return Bad(op, N(nkv) + " key/value heads do not divide " + N(n) + " query heads");
  }
  if (spec.window_left < -1 || spec.window_right < -1)
    return Bad(op, "window bounds below -1");
  if (!(spec.scale >= 0.f)) return Bad(op, "negative scale");
  if ((spec.q_norm != nullptr || spec.k_norm != nullptr) && !(spec.qk_norm_eps > 0.f)) {
    return Bad(op, "qk_norm_eps must be > 0");
  }
  FLOE_RETURN_IF_ERROR(CheckBatch(op, batch));
  if (spec.rotary != nullptr) {
    FLOE_RETURN_IF_ERROR(CheckRotarySpec(op, *spec.rotary, h));
  }
  const int64_t t = batch.total_tokens;
  FLOE_RETURN_IF_ERROR(CheckActs(b, op, "qkv", qkv, {t, (n + 2 * nkv) * h}));
  FLOE_RETURN_IF_ERROR(CheckActs(b, op, "out", out, {t, n * h}));
  if (Overlap(qkv, out)) return Bad(op, "qkv and output overlap");
  return OkStatus();
}

namespace {
Status Missing(const Backend& b, const char* op) {
  return UnimplementedError(std::string(op) + " is not implemented on " + b.device());
}
}  // namespace

Status Backend::RmsNorm(const TensorView&, const RmsNormSpec&) {
  return Missing(*this, "rms_norm");
}
Status Backend::Activate(const TensorView&, Activation) {
  return Missing(*this, "activate");
}
Status Backend::GatedActivation(const TensorView&, Activation, const TensorView&) {
  return Missing(*this, "gated_activation");
}
Status Backend::Rotary(const TensorView&, int64_t, int64_t, const PackedBatch&,
                       const RotarySpec&) {
  return Missing(*this, "rotary");
}
Status Backend::Attend(const TensorView&, const PackedBatch&, const AttentionSpec&,
                       const TensorView&) {
  return Missing(*this, "attention");
}

// Float32 views copy as bytes; float16 / bfloat16 ones convert where the
// backend can. Any other view is INVALID_ARGUMENT naming `op`.
namespace {
Status CheckCopyView(const Backend& b, const char* op, const TensorView& v, bool* half) {
  *half = v.dtype == DType::kF16 || v.dtype == DType::kBF16;
  if (v.device != b.tensor_device() || !(v.dtype == DType::kF32 || *half)) {
    return InvalidArgumentError(std::string(op) + ": " + DescribeTensor(v) +
                                " is not float32, float16 or bfloat16 on " + b.device());
  }
  return OkStatus();
}
}  // namespace

Status Backend::CopyToHost(const TensorView& src, float* host) {
  bool half = false;
  FLOE_RETURN_IF_ERROR(CheckCopyView(*this, "CopyToHost", src, &half));
  if (src.numel() == 0) return OkStatus();
  if (half) return ConvertToHost(src, host);
  return CopyToHost(src.data, src.bytes(), host);
}
Status Backend::CopyToDevice(const float* host, const TensorView& dst) {
  bool half = false;
  FLOE_RETURN_IF_ERROR(CheckCopyView(*this, "CopyToDevice", dst, &half));
  if (dst.numel() == 0) return OkStatus();
  if (half) return ConvertToDevice(host, dst);
  return CopyToDevice(host, dst.bytes(), dst.data);
}
Status Backend::ConvertToHost(const TensorView& src, float*) {
  return Missing(*this, ("reading " + DescribeTensor(src) + " as float32").c_str());
}
Status Backend::ConvertToDevice(const float*, const TensorView& dst) {
  return Missing(*this, ("writing float32 as " + DescribeTensor(dst)).c_str());
}

}  // namespace floe
