// Helpers of the CUDA tests: skipping without a GPU, backends, uploads and the
// normalised error that ggml's test-backend-ops compares backends by.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "backend/cuda/cuda_backend.h"
#include "core/half.h"
#include "model/config.h"

namespace floe::cuda_test {

// Skips the calling test when the CUDA runtime sees no GPU (this machine, CI).
#define FLOE_SKIP_WITHOUT_GPU()                                               \
  do {                                                                        \
    if (::floe::CudaDeviceCount() == 0) GTEST_SKIP() << "no CUDA GPU present"; \
  } while (0)

// Sets an environment switch for the lifetime of the object (backends read
// them when created).
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) { setenv(name, value, 1); }
  ~ScopedEnv() { unsetenv(name_); }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  const char* name_;
};

// v with every value rounded to the compute type (float16, bfloat16) and
// back, so that a backend that stores activations in it reads the same
// inputs as a float32 reference does.
inline std::vector<float> RoundTo(ComputeType t, std::vector<float> v) {
  for (float& x : v) {
    if (t == ComputeType::kFloat16) x = HalfToFloat(FloatToHalf(x));
    if (t == ComputeType::kBFloat16) x = BFloat16ToFloat(FloatToBFloat16(x));
  }
  return v;
}

inline std::vector<float> Random(size_t n, uint32_t seed, float scale = 1.f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.f, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

// Sum of squared differences over the sum of squares of the reference.
inline double Nmse(const std::vector<float>& got, const std::vector<float>& want) {
  double num = 0, den = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    const double d = static_cast<double>(got[i]) - want[i];
    num += d * d;
    den += static_cast<double>(want[i]) * want[i];
  }
  if (!std::isfinite(num)) return INFINITY;
  return den == 0 ? num : num / den;
}

// Tolerance on Nmse per compute type: a few roundings of the activations to
// the type (2^-24, 2^-11, 2^-8 relative) and float32 accumulation.
inline double NmseTolerance(ComputeType t) {
  switch (t) {
    case ComputeType::kFloat32: return 1e-9;
    case ComputeType::kFloat16: return 2e-5;
    case ComputeType::kBFloat16: return 2e-4;
    default: return 0;
  }
}

inline std::unique_ptr<Backend> MakeBackend(const std::string& device, ComputeType t) {
  RuntimeOptions o;
  o.device = device;
  o.dtype = std::string(ComputeTypeName(t));
  auto b = CreateBackend(o);
  EXPECT_TRUE(b.ok()) << b.status().ToString();
  return b.ok() ? std::move(b).value() : nullptr;
}

inline std::unique_ptr<DeviceBuffer> Alloc(Backend* be, size_t bytes) {
  auto b = be->Allocate(bytes);
  EXPECT_TRUE(b.ok()) << b.status().ToString();
  return b.ok() ? std::move(b).value() : nullptr;
}

// A device buffer holding `host` as raw bytes (weights, tables, ids).
template <typename T>
std::unique_ptr<DeviceBuffer> Upload(Backend* be, const std::vector<T>& host) {
  auto buf = Alloc(be, host.size() * sizeof(T));
  if (buf) {
    EXPECT_TRUE(be->CopyToDevice(host.data(), host.size() * sizeof(T), buf->data()).ok());
  }
  return buf;
}

// A device buffer holding `host` as activations: float32 on the CPU,
// converted to the compute type on CUDA (Backend::CopyToDevice of a view).
inline std::unique_ptr<DeviceBuffer> UploadActivations(Backend* be,
                                                       const std::vector<float>& host) {
  auto buf = Alloc(be, host.size() * sizeof(float));
  if (!buf) return nullptr;
  const TensorView v =
      be->View(*buf, be->activation_dtype(), {static_cast<int64_t>(host.size())});
  const Status s = be->CopyToDevice(host.data(), v);
  EXPECT_TRUE(s.ok()) << s.ToString();
  return buf;
}

// The values of a view as float32 (converted from float16 / bfloat16).
inline std::vector<float> Download(Backend* be, const TensorView& v) {
  std::vector<float> host(v.numel(), NAN);
  const Status s = be->CopyToHost(v, host.data());
  EXPECT_TRUE(s.ok()) << s.ToString();
  return host;
}

// `count` float32 values, copied as bytes (Pool's output).
inline std::vector<float> Download(Backend* be, void* device, size_t count) {
  std::vector<float> v(count, NAN);
  const Status s = be->CopyToHost(device, count * sizeof(float), v.data());
  EXPECT_TRUE(s.ok()) << s.ToString();
  return v;
}

// A product's spec over host vectors (they must outlive CreateLinear).
inline LinearSpec MakeLinearSpec(const std::vector<float>& w, const std::vector<float>& bias,
                                 int64_t k, int64_t n, Activation act, bool accumulate,
                                 const char* name) {
  LinearSpec s;
  s.weight = w.data();
  s.bias = bias.data();
  s.in_features = k;
  s.out_features = n;
  s.activation = act;
  s.accumulate = accumulate;
  s.name = name;
  return s;
}

// The smallest cosine to float32 the CUDA backend holds on the base-shaped
// random model (bertref.py --preset base: near-hard attention, scores of std
// ~17), per compute type, as bench/cuda_qkv_precision.py emulates it
// (docs/cuda.md "Q/K/V in float32"): float16 with float32 Q/K/V 0.9996 at
// 506 tokens, so 0.999; bfloat16 0.983-0.985 with any Q/K/V scheme (its other
// products' bf16 rounding costs that much, on the CPU too:
// docs/cpu-performance.md), so 0.98; float32 0.99999.
inline double BaseModelMinCosine(ComputeType t) {
  switch (t) {
    case ComputeType::kFloat16: return 0.999;
    case ComputeType::kBFloat16: return 0.98;
    default: return 0.99999;
  }
}

// The backend's pooling for a model folder's sentence-transformers pooling.
inline PoolKind PoolFor(PoolingMode m) {
  switch (m) {
    case PoolingMode::kCls: return PoolKind::kCls;
    case PoolingMode::kMean: return PoolKind::kMean;
    case PoolingMode::kMax: return PoolKind::kMax;
    case PoolingMode::kLastToken: return PoolKind::kLastToken;
  }
  return PoolKind::kCls;
}

// The same packed batch on two backends (the CPU reference and the GPU).
struct Batch {
  std::vector<int32_t> cu;
  std::unique_ptr<DeviceBuffer> cpu_cu, gpu_cu;
  PackedBatch cpu, gpu;
};

inline Batch MakeBatch(Backend* cpu, Backend* gpu, std::vector<int32_t> cu) {
  Batch b;
  b.cu = std::move(cu);
  b.cpu_cu = Upload(cpu, b.cu);
  b.gpu_cu = Upload(gpu, b.cu);
  int64_t longest = 0;
  for (size_t i = 0; i + 1 < b.cu.size(); ++i) {
    longest = std::max<int64_t>(longest, b.cu[i + 1] - b.cu[i]);
  }
  const int64_t B = static_cast<int64_t>(b.cu.size()) - 1;
  b.cpu = PackedBatch{b.cu.data(), b.cpu_cu->i32(), B, b.cu.back(), longest};
  b.gpu = PackedBatch{b.cu.data(), b.gpu_cu->i32(), B, b.cu.back(), longest};
  return b;
}

// The name of a test instance parametrised by the compute type ("float16", ...).
inline std::string TypeName(const ::testing::TestParamInfo<ComputeType>& info) {
  return std::string(ComputeTypeName(info.param));
}

// The fixture of the GPU tests that compare with the CPU backend, parametrised by the
// CUDA compute type: SetUp skips without a GPU and makes the float32 CPU backend (cpu_)
// and, with kWithGpu, the CUDA backend of the parameter's type (gpu_); tol() is the
// normalised-error bound of that type.
template <bool kWithGpu>
class CpuReferenceTest : public ::testing::TestWithParam<ComputeType> {
 protected:
  void SetUp() override {
    FLOE_SKIP_WITHOUT_GPU();
    cpu_ = MakeBackend("cpu", ComputeType::kFloat32);
    if (kWithGpu) gpu_ = MakeBackend("cuda", GetParam());
    ASSERT_TRUE(cpu_ && (!kWithGpu || gpu_));
  }
  double tol() const { return NmseTolerance(GetParam()); }
  std::unique_ptr<Backend> cpu_, gpu_;
};

}  // namespace floe::cuda_test
