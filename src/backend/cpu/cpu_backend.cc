// CPU backend (float32, or bfloat16 / int8 products with float32
// accumulation): creation, memory and the checks of the CPU's instruction
// set. The ops live one family per file (cpu_backend_impl.h).
#include "backend/cpu/cpu_backend.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "backend/cpu/cpu_backend_impl.h"
#include "backend/cpu/kernels.h"
#include "backend/cpu/linear_bf16w.h"
#include "core/openmp_env.h"

namespace floe {
namespace cpu {
namespace {

class CpuBuffer : public DeviceBuffer {
 public:
  CpuBuffer(void* p, size_t n) : p_(p), n_(n) {}
  ~CpuBuffer() override { std::free(p_); }
  void* data() override { return p_; }
  size_t size() const override { return n_; }

 private:
  void* p_;
  size_t n_;
};

}  // namespace

CpuBackend::CpuBackend(const RuntimeOptions& options, ComputeType ct)
    : Backend(options),
      ct_(ct),
      eng_(dnnl::engine::kind::cpu, 0),
      stream_(eng_) {
  // FLOE_CPU_MAX_CHUNK (512..4096, a power of two) is for measuring.
  if (const char* env = std::getenv("FLOE_CPU_MAX_CHUNK")) {
    const int64_t v = std::atoll(env);
    if (v >= kChunkRows && v <= 4096 && (v & (v - 1)) == 0) max_chunk_rows_ = v;
  }
  // Attention's P V in bf16: not in float32, nor where every product is
  // split for accuracy (FLOE_CPU_BF16_PRODUCTS=bf16x3).
  // int8's P V in bf16 only where its other wide products are (AMX).
  bf16_attention_ =
      (ct_ == ComputeType::kInt8 && RunIsa().amx) ||
      (ct_ == ComputeType::kBFloat16 && ModeFor(LinearPrecision::kDefault).parts == 1);
  LogOnce(LogLevel::kInfo, "cpu-isa", IsaSummary(DetectCpuIsa()));
  // How idle OpenMP threads wait (core/openmp_env.h): said at info only where
  // libgomp runs with its own multi-millisecond spin (a program that did not
  // apply floe's default before libgomp started).
  LogOnce(OpenMpSpinsLong() ? LogLevel::kInfo : LogLevel::kDebug, "cpu-openmp",
          OpenMpWaitSummary());
  if (const char* env = std::getenv("FLOE_CPU_BF16W_ROWS")) bf16w_rows_ = std::atoll(env);
  f32_kernel_ = ChooseF32Kernel();
  if (const char* env = std::getenv("FLOE_CPU_F32_SMALL_ROWS")) {
    f32_small_rows_ = std::clamp<int64_t>(std::atoll(env), 0, kExactRows - 1);
  }
  if (const char* env = std::getenv("FLOE_CPU_SHORT_ATTENTION")) {
    short_attention_ = std::atoll(env);
  }
  if (const char* env = std::getenv("FLOE_CPU_F32_PREFETCH_ROWS")) {
    f32_prefetch_rows_ = std::atoll(env);
  }
  if (const char* env = std::getenv("FLOE_CPU_F32_CHUNK_ROWS")) {
    f32_chunk_rows_ = std::max<int64_t>(0, std::atoll(env));
  }
  LogOnce(LogLevel::kDebug, "cpu-f32-small",
          std::string("float32 products of up to ") + std::to_string(f32_small_rows_) +
              " rows on floe's " + F32KernelName(f32_kernel_) + " kernel");
  if (ModeFor(LinearPrecision::kDefault).bf16_weights) {
    LogOnce(LogLevel::kInfo, "cpu-bf16w",
            "bfloat16 as bf16 weights with float32 arithmetic (" +
                std::string(Bf16wKernelName(ChooseBf16wKernel())) + " kernel up to " +
                std::to_string(bf16w_rows_) + " rows, widened to oneDNN float32 above)" +
                (!RunIsa().avx512_bf16 ? IsaShortfall(DetectCpuIsa(), /*needs_vnni=*/false)
                 : std::getenv("FLOE_CPU_BF16_PRODUCTS") != nullptr
                     ? std::string("; FLOE_CPU_BF16_PRODUCTS=bf16w")
                     : std::string("; oneDNN's bf16 products are slower than float32 on "
                                   "Intel CPUs without AMX")));
  } else if (ct_ == ComputeType::kBFloat16) {
    const ProductMode d = ModeFor(LinearPrecision::kDefault);
    const ProductMode h = ModeFor(LinearPrecision::kHigh);
    auto name = [](const ProductMode& m) {
      return m.parts == 0   ? std::string("f32")
             : m.parts == 1 ? std::string("bf16")
                            : "bf16x" + std::to_string(m.parts);
    };
    const char* env = std::getenv("FLOE_CPU_BF16_PRODUCTS");
    LogOnce(LogLevel::kInfo, "cpu-bf16",
            "bfloat16 as oneDNN's bf16 products (" + name(d) + ", Q/K/V " + name(h) +
                "; " +
                (env != nullptr ? std::string("FLOE_CPU_BF16_PRODUCTS=") + env
                 : RunIsa().amx ? std::string("AMX")
                                : std::string("AMD with AVX512_BF16")) +
                ")");
  }
}

StatusOr<std::unique_ptr<DeviceBuffer>> CpuBackend::Allocate(size_t bytes) {
  const size_t n = std::max<size_t>(64, (bytes + 63) / 64 * 64);
  void* p = std::aligned_alloc(64, n);
  if (p == nullptr) {
    return ResourceExhaustedError("cpu: cannot allocate " + std::to_string(bytes) +
                                  " bytes");
  }
  std::memset(p, 0, n);
  return std::unique_ptr<DeviceBuffer>(new CpuBuffer(p, bytes));
}
Status CpuBackend::CopyToDevice(const void* host, size_t bytes, void* device) {
  std::memcpy(device, host, bytes);
  return OkStatus();
}
Status CpuBackend::CopyToHost(const void* device, size_t bytes, void* host) {
  std::memcpy(host, device, bytes);
  return OkStatus();
}

}  // namespace cpu

namespace {
// FLOE_NO_AVX512=1 makes this process behave as on an AVX2-only CPU: our
// kernels take their portable path (cpu/kernels.cc) and oneDNN is capped at
// AVX2 before its first primitive.
dnnl::cpu_isa EffectiveIsa() {
  static const dnnl::cpu_isa isa = [] {
    // (ONEDNN_MAX_CPU_ISA is oneDNN's own: it reads it itself.)
    if (cpu::RunIsa().avx512_forced_off) dnnl::set_max_cpu_isa(dnnl::cpu_isa::avx2);
    return dnnl::get_effective_cpu_isa();
  }();
  return isa;
}

bool HasIsa(dnnl::cpu_isa have, dnnl::cpu_isa want) {
  return (static_cast<unsigned>(have) & static_cast<unsigned>(want)) ==
         static_cast<unsigned>(want);
}

#if !defined(__x86_64__)
// Not x86 (aarch64): oneDNN's x86 classes say nothing here, and which dtypes
// oneDNN runs depends on its build (2.6 has bfloat16 products on x86 only, or
// through the Arm Compute Library; int8 has reference kernels everywhere).
// So a dtype runs where it works: one small product of each precision and
// one attention long enough for bf16 values (kBf16ValueMinLen) must run on a
// backend of that dtype, else the dtype is refused with what failed.
Status ProbeDtype(const RuntimeOptions& options, ComputeType ct) {
  try {
    cpu::CpuBackend b(options, ct);
    const int64_t k = 32, n = 16, m = 4;
    std::vector<float> w(n * k, 0.01f), x(m * k, 1.f), y(m * n);
    for (LinearPrecision p :
         {LinearPrecision::kDefault, LinearPrecision::kHigh, LinearPrecision::kNoInt8}) {
      LinearSpec spec;
      spec.weight = w.data();
      spec.in_features = k;
      spec.out_features = n;
      spec.name = "probe";
      spec.precision = p;
      auto lin = b.CreateLinear(spec);
      if (!lin.ok()) return lin.status();
      if (Status s =
              (*lin)->Forward(HostF32(x.data(), {m, k}), HostF32(y.data(), {m, n}));
          !s.ok()) {
        return s;
      }
    }
    const int64_t len = cpu::CpuBackend::kBf16ValueMinLen, head_size = 8;
    std::vector<float> qkv(len * 3 * head_size, 0.1f), out(len * head_size);
    const int32_t cu[2] = {0, static_cast<int32_t>(len)};
    PackedBatch batch{cu, cu, 1, len, len};
    return b.Attention(HostF32(qkv.data(), {len, 3 * head_size}), batch, 1, head_size,
                       0.35f, HostF32(out.data(), {len, head_size}));
  } catch (const dnnl::error& e) {
    return cpu::DnnlError("cpu backend", e);
  }
}

// The refusal: the dtype, the CPU's features, oneDNN's version and its error.
Status RefuseDtype(ComputeType ct, const Status& why) {
  const bool bf16 = ct == ComputeType::kBFloat16;
  const cpu::CpuIsa isa = cpu::DetectCpuIsa();
  const dnnl_version_t* v = dnnl_version();
  std::string lacks;
  if (bf16 && !isa.arm_bf16) lacks = "; this CPU lacks BF16 (FEAT_BF16)";
  if (!bf16 && !isa.arm_i8mm && !isa.arm_dotprod) lacks = "; this CPU lacks DotProd, I8MM";
  const std::string dtype = bf16 ? "bfloat16" : "int8";
  return FailedPreconditionError(
      "dtype " + dtype + " does not run here: oneDNN " + std::to_string(v->major) + "." +
      std::to_string(v->minor) + "." + std::to_string(v->patch) + " creates no " + dtype +
      " matrix product on this CPU (" + cpu::IsaSummary(isa) + lacks + "; " +
      why.message() + "): use --dtype float32");
}
#endif
}  // namespace

StatusOr<std::unique_ptr<Backend>> CreateCpuBackend(const RuntimeOptions& options,
                                                    ComputeType compute_type) {
  if (compute_type == ComputeType::kFloat16) {
    return UnimplementedError(
        "dtype float16 is not implemented on the cpu (float32, bfloat16, "
        "int8)");
  }
#if !defined(__x86_64__)
  if (compute_type != ComputeType::kFloat32) {
    if (Status s = ProbeDtype(options, compute_type); !s.ok()) {
      return RefuseDtype(compute_type, s);
    }
  }
  try {
    return std::unique_ptr<Backend>(new cpu::CpuBackend(options, compute_type));
  } catch (const dnnl::error& e) {
    return cpu::DnnlError("cpu backend", e);
  }
#endif
  const dnnl::cpu_isa isa = EffectiveIsa();
  // bfloat16: oneDNN's bf16 products with AVX512_BF16, else bf16 weights
  // with float32 arithmetic on floe's AVX2 / AVX-512 kernels
  // (cpu_linear_bf16w.cc), which need AVX2 and FMA.
  if (compute_type == ComputeType::kBFloat16 &&
      !HasIsa(isa, dnnl::cpu_isa::avx512_core_bf16) &&
      !(cpu::RunIsa().avx2 && cpu::RunIsa().fma)) {
    return FailedPreconditionError(
        "dtype bfloat16 needs a CPU with AVX2 and FMA (bfloat16 weights, float32 "
        "arithmetic; AVX512_BF16 for bfloat16 products)" +
        cpu::Int8Shortfall(cpu::DetectCpuIsa()) + ": use --dtype float32");
  }
  if (compute_type == ComputeType::kInt8 && !HasIsa(isa, dnnl::cpu_isa::avx2)) {
    // oneDNN's u8 x s8 products (vpmaddubsw) need AVX2; with AVX512_BF16
    // the Q, K, V products run in bf16, else in float32 (cpu_linear.cc).
    return FailedPreconditionError("dtype int8 needs a CPU with AVX2 and FMA" +
                                   cpu::Int8Shortfall(cpu::DetectCpuIsa()) +
                                   ": use --dtype float32");
  }
  try {
    return std::unique_ptr<Backend>(new cpu::CpuBackend(options, compute_type));
  } catch (const dnnl::error& e) {
    return cpu::DnnlError("cpu backend", e);
  }
}

}  // namespace floe
