// Host-side rules of the CUDA backend's float32 Q/K/V (issue 17; plain C++,
// header-only, tested on the CPU in every build by tests/backend).
//
// In float16 / bfloat16 the backend stores activations in the compute type.
// For a product marked LinearPrecision::kHigh (BERT's fused Q/K/V) that
// rounding is what the softmax amplifies, so the backend keeps float32 copies
// beside the compute-type activations, in two slots of its own memory:
//   kInput: the float32 output of the LayerNorm (or EmbedLayerNorm) that the
//           kHigh product reads, written by the same kernel as the rounded
//           one; also the float32 output of the attention that reads kQkv.
//   kQkv:   the kHigh product's float32 output (Q | K | V); the product also
//           writes its compute-type y, so y always holds the product.
// A copy is used only by the op right after the one that wrote it, and only
// for exactly the view it was written for (pointer, rows, columns): any op in
// between (every backend op calls NextOp first) makes it stale, and the
// reader falls back to the compute-type view, which is right, only rounded.
// So no op can read a float32 copy of values that changed since.
#pragma once

#include <cstdint>
#include <string>

namespace floe::cuda::host {

// FLOE_CUDA_QKV: how kHigh products run in float16 / bfloat16.
//   kF32:     float32 copies, a float32 CUDA-core product (exact operands,
//             float32 output), attention on float32 Q/K/V (the default in
//             float16: bench/cuda_qkv_precision.py, docs/cuda.md)
//   kTf32:    the same with a TF32 tensor-core product (operands rounded to
//             10 mantissa bits; the default in bfloat16, whose other
//             products lose more than that)
//   kCompute: as every other product: compute-type operands and output,
//             attention on tensor cores
enum class QkvPrecision { kF32, kTf32, kCompute };

struct QkvSwitch {
  QkvPrecision precision = QkvPrecision::kF32;
  bool set = false;   // false: unset or empty (the compute type's default)
  bool known = true;  // false: an unknown value (then as unset)
};

// "f32" / "float32", "tf32", "compute" / "off" / "0"; unset or empty: set
// false.
inline QkvSwitch ParseQkvPrecision(const char* value) {
  QkvSwitch s;
  if (value == nullptr || value[0] == '\0') return s;
  const std::string v(value);
  s.set = true;
  if (v == "tf32") {
    s.precision = QkvPrecision::kTf32;
  } else if (v == "f32" || v == "float32") {
    s.precision = QkvPrecision::kF32;
  } else if (v == "compute" || v == "off" || v == "0") {
    s.precision = QkvPrecision::kCompute;
  } else {
    s.set = false;
    s.known = false;
  }
  return s;
}

// The precision kHigh products run at: the switch's, else the default of
// the compute type (float16: kF32, bfloat16: kTf32).
inline QkvPrecision QkvPrecisionFor(const QkvSwitch& s, bool float16) {
  if (s.set) return s.precision;
  return float16 ? QkvPrecision::kF32 : QkvPrecision::kTf32;
}

enum class WideSlot { kInput = 0, kQkv = 1 };

// Which float32 copies are fresh (rules above). Not thread-safe: one per
// backend, used by the thread driving it.
class WideCopies {
 public:
  // Called first by every op of the backend.
  void NextOp() { ++op_; }
  // The op now running wrote slot's copy of [rows, cols] at act.
  void Record(WideSlot slot, const void* act, int64_t rows, int64_t cols) {
    Entry& e = entries_[Index(slot)];
    e = Entry{act, rows, cols, op_, true};
  }
  // The slot's memory was reused or freed.
  void Forget(WideSlot slot) { entries_[Index(slot)].valid = false; }
  // True when slot holds a copy of exactly [rows, cols] at act written by
  // the op just before the one now running.
  bool Fresh(WideSlot slot, const void* act, int64_t rows, int64_t cols) const {
    const Entry& e = entries_[Index(slot)];
    return e.valid && act != nullptr && e.act == act && e.rows == rows && e.cols == cols &&
           e.op + 1 == op_;
  }
  uint64_t op() const { return op_; }

 private:
  struct Entry {
    const void* act = nullptr;
    int64_t rows = 0, cols = 0;
    uint64_t op = 0;
    bool valid = false;
  };
  static int Index(WideSlot s) { return static_cast<int>(s); }
  Entry entries_[2];
  uint64_t op_ = 0;
};

}  // namespace floe::cuda::host
