// The newer encoders' ops on the CUDA backend (RMSNorm, activations, gated
// FFN activations, rotary positions): backend/ops.h's checks first, then
// this backend's own (its memory, its batch), then the launchers of
// modern_ops.cu on the backend's stream. Attention with masks (Attend) is
// not here.
#include <string>

#include "backend/cuda/cuda_backend_impl.h"
#include "backend/cuda/cuda_status.h"
#include "backend/cuda/modern_ops.h"

namespace floe::cuda {
namespace {

// backend.h's Activation as the launchers' code; kNone was refused by the
// checks.
ActCode CodeOf(Activation act) {
  switch (act) {
    case Activation::kGeluErf: return ActCode::kGeluErf;
    case Activation::kGeluTanh: return ActCode::kGeluTanh;
    case Activation::kRelu: return ActCode::kRelu;
    case Activation::kSilu:
    case Activation::kNone:
      break;
  }
  return ActCode::kSilu;
}

}  // namespace

Status CudaBackend::RmsNorm(const TensorView& x_view, const RmsNormSpec& spec) {
  const std::string op = "rms_norm";
  FLOE_RETURN_IF_ERROR(Enter(op));
  FLOE_RETURN_IF_ERROR(Flush());
  FLOE_RETURN_IF_ERROR(CheckRmsNorm(*this, x_view, spec));
  const int64_t rows = x_view.rows(), hidden = spec.hidden;
  if (rows > 0x7fffffffLL) {
    return InvalidArgumentError(op + ": " + std::to_string(rows) + " rows (at most 2^31 - 1)");
  }
  FLOE_RETURN_IF_ERROR(CheckMemory(x_view.data, x_view.bytes(), op, "x"));
  if (spec.weight != nullptr) {
    FLOE_RETURN_IF_ERROR(CheckMemory(spec.weight, hidden * sizeof(float), op, "weight"));
  }
  if (spec.bias != nullptr) {
    FLOE_RETURN_IF_ERROR(CheckMemory(spec.bias, hidden * sizeof(float), op, "bias"));
  }
  return CudaStatus(LaunchRmsNorm(dtype(), x_view.data, rows, hidden, spec.weight, spec.bias,
                                  spec.weight_offset, spec.eps, stream()),
                    op);
}

Status CudaBackend::Activate(const TensorView& x_view, Activation act) {
  const std::string op = "activate";
  FLOE_RETURN_IF_ERROR(Enter(op));
  FLOE_RETURN_IF_ERROR(Flush());
  FLOE_RETURN_IF_ERROR(CheckActivate(*this, x_view, act));
  const int64_t n = x_view.numel();
  if (n == 0) return OkStatus();
  FLOE_RETURN_IF_ERROR(CheckMemory(x_view.data, x_view.bytes(), op, "x"));
  return CudaStatus(LaunchActivate(dtype(), x_view.data, n, CodeOf(act), stream()), op);
}

Status CudaBackend::GatedActivation(const TensorView& x_view, Activation act,
                                    const TensorView& out_view) {
  const std::string op = "gated_activation";
  FLOE_RETURN_IF_ERROR(Enter(op));
  FLOE_RETURN_IF_ERROR(Flush());
  FLOE_RETURN_IF_ERROR(CheckGatedActivation(*this, x_view, act, out_view));
  const int64_t rows = x_view.rows(), inner = out_view.cols();
  if (rows == 0) return OkStatus();
  FLOE_RETURN_IF_ERROR(CheckMemory(x_view.data, x_view.bytes(), op, "x"));
  FLOE_RETURN_IF_ERROR(CheckMemory(out_view.data, out_view.bytes(), op, "out"));
  return CudaStatus(LaunchGatedActivation(dtype(), x_view.data, rows, inner, CodeOf(act),
                                          out_view.data, stream()),
                    op);
}

Status CudaBackend::Rotary(const TensorView& x_view, int64_t num_heads, int64_t head_size,
                           const PackedBatch& batch, const RotarySpec& spec) {
  const std::string op = "rotary";
  FLOE_RETURN_IF_ERROR(Enter(op));
  FLOE_RETURN_IF_ERROR(Flush());
  FLOE_RETURN_IF_ERROR(CheckRotary(*this, x_view, num_heads, head_size, batch, spec));
  FLOE_RETURN_IF_ERROR(CheckBatch(batch, op));
  FLOE_RETURN_IF_ERROR(CheckMemory(x_view.data, x_view.bytes(), op, "x"));
  return CudaStatus(
      LaunchRotary(dtype(), x_view.data, x_view.cols(), batch.cu_seqlens_device,
                   batch.num_seqs, batch.total_tokens, num_heads, head_size,
                   RotaryDims(spec, head_size), spec.base,
                   spec.layout == RotaryLayout::kInterleaved, spec.position_offset,
                   spec.position_scale, stream()),
      op);
}

}  // namespace floe::cuda
