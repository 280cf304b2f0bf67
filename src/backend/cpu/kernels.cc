#include "backend/cpu/kernels.h"

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <algorithm>
#include <cctype>
#include <initializer_list>
#include <utility>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#elif defined(__aarch64__)
#include <sys/auxv.h>
#include <sys/prctl.h>
#endif

#include "core/half.h"

namespace floe::cpu {

namespace {
bool EnvSet(const char* name) {
  const char* v = std::getenv(name);
  return v != nullptr && v[0] != '\0' && std::strcmp(v, "0") != 0;
}

// Features as bits, for the caps.
constexpr unsigned kBitAvx2 = 1, kBitFma = 2, kBitAvxVnni = 4, kBitAvx512 = 8,
                   kBitAvx512Vnni = 16, kBitAvx512Bf16 = 32, kBitAmx = 64, kBitAll = 127;
unsigned Bits(const CpuIsa& i) {
  return (i.avx2 ? kBitAvx2 : 0u) | (i.fma ? kBitFma : 0u) | (i.avx_vnni ? kBitAvxVnni : 0u) |
         (i.avx512f ? kBitAvx512 : 0u) | (i.avx512_vnni ? kBitAvx512Vnni : 0u) |
         (i.avx512_bf16 ? kBitAvx512Bf16 : 0u) | (i.amx ? kBitAmx : 0u);
}
// What each of oneDNN's ONEDNN_MAX_CPU_ISA values leaves (dnnl_cpu_isa_t:
// avx2_vnni is not below avx512_core).
unsigned CapBits(const std::string& cap) {
  std::string v = cap.substr(cap.find('=') + 1);
  for (char& c : v) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  const unsigned core = kBitAvx2 | kBitFma | kBitAvx512;
  if (v == "SSE41" || v == "AVX") return 0;
  if (v == "AVX2" || v == "AVX512_MIC" || v == "AVX512_MIC_4OPS") return kBitAvx2 | kBitFma;
  if (v == "AVX2_VNNI") return kBitAvx2 | kBitFma | kBitAvxVnni;
  if (v == "AVX512_CORE") return core;
  if (v == "AVX512_CORE_VNNI") return core | kBitAvx512Vnni;
  if (v == "AVX512_CORE_BF16") return core | kBitAvx512Vnni | kBitAvx512Bf16;
  if (v == "AVX512_CORE_AMX") return core | kBitAvx512Vnni | kBitAvx512Bf16 | kBitAmx;
  return kBitAll;  // ALL, or a name oneDNN ignores
}
}  // namespace

#if defined(__aarch64__)
namespace {
// The kernel's HWCAP bits (Linux arch/arm64/include/uapi/asm/hwcap.h).
constexpr unsigned long kHwcapAsimdDp = 1ul << 20, kHwcapSve = 1ul << 22;
constexpr unsigned long kHwcap2I8mm = 1ul << 13, kHwcap2Bf16 = 1ul << 14;
constexpr int kPrSveGetVl = 51, kPrSveVlLenMask = 0xffff;  // linux/prctl.h

void DetectArm(CpuIsa* isa) {
  const unsigned long hw = getauxval(AT_HWCAP), hw2 = getauxval(AT_HWCAP2);
  isa->arm = true;
  isa->arm_dotprod = hw & kHwcapAsimdDp;
  isa->arm_sve = hw & kHwcapSve;
  if (isa->arm_sve) {
    const int vl = prctl(kPrSveGetVl, 0, 0, 0, 0);
    isa->arm_sve_bits = vl > 0 ? (vl & kPrSveVlLenMask) * 8 : 0;
  }
  isa->arm_i8mm = hw2 & kHwcap2I8mm;
  isa->arm_bf16 = hw2 & kHwcap2Bf16;
}
}  // namespace
#endif

CpuIsa DetectCpuIsa() {
  CpuIsa isa;
  isa.avx512_forced_off = EnvSet("FLOE_NO_AVX512");
#if defined(__aarch64__)
  DetectArm(&isa);
#elif defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  isa.avx2 = __builtin_cpu_supports("avx2");
  isa.fma = __builtin_cpu_supports("fma");
  isa.avx512f = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
                __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl");
  isa.avx512_bf16 = __builtin_cpu_supports("avx512bf16");
  isa.avx512_vnni = __builtin_cpu_supports("avx512vnni");
  // GCC 12 knows neither avxvnni nor amx-* here: CPUID leaf 7 directly
  // (AMX also needs the kernel's permission, which oneDNN asks for itself).
  unsigned a = 0, b = 0, c = 0, d = 0;
  // Vendor (leaf 0: EBX EDX ECX spell it): "AuthenticAMD" is b = "Auth".
  if (__get_cpuid(0, &a, &b, &c, &d)) isa.amd = b == 0x68747541 && d == 0x69746e65;
  if (__get_cpuid_count(7, 1, &a, &b, &c, &d)) isa.avx_vnni = (a >> 4) & 1;
  if (__get_cpuid_count(7, 0, &a, &b, &c, &d)) {
    isa.amx = ((d >> 22) & 1) && ((d >> 24) & 1) && ((d >> 25) & 1);  // bf16, tile, int8
  }
#endif
  for (const char* name : {"ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA"}) {
    const char* cap = std::getenv(name);
    if (cap != nullptr && cap[0] != '\0' && isa.onednn_cap.empty()) {
      isa.onednn_cap = std::string(name) + "=" + cap;
    }
  }
  return isa;
}

CpuIsa CappedIsa(const CpuIsa& isa) {
  unsigned keep = Bits(isa);
  if (isa.avx512_forced_off) keep &= kBitAvx2 | kBitFma;
  if (!isa.onednn_cap.empty()) keep &= CapBits(isa.onednn_cap);
  CpuIsa out = isa;
  out.avx2 = keep & kBitAvx2;
  out.fma = keep & kBitFma;
  out.avx_vnni = keep & kBitAvxVnni;
  out.avx512f = keep & kBitAvx512;
  out.avx512_vnni = keep & kBitAvx512Vnni;
  out.avx512_bf16 = keep & kBitAvx512Bf16;
  out.amx = keep & kBitAmx;
#if !defined(__x86_64__)
  // oneDNN's aarch64 cap ASIMD leaves no SVE.
  if (out.arm && !isa.onednn_cap.empty()) {
    std::string v = isa.onednn_cap.substr(isa.onednn_cap.find('=') + 1);
    for (char& ch : v) ch = static_cast<char>(std::toupper(static_cast<uint8_t>(ch)));
    if (v == "ASIMD") out.arm_sve = false;
  }
#endif
  return out;
}

std::string IsaClassName(const CpuIsa& c) {
#if !defined(__x86_64__)
  if (c.arm) return c.arm_sve ? "sve_" + std::to_string(c.arm_sve_bits) : "asimd";
#endif
  if (c.avx512f && c.avx512_vnni && c.avx512_bf16 && c.amx) return "avx512_core_amx";
  if (c.avx512f && c.avx512_vnni && c.avx512_bf16) return "avx512_core_bf16";
  if (c.avx512f && c.avx512_vnni) return "avx512_core_vnni";
  if (c.avx512f) return "avx512_core";
  if (c.avx2 && c.fma && c.avx_vnni) return "avx2_vnni";
  if (c.avx2 && c.fma) return "avx2";
  return "sse41";
}

#if !defined(__x86_64__)
namespace {
std::string ArmFeatures(const CpuIsa& isa) {
  std::string have = "aarch64 asimd";
  if (isa.arm_dotprod) have += " dotprod";
  if (isa.arm_sve) have += " sve(" + std::to_string(isa.arm_sve_bits) + " bits)";
  if (isa.arm_bf16) have += " bf16";
  if (isa.arm_i8mm) have += " i8mm";
  return have;
}
}  // namespace
#endif

std::string IsaSummary(const CpuIsa& isa) {
#if !defined(__x86_64__)
  if (isa.arm) {
    return "cpu: " + ArmFeatures(isa) + "; runs as " + IsaClassName(CappedIsa(isa)) +
           (isa.onednn_cap.empty() ? "" : " (capped by " + isa.onednn_cap + ")") +
           "; floe kernels generic";
  }
#endif
  const CpuIsa c = CappedIsa(isa);
  std::string have;
  const std::pair<bool, const char*> names[] = {
      {isa.avx2, "avx2"},           {isa.fma, "fma"},
      {isa.avx_vnni, "avx_vnni"},   {isa.avx512f, "avx512f/dq/bw/vl"},
      {isa.avx512_vnni, "avx512_vnni"}, {isa.avx512_bf16, "avx512_bf16"},
      {isa.amx, "amx_tile/bf16/int8"}};
  for (const auto& [on, name] : names) {
    if (on) have += std::string(have.empty() ? "" : " ") + name;
  }
  std::string cap = isa.onednn_cap;
  if (isa.avx512_forced_off) cap += std::string(cap.empty() ? "" : ", ") + "FLOE_NO_AVX512";
  return "cpu: " + std::string(isa.amd ? "AMD " : "") +
         (have.empty() ? std::string("none of avx2..amx") : have) +
         "; runs as " + IsaClassName(c) + (cap.empty() ? "" : " (capped by " + cap + ")") +
         "; floe kernels " + (c.avx512f ? "avx512" : "generic");
}

namespace {
// The clause for one missing feature of the capped set.
std::string Missing(const CpuIsa& isa, std::initializer_list<std::pair<bool, const char*>> cpu,
                    std::initializer_list<bool> capped) {
  std::string lacks, off;
  auto on = capped.begin();
  for (const auto& [has, name] : cpu) {
    const bool left = *on++;
    if (!has) {
      lacks += std::string(lacks.empty() ? "" : " and ") + name;
    } else if (!left) {
      off += std::string(off.empty() ? "" : " and ") + name;
    }
  }
  if (!lacks.empty()) return "; this CPU lacks " + lacks;
  if (off.empty()) return "";
  std::string why = isa.onednn_cap;
  if (isa.avx512_forced_off) why += std::string(why.empty() ? "" : " and ") + "FLOE_NO_AVX512=1";
  return "; the CPU has " + off + ", but " + why + " turns that off";
}
}  // namespace

std::string IsaShortfall(const CpuIsa& isa, bool needs_vnni) {
  if (isa.avx512_forced_off) return "; AVX-512 is off (FLOE_NO_AVX512 is set)";
  if (!isa.avx512f) return "; this CPU has no AVX-512";
  std::string missing;
  if (needs_vnni && !isa.avx512_vnni) missing = "AVX512_VNNI";
  if (!isa.avx512_bf16) missing += std::string(missing.empty() ? "" : " and ") + "AVX512_BF16";
  if (!missing.empty()) return "; this CPU lacks " + missing;
  // The CPU has it all: the cap holds floe and oneDNN below it.
  const CpuIsa c = CappedIsa(isa);
  std::string off = Missing(isa, {{isa.avx512f, "AVX-512"}, {isa.avx512_bf16, "AVX512_BF16"}},
                            {c.avx512f, c.avx512_bf16});
  if (!off.empty()) return off;
  return "; this CPU has them, but oneDNN does not use them" +
         (isa.onednn_cap.empty() ? std::string() : " (" + isa.onednn_cap + ")");
}

std::string Int8Shortfall(const CpuIsa& isa) {
  const CpuIsa c = CappedIsa(isa);
  return Missing(isa, {{isa.avx2, "AVX2"}, {isa.fma, "FMA"}}, {c.avx2, c.fma});
}

const CpuIsa& RunIsa() {
  static const CpuIsa isa = CappedIsa(DetectCpuIsa());
  return isa;
}

namespace {
const bool kAvx512 = RunIsa().avx512f;
}  // namespace

bool UsingAvx512() { return kAvx512; }

void SoftmaxRows(float* x, int64_t rows, int64_t cols, int64_t ld) {
#if defined(__x86_64__)
  if (kAvx512) return avx512::SoftmaxRows(x, rows, cols, ld);
#endif
  generic::SoftmaxRows(x, rows, cols, ld);
}

void TransposeRows(const float* src, int64_t ld, int64_t rows, int64_t cols, float* dst) {
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < cols; ++c) dst[c * rows + r] = src[r * ld + c];
  }
}

namespace {

void RowsTimesRows(const float* a, int64_t lda, const float* b, int64_t ldb, int64_t m,
                   int64_t kd, int64_t n, float scale, float* c, int64_t ldc) {
#if defined(__x86_64__)
  if (kAvx512) return avx512::RowsTimesRows(a, lda, b, ldb, m, kd, n, scale, c, ldc);
#endif
  generic::RowsTimesRows(a, lda, b, ldb, m, kd, n, scale, c, ldc);
}

}  // namespace

void AttendShortHead(const float* q, const float* k, const float* v, int64_t ld, int64_t len,
                     int64_t hs, float scale, float* scratch, float* o, int64_t ldo) {
  float* s = scratch;               // [len, len]
  float* kt = scratch + len * len;  // K^T [hs, len]
  TransposeRows(k, ld, len, hs, kt);
  RowsTimesRows(q, ld, kt, len, len, hs, len, scale, s, len);
  SoftmaxRows(s, len, len, len);
  RowsTimesRows(s, len, v, ld, len, len, hs, 1.f, o, ldo);
}

float SoftmaxStep(float* x, int64_t n, float* max, float* sum) {
#if defined(__x86_64__)
  if (kAvx512) return avx512::SoftmaxStep(x, n, max, sum);
#endif
  return generic::SoftmaxStep(x, n, max, sum);
}

void LayerNormRow(const float* x, int64_t n, const float* gamma, const float* beta, float eps,
                  float* y) {
#if defined(__x86_64__)
  if (kAvx512) return avx512::LayerNormRow(x, n, gamma, beta, eps, y);
#endif
  generic::LayerNormRow(x, n, gamma, beta, eps, y);
}

void FloatToBf16(const float* src, int64_t n, uint16_t* dst) {
#pragma omp parallel for simd schedule(static)
  for (int64_t i = 0; i < n; ++i)
    dst[i] = FloatToBFloat16Finite(src[i]);  // finite activations
}

namespace {
// Finite weights and activations only: no NaN check, so the loops vectorise.
inline uint16_t RoundToBf16(float f) { return FloatToBFloat16Finite(f); }
inline float Bf16ToFloat(uint16_t h) { return BFloat16ToFloat(h); }
}  // namespace

float Bf16RoundTrip(float x) { return Bf16ToFloat(RoundToBf16(x)); }

void FloatToBf16Row(const float* src, int64_t n, uint16_t* dst) {
#if defined(__x86_64__)
  if (kAvx512) return avx512::FloatToBf16Row(src, n, dst);
#endif
  generic::FloatToBf16Row(src, n, dst);
}

void SoftmaxRowsToBf16(float* x, int64_t rows, int64_t cols, int64_t ld, uint16_t* out,
                       int64_t ldo) {
#if defined(__x86_64__)
  if (kAvx512) return avx512::SoftmaxRowsToBf16(x, rows, cols, ld, out, ldo);
#endif
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

void RowsTimesRows(const float* a, int64_t lda, const float* b, int64_t ldb, int64_t m,
                   int64_t kd, int64_t n, float scale, float* c, int64_t ldc) {
  for (int64_t i = 0; i < m; ++i) {
    float* ci = c + i * ldc;
    std::fill(ci, ci + n, 0.f);
    for (int64_t e = 0; e < kd; ++e) {
      const float ae = a[i * lda + e];
      const float* be = b + e * ldb;
#pragma omp simd
      for (int64_t j = 0; j < n; ++j) ci[j] += ae * be[j];
    }
    if (scale != 1.f) {
      for (int64_t j = 0; j < n; ++j) ci[j] *= scale;
    }
  }
}

float SoftmaxStep(float* x, int64_t n, float* max, float* sum) {
  float mx = *max;
  for (int64_t i = 0; i < n; ++i) mx = x[i] > mx ? x[i] : mx;
  float s = 0.f;
  for (int64_t i = 0; i < n; ++i) {
    x[i] = std::exp(x[i] - mx);
    s += x[i];
  }
  const float factor = std::exp(*max - mx);
  *sum = *sum * factor + s;
  *max = mx;
  return factor;
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
