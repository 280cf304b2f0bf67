#include "backend/cpu/kernels.h"

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <algorithm>

#include "core/half.h"

namespace floe::cpu {

namespace {
bool DetectAvx512() {
  const char* off = std::getenv("FLOE_NO_AVX512");
  if (off != nullptr && std::strcmp(off, "0") != 0 && off[0] != '\0') return false;
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f");
}
const bool kAvx512 = DetectAvx512();
}  // namespace

bool UsingAvx512() { return kAvx512; }

CpuIsa DetectCpuIsa() {
  CpuIsa isa;
  const char* off = std::getenv("FLOE_NO_AVX512");
  isa.avx512_forced_off = off != nullptr && off[0] != '\0' && std::strcmp(off, "0") != 0;
  __builtin_cpu_init();
  isa.avx512f = __builtin_cpu_supports("avx512f");
  isa.avx512_bf16 = __builtin_cpu_supports("avx512bf16");
  isa.avx512_vnni = __builtin_cpu_supports("avx512vnni");
  for (const char* name : {"ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA"}) {
    const char* cap = std::getenv(name);
    if (cap != nullptr && cap[0] != '\0' && isa.onednn_cap.empty()) {
      isa.onednn_cap = std::string(name) + "=" + cap;
    }
  }
  return isa;
}

std::string IsaShortfall(const CpuIsa& isa, bool needs_vnni) {
  if (isa.avx512_forced_off) return "; AVX-512 is off (FLOE_NO_AVX512 is set)";
  if (!isa.avx512f) return "; this CPU has no AVX-512";
  std::string missing;
  if (needs_vnni && !isa.avx512_vnni) missing = "AVX512_VNNI";
  if (!isa.avx512_bf16) missing += std::string(missing.empty() ? "" : " and ") + "AVX512_BF16";
  if (!missing.empty()) return "; this CPU lacks " + missing;
  // The CPU has it all: oneDNN was held below it.
  return "; this CPU has them, but oneDNN does not use them" +
         (isa.onednn_cap.empty() ? std::string() : " (" + isa.onednn_cap + ")");
}

void SoftmaxRows(float* x, int64_t rows, int64_t cols, int64_t ld) {
  if (kAvx512) return avx512::SoftmaxRows(x, rows, cols, ld);
  generic::SoftmaxRows(x, rows, cols, ld);
}

void LayerNormRow(const float* x, int64_t n, const float* gamma, const float* beta, float eps,
                  float* y) {
  if (kAvx512) return avx512::LayerNormRow(x, n, gamma, beta, eps, y);
  generic::LayerNormRow(x, n, gamma, beta, eps, y);
}

void FloatToBf16(const float* src, int64_t n, uint16_t* dst) {
#pragma omp parallel for simd schedule(static)
  for (int64_t i = 0; i < n; ++i) {
    uint32_t bits;
    std::memcpy(&bits, &src[i], 4);
    // Round to nearest even (inputs are finite activations).
    bits += 0x7FFFu + ((bits >> 16) & 1u);
    dst[i] = static_cast<uint16_t>(bits >> 16);
  }
}

namespace {
// Finite weights and activations only: no NaN check, so the loops vectorise.
inline uint16_t RoundToBf16(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, 4);
  bits += 0x7FFFu + ((bits >> 16) & 1u);
  return static_cast<uint16_t>(bits >> 16);
}
inline float Bf16ToFloat(uint16_t h) { return BFloat16ToFloat(h); }
}  // namespace

void QuantizeRowsS8(const float* src, int64_t rows, int64_t k, int8_t* dst, float* scale) {
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < rows; ++r) {
    const float* x = src + r * k;
    float mx = 0.f;
#pragma omp simd reduction(max : mx)
    for (int64_t i = 0; i < k; ++i) mx = std::max(mx, std::fabs(x[i]));
    const float s = mx > 0.f ? mx / 127.f : 1.f;
    const float inv = 1.f / s;
    scale[r] = s;
    int8_t* o = dst + r * k;
#pragma omp simd
    for (int64_t i = 0; i < k; ++i) o[i] = static_cast<int8_t>(std::nearbyint(x[i] * inv));
  }
}

float QuantizeS8(const float* src, int64_t n, int8_t* dst) {
  float mx = 0.f;
#pragma omp parallel for simd reduction(max : mx) schedule(static)
  for (int64_t i = 0; i < n; ++i) mx = std::max(mx, std::fabs(src[i]));
  const float s = mx > 0.f ? mx / 127.f : 1.f;
  const float inv = 1.f / s;
#pragma omp parallel for simd schedule(static)
  for (int64_t i = 0; i < n; ++i) dst[i] = static_cast<int8_t>(std::nearbyint(src[i] * inv));
  return s;
}

float Bf16RoundTrip(float x) { return Bf16ToFloat(RoundToBf16(x)); }

void FloatToBf16Row(const float* src, int64_t n, uint16_t* dst) {
  if (kAvx512) return avx512::FloatToBf16Row(src, n, dst);
  generic::FloatToBf16Row(src, n, dst);
}

void SoftmaxRowsToBf16(float* x, int64_t rows, int64_t cols, int64_t ld, uint16_t* out,
                       int64_t ldo) {
  if (kAvx512) return avx512::SoftmaxRowsToBf16(x, rows, cols, ld, out, ldo);
  generic::SoftmaxRows(x, rows, cols, ld);
  for (int64_t r = 0; r < rows; ++r) generic::FloatToBf16Row(x + r * ld, cols, out + r * ldo);
}

void SplitToBf16(const float* src, int64_t rows, int64_t k, int parts, uint16_t* dst) {
  const int64_t ld = parts * k;
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < rows; ++r) {
    const float* x = src + r * k;
    uint16_t* hi = dst + r * ld;
    uint16_t* lo = hi + k;
#pragma omp simd
    for (int64_t i = 0; i < k; ++i) {
      const uint16_t h = RoundToBf16(x[i]);
      hi[i] = h;
      if (parts >= 2) lo[i] = RoundToBf16(x[i] - Bf16ToFloat(h));
    }
    if (parts == 3) std::memcpy(lo + k, hi, k * sizeof(uint16_t));
  }
}

namespace generic {

void FloatToBf16Row(const float* src, int64_t n, uint16_t* dst) {
  for (int64_t i = 0; i < n; ++i) dst[i] = RoundToBf16(src[i]);
}

void SoftmaxRows(float* x, int64_t rows, int64_t cols, int64_t ld) {
  for (int64_t r = 0; r < rows; ++r) {
    float* row = x + r * ld;
    float mx = row[0];
    for (int64_t i = 1; i < cols; ++i) mx = row[i] > mx ? row[i] : mx;
    float sum = 0.f;
    for (int64_t i = 0; i < cols; ++i) {
      row[i] = std::exp(row[i] - mx);
      sum += row[i];
    }
    const float inv = 1.f / sum;
    for (int64_t i = 0; i < cols; ++i) row[i] *= inv;
  }
}

void LayerNormRow(const float* x, int64_t n, const float* gamma, const float* beta, float eps,
                  float* y) {
  float sum = 0.f;
#pragma omp simd reduction(+ : sum)
  for (int64_t i = 0; i < n; ++i) sum += x[i];
  const float mean = sum / static_cast<float>(n);
  float sq = 0.f;
#pragma omp simd reduction(+ : sq)
  for (int64_t i = 0; i < n; ++i) {
    const float d = x[i] - mean;
    sq += d * d;
  }
  const float inv = 1.f / std::sqrt(sq / static_cast<float>(n) + eps);
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) y[i] = (x[i] - mean) * inv * gamma[i] + beta[i];
}

}  // namespace generic
}  // namespace floe::cpu
