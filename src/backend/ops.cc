// Input checks of the ops in backend/ops.h, and the Backend defaults for a
// device that does not implement one.
#include "backend/ops.h"

#include <string>

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

}  // namespace

Status CheckRmsNorm(const float* x, int64_t rows, const RmsNormSpec& spec) {
  if (x == nullptr) return Bad("rms_norm", "null input");
  if (rows < 0 || spec.hidden < 1) {
    return Bad("rms_norm", "bad shape [" + N(rows) + ", " + N(spec.hidden) + "]");
  }
  if (!(spec.eps > 0.f)) return Bad("rms_norm", "eps must be > 0");
  return OkStatus();
}

Status CheckActivate(const float* x, int64_t n, Activation act) {
  if (x == nullptr && n > 0) return Bad("activate", "null input");
  if (n < 0) return Bad("activate", "negative size");
  if (!KnownActivation(act)) return Bad("activate", "no activation given");
  return OkStatus();
}

Status CheckGatedActivation(const float* x, int64_t rows, int64_t inner, Activation act,
                            const float* out) {
  const char* op = "gated_activation";
  if (x == nullptr || out == nullptr) return Bad(op, "null input or output");
  if (rows < 0 || inner < 1)
    return Bad(op, "bad shape [" + N(rows) + ", 2 x " + N(inner) + "]");
  if (!KnownActivation(act)) return Bad(op, "no activation given");
  const float* x_end = x + rows * 2 * inner;
  const float* out_end = out + rows * inner;
  if (rows > 0 && out < x_end && x < out_end) return Bad(op, "input and output overlap");
  return OkStatus();
}

Status CheckRotary(const float* x, int64_t ld, int64_t num_heads, int64_t head_size,
                   const PackedBatch& batch, const RotarySpec& spec) {
  const char* op = "rotary";
  if (x == nullptr) return Bad(op, "null input");
  if (num_heads < 1 || head_size < 1 || num_heads * head_size > ld) {
    return Bad(
        op, N(num_heads) + " heads of " + N(head_size) + " do not fit rows of " + N(ld));
  }
  if (Status s = CheckBatch(op, batch); !s.ok()) return s;
  return CheckRotarySpec(op, spec, head_size);
}

Status CheckAttend(const float* qkv, const PackedBatch& batch, const AttentionSpec& spec,
                   const float* out) {
  const char* op = "attention";
  if (qkv == nullptr || out == nullptr) return Bad(op, "null input or output");
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
  if (Status s = CheckBatch(op, batch); !s.ok()) return s;
  if (spec.rotary != nullptr) {
    if (Status s = CheckRotarySpec(op, *spec.rotary, h); !s.ok()) return s;
  }
  const int64_t t = batch.total_tokens;
  const float* qkv_end = qkv + t * (n + 2 * nkv) * h;
  const float* out_end = out + t * n * h;
  if (out < qkv_end && qkv < out_end) return Bad(op, "qkv and output overlap");
  return OkStatus();
}

namespace {
Status Missing(const Backend& b, const char* op) {
  return UnimplementedError(std::string(op) + " is not implemented on " + b.device());
}
}  // namespace

Status Backend::RmsNorm(float*, int64_t, const RmsNormSpec&) {
  return Missing(*this, "rms_norm");
}
Status Backend::Activate(float*, int64_t, Activation) {
  return Missing(*this, "activate");
}
Status Backend::GatedActivation(const float*, int64_t, int64_t, Activation, float*) {
  return Missing(*this, "gated_activation");
}
Status Backend::Rotary(float*, int64_t, int64_t, int64_t, const PackedBatch&,
                       const RotarySpec&) {
  return Missing(*this, "rotary");
}
Status Backend::Attend(const float*, const PackedBatch&, const AttentionSpec&, float*) {
  return Missing(*this, "attention");
}

}  // namespace floe
