// The x86 classes floe runs as (backend/cpu/kernels.h): the cap
// ONEDNN_MAX_CPU_ISA (or FLOE_NO_AVX512) gives the lesser of the CPU and the
// cap, floe's claim agrees with oneDNN's, and each dtype runs or is refused
// naming the missing instruction. tests/CMakeLists.txt runs this binary (and
// the backend tests) once per class this CPU can emulate (ctest cpu_isa_*).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "backend/cpu/cpu_backend_impl.h"
#include "backend/cpu/kernels.h"
#include "engine/cpu_isa_reference.h"
#include "dnnl.hpp"

namespace floe {
namespace {

cpu::CpuIsa SapphireRapids() {
  cpu::CpuIsa i;
  i.avx2 = i.fma = i.avx_vnni = i.avx512f = i.avx512_vnni = i.avx512_bf16 = i.amx = true;
  return i;
}

std::string ClassUnder(const std::string& cap, cpu::CpuIsa cpu = SapphireRapids()) {
  cpu.onednn_cap = cap.empty() ? "" : "ONEDNN_MAX_CPU_ISA=" + cap;
  return cpu::IsaClassName(cpu::CappedIsa(cpu));
}

TEST(CpuIsaClassTest, TheCapSelectsOneClassOfOneDnn) {
  EXPECT_EQ(ClassUnder(""), "avx512_core_amx");
  EXPECT_EQ(ClassUnder("ALL"), "avx512_core_amx");
  EXPECT_EQ(ClassUnder("AVX512_CORE_AMX"), "avx512_core_amx");
  EXPECT_EQ(ClassUnder("AVX512_CORE_BF16"), "avx512_core_bf16");
  EXPECT_EQ(ClassUnder("avx512_core_bf16"), "avx512_core_bf16");  // oneDNN ignores case too
  EXPECT_EQ(ClassUnder("AVX512_CORE_VNNI"), "avx512_core_vnni");
  EXPECT_EQ(ClassUnder("AVX512_CORE"), "avx512_core");
  EXPECT_EQ(ClassUnder("AVX2_VNNI"), "avx2_vnni");
  EXPECT_EQ(ClassUnder("AVX2"), "avx2");
  EXPECT_EQ(ClassUnder("AVX"), "sse41");
  // The lesser of the two: a cap above the CPU changes nothing.
  cpu::CpuIsa zen3;
  zen3.avx2 = zen3.fma = true;
  EXPECT_EQ(ClassUnder("AVX512_CORE_AMX", zen3), "avx2");
  cpu::CpuIsa cascade_lake;
  cascade_lake.avx2 = cascade_lake.fma = cascade_lake.avx512f = cascade_lake.avx512_vnni = true;
  EXPECT_EQ(ClassUnder("AVX512_CORE_BF16", cascade_lake), "avx512_core_vnni");
  EXPECT_EQ(ClassUnder("AVX2_VNNI", cascade_lake), "avx2");  // it has no AVX-VNNI
  // FLOE_NO_AVX512 is the cap AVX2, whatever ONEDNN_MAX_CPU_ISA says.
  cpu::CpuIsa forced = SapphireRapids();
  forced.avx512_forced_off = true;
  EXPECT_EQ(cpu::IsaClassName(cpu::CappedIsa(forced)), "avx2");
}

TEST(CpuIsaClassTest, RefusalsNameTheMissingInstructionAndTheCap) {
  cpu::CpuIsa capped = SapphireRapids();
  capped.onednn_cap = "ONEDNN_MAX_CPU_ISA=AVX512_CORE_VNNI";
  std::string note = cpu::IsaShortfall(capped, false);
  EXPECT_NE(note.find("has AVX512_BF16"), std::string::npos) << note;
  EXPECT_NE(note.find("ONEDNN_MAX_CPU_ISA=AVX512_CORE_VNNI"), std::string::npos) << note;
  capped.onednn_cap = "ONEDNN_MAX_CPU_ISA=AVX";
  note = cpu::Int8Shortfall(capped);
  EXPECT_NE(note.find("has AVX2 and FMA"), std::string::npos) << note;
  EXPECT_NE(note.find("ONEDNN_MAX_CPU_ISA=AVX"), std::string::npos) << note;
  cpu::CpuIsa old;  // Sandy Bridge: AVX only
  note = cpu::Int8Shortfall(old);
  EXPECT_NE(note.find("lacks AVX2 and FMA"), std::string::npos) << note;
  cpu::CpuIsa zen3;
  zen3.avx2 = zen3.fma = true;
  EXPECT_EQ(cpu::Int8Shortfall(zen3), "");
}

// This process, under whatever cap ctest set: floe claims what oneDNN uses.
TEST(CpuIsaRunTest, FloeAndOneDnnAgreeOnTheClass) {
  const cpu::CpuIsa& run = cpu::RunIsa();
  if (run.arm) GTEST_SKIP() << "x86 only: oneDNN's cpu_isa names x86 classes alone";
  // Creating a backend applies FLOE_NO_AVX512 to oneDNN.
  ASSERT_TRUE(CreateBackend({}).ok());
  const auto eff = static_cast<unsigned>(dnnl::get_effective_cpu_isa());
  auto has = [&](dnnl::cpu_isa want) {
    return (eff & static_cast<unsigned>(want)) == static_cast<unsigned>(want);
  };
  std::printf("[ isa ] %s; oneDNN effective isa 0x%x\n",
              cpu::IsaSummary(cpu::DetectCpuIsa()).c_str(), eff);
  EXPECT_EQ(run.avx2, has(dnnl::cpu_isa::avx2));
  EXPECT_EQ(run.avx512f, has(dnnl::cpu_isa::avx512_core));
  EXPECT_EQ(run.avx512f && run.avx512_vnni, has(dnnl::cpu_isa::avx512_core_vnni));
  EXPECT_EQ(run.avx512f && run.avx512_bf16, has(dnnl::cpu_isa::avx512_core_bf16));
  EXPECT_EQ(cpu::UsingAvx512(), run.avx512f);
}

// y = x W^T + b in a dtype, against float64; the relative error.
double LinearError(Backend* b) {
  const int64_t K = 384, N = 96, m = 37;
  std::mt19937 rng(7);
  std::normal_distribution<float> d(0.f, 1.f);
  std::vector<float> w(N * K), bias(N), x(b->RoundUpRows(m) * K);
  for (auto& v : w) v = 0.05f * d(rng);
  for (auto& v : bias) v = d(rng);
  for (auto& v : x) v = d(rng);
  double worst = 0;
  for (LinearPrecision p :
       {LinearPrecision::kDefault, LinearPrecision::kHigh, LinearPrecision::kNoInt8}) {
    LinearSpec spec;
    spec.weight = w.data();
    spec.bias = bias.data();
    spec.in_features = K;
    spec.out_features = N;
    spec.name = "isa";
    spec.precision = p;
    auto lin = b->CreateLinear(spec);
    EXPECT_TRUE(lin.ok()) << lin.status().ToString();
    if (!lin.ok()) return 1;
    std::vector<float> y(b->RoundUpRows(m) * N);
    EXPECT_TRUE((*lin)
                    ->Forward(HostF32(x.data(), {m, K}, x.size() * 4),
                              HostF32(y.data(), {m, N}, y.size() * 4))
                    .ok());
    worst = std::max(
        worst, RelativeLinearError(x.data(), w.data(), bias.data(), y.data(), m, K, N));
  }
  return worst;
}

// float32 everywhere; bfloat16 and int8 where AVX2 and FMA are left
// (bfloat16 as oneDNN's bf16 products with AVX512_BF16, else as bf16 weights
// with float32 arithmetic: then the error is the weight's rounding, above
// 1e-4, so the weights really are bf16); otherwise refused naming the
// instruction. On aarch64 float32 must run, and the others run where their
// products can (within the same bounds) or are refused naming oneDNN.
TEST(CpuIsaRunTest, EachDtypeRunsWhereTheClassHasItAndIsRefusedElsewhere) {
  const cpu::CpuIsa& run = cpu::RunIsa();
  struct Case {
    ComputeType ct;
    bool can;
    const char* names;
    double bound;
    double floor = 0;
  };
  const bool bf16_products = run.avx512f && run.avx512_bf16;
  for (const Case& c : {Case{ComputeType::kFloat32, true, "", 1e-5},
                        Case{ComputeType::kBFloat16, bf16_products || (run.avx2 && run.fma),
                             run.arm ? "oneDNN" : "AVX2", bf16_products ? 1e-2 : 3e-3,
                             bf16_products ? 0 : 1e-4},
                        Case{ComputeType::kInt8, run.avx2 && run.fma,
                             run.arm ? "oneDNN" : "AVX2", 3e-2}}) {
    RuntimeOptions o;
    o.dtype = std::string(ComputeTypeName(c.ct));
    auto b = CreateBackend(o);
    if (!run.arm || c.ct == ComputeType::kFloat32) {
      ASSERT_EQ(b.ok(), c.can) << static_cast<int>(c.ct) << ": "
                               << (b.ok() ? "runs" : b.status().ToString());
    }
    if (!b.ok()) {
      const std::string msg = b.status().ToString();
      EXPECT_EQ(b.status().code(), StatusCode::kFailedPrecondition) << msg;
      EXPECT_NE(msg.find(c.names), std::string::npos) << msg;
      continue;
    }
    const double err = LinearError(b->get());
    std::printf("[ %s ] relative error %.3g\n", cpu::IsaClassName(run).c_str(), err);
    EXPECT_LT(err, c.bound) << static_cast<int>(c.ct);
    if (c.floor > 0) {
      EXPECT_GT(err, c.floor) << static_cast<int>(c.ct);
    }
  }
}

// bfloat16's two paths where the class has AVX512_BF16, whichever this CPU
// picks (NativeBf16Products: AMX or AMD run oneDNN's bf16 products, Intel
// without AMX bf16 weights): each forced by FLOE_CPU_BF16_PRODUCTS runs within
// its rounding; the bf16-weight path's error is the weight's rounding (above
// 1e-4, so the weights really are bf16) and below plain bf16's bound.
// tests/CMakeLists.txt also runs the engine's golden tests on each path.
TEST(CpuIsaRunTest, EachBfloat16PathRunsWhereTheClassHasAvx512Bf16) {
  const cpu::CpuIsa& run = cpu::RunIsa();
  if (!run.avx512f || !run.avx512_bf16) GTEST_SKIP() << "no AVX512_BF16 in this class";
  const char* before = std::getenv("FLOE_CPU_BF16_PRODUCTS");
  const std::optional<std::string> saved =
      before ? std::optional<std::string>(before) : std::nullopt;
  unsetenv("FLOE_CPU_BF16_PRODUCTS");
  EXPECT_EQ(cpu::CpuBackend::NativeBf16Products(), run.amx || run.amd);
  for (const char* path : {"bf16", "bf16w"}) {
    setenv("FLOE_CPU_BF16_PRODUCTS", path, 1);
    const bool native = std::string(path) == "bf16";
    EXPECT_EQ(cpu::CpuBackend::NativeBf16Products(), native) << path;
    RuntimeOptions o;
    o.dtype = "bfloat16";
    auto b = CreateBackend(o);
    ASSERT_TRUE(b.ok()) << path << ": " << b.status().ToString();
    const double err = LinearError(b->get());
    std::printf("[ bfloat16 %s ] relative error %.3g\n", path, err);
    EXPECT_LT(err, native ? 1e-2 : 3e-3) << path;
    if (!native) {
      EXPECT_GT(err, 1e-4) << path;
    }
  }
  if (saved) {
    setenv("FLOE_CPU_BF16_PRODUCTS", saved->c_str(), 1);
  } else {
    unsetenv("FLOE_CPU_BF16_PRODUCTS");
  }
}

}  // namespace
}  // namespace floe
