// Elementwise and row kernels of the CPU backend, with the instruction set
// chosen at run time (AVX-512 when the CPU has it, portable C++ otherwise).
// All single-threaded: callers parallelise over rows.
#pragma once

#include <cstdint>
#include <string>

namespace floe::cpu {

// Each of `rows` rows of `cols` floats (row stride `ld`) becomes its softmax,
// in place: max subtracted, float32 sums.
void SoftmaxRows(float* x, int64_t rows, int64_t cols, int64_t ld);

// One key block of an online softmax row (flash attention): m = max(*max,
// x), x[i] = exp(x[i] - m), *sum = *sum * exp(*max - m) + sum x, *max = m;
// returns exp(old max - m), the factor for the row's accumulator (0 when
// *max was -inf). n >= 1.
float SoftmaxStep(float* x, int64_t n, float* max, float* sum);

// Attention of one head over a short sequence, without a matrix-product
// call (whose fixed cost is most of the work at a dozen tokens):
// o [len, hs] (row stride ldo) = softmax(scale q k^T) v, q, k and v [len, hs]
// with row stride ld. Scores summed over the head in order, float32.
// scratch: len * (len + hs) floats.
void AttendShortHead(const float* q, const float* k, const float* v, int64_t ld, int64_t len,
                     int64_t hs, float scale, float* scratch, float* o, int64_t ldo);

// dst [cols, rows] = src [rows, cols]^T (src row stride ld), on the calling
// thread.
void TransposeRows(const float* src, int64_t ld, int64_t rows, int64_t cols, float* dst);

// SoftmaxRows, with the probabilities written as bfloat16 (rounded to nearest
// even) to out (row stride ldo); x is left holding scratch values.
void SoftmaxRowsToBf16(float* x, int64_t rows, int64_t cols, int64_t ld, uint16_t* out,
                       int64_t ldo);

// dst[i] = bfloat16(src[i]) for n floats, on the calling thread.
void FloatToBf16Row(const float* src, int64_t n, uint16_t* dst);

// y = LayerNorm(x) * gamma + beta over one row of n floats; x may equal y.
void LayerNormRow(const float* x, int64_t n, const float* gamma, const float* beta, float eps,
                  float* y);

// dst[i] = bfloat16(src[i]), rounded to nearest even; parallel (OpenMP).
void FloatToBf16(const float* src, int64_t n, uint16_t* dst);

// Splits each of `rows` rows of `k` floats into bfloat16 parts written side
// by side into dst (row stride parts * k): parts 1: [hi]; 2: [hi | lo];
// 3: [hi | lo | hi], where hi = bf16(x) and lo = bf16(x - hi), so that
// hi + lo carries about 16 significant bits. Parallel (OpenMP).
void SplitToBf16(const float* src, int64_t rows, int64_t k, int parts, uint16_t* dst);

// v rounded to the nearest integer, ties to even (as cvtps2dq and lrint do
// under the default rounding mode), for |v| < 2^22, without a libm call (SSE2
// has no vector round), so loops over it vectorise. Needs IEEE arithmetic
// (no -ffast-math reassociation).
inline float RoundHalfEven(float v) {
  constexpr float kMagic = 12582912.f;  // 1.5 * 2^23
  return (v + kMagic) - kMagic;
}

// float(bf16(x)), rounded to nearest even.
float Bf16RoundTrip(float x);

// Whether the AVX-512 kernels are in use: the CPU has AVX-512 F/DQ/BW/VL and
// no cap below AVX512_CORE is set (FLOE_NO_AVX512=1, ONEDNN_MAX_CPU_ISA).
bool UsingAvx512();

// The instruction sets floe and oneDNN use, per feature: what the CPU has
// (cpuid) and what the cap leaves. One variable selects a class of x86 CPU:
// ONEDNN_MAX_CPU_ISA (or DNNL_MAX_CPU_ISA) = AVX2, AVX2_VNNI, AVX512_CORE,
// AVX512_CORE_VNNI, AVX512_CORE_BF16, AVX512_CORE_AMX or ALL (oneDNN's own
// names and classes; below AVX2 nothing of these is left), and FLOE_NO_AVX512=1
// is the cap AVX2. floe then claims the lesser of the CPU and the cap, for its
// own kernels and for the dtype checks, as oneDNN does for its primitives.
struct CpuIsa {
  bool avx512_forced_off = false;  // FLOE_NO_AVX512 is set (and not "0")
  // What the CPU has.
  bool avx2 = false;
  bool fma = false;
  bool avx_vnni = false;
  bool avx512f = false;  // with DQ, BW and VL (AVX512_CORE)
  bool avx512_vnni = false;
  bool avx512_bf16 = false;
  bool amx = false;  // AMX-TILE, AMX-BF16 and AMX-INT8
  bool amd = false;  // CPUID vendor "AuthenticAMD" (Zen 4+ where avx512_bf16)
  std::string onednn_cap;  // "ONEDNN_MAX_CPU_ISA=AVX2", "" when unset
  // aarch64, from the kernel's HWCAP bits (all false on x86; the x86 fields
  // are all false on aarch64). Advanced SIMD (NEON) is always there. floe's
  // own kernels are the portable C++ ones there, and a dtype runs where
  // oneDNN creates its products (CreateCpuBackend tries them).
  bool arm = false;
  bool arm_dotprod = false;  // SDOT / UDOT (FEAT_DotProd)
  bool arm_sve = false;      // with arm_sve_bits, the vector length
  int arm_sve_bits = 0;
  bool arm_bf16 = false;  // BFDOT / BFMMLA (FEAT_BF16)
  bool arm_i8mm = false;  // SMMLA (FEAT_I8MM)
};
CpuIsa DetectCpuIsa();

// The features of `isa` that its cap leaves (FLOE_NO_AVX512: AVX2;
// onednn_cap: that class; an unknown cap name leaves all, as in oneDNN).
CpuIsa CappedIsa(const CpuIsa& isa);

// CappedIsa(DetectCpuIsa()) of this process, read once: what floe runs on.
const CpuIsa& RunIsa();

// The features floe uses, as oneDNN names its classes: "avx512_core_bf16",
// "avx2_vnni", "avx2", ... ("sse41" below AVX2); on aarch64 "sve_512",
// "sve_256", ... or "asimd".
std::string IsaClassName(const CpuIsa& capped);

// One line for the log: the CPU's features, the cap, floe's kernels and the
// class floe runs as.
std::string IsaSummary(const CpuIsa& isa);

// Why the CPU cannot run a dtype that needs AVX512_BF16 (and AVX512_VNNI when
// `needs_vnni`), as a clause for an error message: "; this CPU lacks ...".
// Names FLOE_NO_AVX512 only when it is set.
std::string IsaShortfall(const CpuIsa& isa, bool needs_vnni);

// Why int8 or bfloat16 cannot run (both need AVX2 and FMA: oneDNN's u8 x s8
// products, floe's bf16-weight kernels without AVX512_BF16):
// "; this CPU lacks AVX2" or "; AVX2 is off (ONEDNN_MAX_CPU_ISA=AVX)".
std::string Int8Shortfall(const CpuIsa& isa);

namespace generic {
void SoftmaxRows(float* x, int64_t rows, int64_t cols, int64_t ld);
// c [m, n] = scale * a [m, kd] b [kd, n] (rows at strides lda, ldb, ldc), each
// output summed over kd in order, then scaled (AttendShortHead's two products).
void RowsTimesRows(const float* a, int64_t lda, const float* b, int64_t ldb, int64_t m,
                   int64_t kd, int64_t n, float scale, float* c, int64_t ldc);
float SoftmaxStep(float* x, int64_t n, float* max, float* sum);
void FloatToBf16Row(const float* src, int64_t n, uint16_t* dst);
void LayerNormRow(const float* x, int64_t n, const float* gamma, const float* beta, float eps,
                  float* y);
}  // namespace generic

// x86-64 only (kernels_avx512.cc); elsewhere the generic kernels run.
namespace avx512 {
void SoftmaxRows(float* x, int64_t rows, int64_t cols, int64_t ld);
void RowsTimesRows(const float* a, int64_t lda, const float* b, int64_t ldb, int64_t m,
                   int64_t kd, int64_t n, float scale, float* c, int64_t ldc);
float SoftmaxStep(float* x, int64_t n, float* max, float* sum);
void SoftmaxRowsToBf16(float* x, int64_t rows, int64_t cols, int64_t ld, uint16_t* out,
                       int64_t ldo);
void FloatToBf16Row(const float* src, int64_t n, uint16_t* dst);
void LayerNormRow(const float* x, int64_t n, const float* gamma, const float* beta, float eps,
                  float* y);
}  // namespace avx512

}  // namespace floe::cpu
