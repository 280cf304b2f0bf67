// Attention on CUDA (Backend::Attention and Backend::Attend) against the CPU
// backend (float32) by normalised error, with both kernel families: the
// tensor-core kernel (FLOE_CUDA_ATTENTION unset: float16 / bfloat16, H in
// {32, 64, 128}) and the CUDA-core fallback (FLOE_CUDA_ATTENTION=simple).
// Inputs are rounded to the compute type first, so that both backends read
// the same values and the error measured is the kernel's own (P and the
// output rounded to the type, float32 accumulation order).
//
// CudaAttentionChoiceTest checks the kernel choice (host logic) and runs
// everywhere; CudaAttentionTest needs a GPU and skips without one.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/cuda_backend_impl.h"
#include "backend/cuda/kernels.h"
#include "cuda/cuda_test_util.h"

namespace floe {
namespace {

using cuda::AttentionArgs;
using cuda::AttentionKernel;
using cuda::ChooseAttentionKernel;
using cuda_test::Alloc;
using cuda_test::Download;
using cuda_test::MakeBackend;
using cuda_test::Nmse;
using cuda_test::NmseTolerance;
using cuda_test::Random;
using cuda_test::RoundTo;
using cuda_test::ScopedEnv;
using cuda_test::Upload;
using cuda_test::UploadActivations;

// ---- The kernel choice (no GPU needed) ----

// A launch of 12 heads of H over two sequences; the pointers are only
// inspected for alignment, never read.
AttentionArgs ArgsFor(DType dt, int64_t H, uintptr_t address = 0x10000) {
  AttentionArgs a;
  a.dt = dt;
  a.q = a.k = a.v = reinterpret_cast<const void*>(address);
  a.out = reinterpret_cast<void*>(address);
  a.ldq = a.ldk = a.ldv = 3 * 12 * H;
  a.ldo = 12 * H;
  a.num_seqs = 2;
  a.tokens = 100;
  a.max_seqlen = 60;
  a.num_heads = a.num_kv_heads = 12;
  a.head_size = H;
  a.scale = 0.125f;
  return a;
}

TEST(CudaAttentionChoiceTest, TensorCoresForHalfTypesAtHeadSizes32To128) {
  for (DType dt : {DType::kF16, DType::kBF16}) {
    for (int64_t H : {32, 64, 128}) {
      for (int sm : {8, 9}) {
        EXPECT_EQ(ChooseAttentionKernel(ArgsFor(dt, H), true, true, sm),
                  AttentionKernel::kTensorCore)
            << "H " << H << " sm " << sm;
      }
      // Masks and grouped KV heads too (Attend).
      AttentionArgs a = ArgsFor(dt, H);
      a.num_kv_heads = 4;
      a.window_left = 7;
      a.window_right = 0;
      EXPECT_EQ(ChooseAttentionKernel(a, true, true, 9), AttentionKernel::kTensorCore);
    }
  }
}

TEST(CudaAttentionChoiceTest, CudaCoresWhereTensorCoresDoNotApply) {
  const auto choose = [](const AttentionArgs& a, bool tensor = true, bool tiled = true,
                         int sm = 9) { return ChooseAttentionKernel(a, tensor, tiled, sm); };
  EXPECT_EQ(choose(ArgsFor(DType::kF32, 64)), AttentionKernel::kTiled);  // float32
  EXPECT_EQ(choose(ArgsFor(DType::kF32, 128)), AttentionKernel::kWarp);
  EXPECT_EQ(choose(ArgsFor(DType::kF16, 80)), AttentionKernel::kWarp);  // head size
  EXPECT_EQ(choose(ArgsFor(DType::kF16, 16)), AttentionKernel::kWarp);
  EXPECT_EQ(choose(ArgsFor(DType::kF16, 64), false), AttentionKernel::kTiled);  // simple
  EXPECT_EQ(choose(ArgsFor(DType::kF16, 64), false, false), AttentionKernel::kWarp);
  EXPECT_EQ(choose(ArgsFor(DType::kBF16, 128), false), AttentionKernel::kWarp);
  EXPECT_EQ(choose(ArgsFor(DType::kF16, 64), true, true, 7), AttentionKernel::kTiled);  // Volta
  EXPECT_EQ(choose(ArgsFor(DType::kF16, 64), true, true, 0), AttentionKernel::kTiled);
  EXPECT_EQ(choose(ArgsFor(DType::kF16, 64, 0x10008)), AttentionKernel::kTiled);  // alignment
  AttentionArgs odd = ArgsFor(DType::kF16, 64);
  odd.ldq = odd.ldk = odd.ldv = 3 * 12 * 64 + 4;  // rows not 16-byte multiples
  EXPECT_EQ(choose(odd), AttentionKernel::kTiled);
  // A window goes to the warp kernel among the CUDA-core ones, unless it
  // reaches past the longest sequence (then it is no window).
  AttentionArgs causal = ArgsFor(DType::kF16, 64);
  causal.window_right = 0;
  EXPECT_EQ(choose(causal, false), AttentionKernel::kWarp);
  AttentionArgs wide = ArgsFor(DType::kF16, 64);
  wide.window_left = wide.max_seqlen;
  EXPECT_EQ(choose(wide, false), AttentionKernel::kTiled);
}

TEST(CudaAttentionChoiceTest, SwitchIsSimpleOrTensor) {
  {
    ScopedEnv env("FLOE_CUDA_ATTENTION", "simple");
    EXPECT_FALSE(cuda::TensorCoreAttentionFromEnv());
    EXPECT_FALSE(cuda::CudaSwitches{}.tensor_core_attention);
  }
  EXPECT_TRUE(cuda::TensorCoreAttentionFromEnv());  // unset
  for (const char* v : {"tensor", "", "unknown"}) {
    ScopedEnv env("FLOE_CUDA_ATTENTION", v);
    EXPECT_TRUE(cuda::TensorCoreAttentionFromEnv()) << v;
  }
}

// ---- Against the CPU backend (GPU needed) ----

using cuda_test::TypeName;

// One attention problem: Backend::Attention (attend false: BERT's, kv_heads
// = heads, no mask) or Backend::Attend with the rest of the fields.
struct Problem {
  std::vector<int32_t> lengths;
  int64_t heads = 2, kv_heads = 2, head_size = 64;
  float scale = 0.f;  // 0: 1 / sqrt(H)
  bool attend = false;
  bool causal = false;
  int64_t left = -1, right = -1;
  bool qk_norm = false, rotary = false;

  int64_t tokens() const {
    int64_t t = 0;
    for (int32_t l : lengths) t += l;
    return t;
  }
  int64_t width() const { return (heads + 2 * kv_heads) * head_size; }
  std::string Describe() const {
    return std::to_string(lengths.size()) + " sequences, " + std::to_string(heads) + "/" +
           std::to_string(kv_heads) + " heads of " + std::to_string(head_size) +
           (attend ? ", Attend" : ", Attention") + (causal ? ", causal" : "") + ", window " +
           std::to_string(left) + "," + std::to_string(right) + (qk_norm ? ", Q/K norm" : "") +
           (rotary ? ", rotary" : "");
  }
};

// The problem on `be` with inputs qkv ([T, width] float32 values), through
// Attend when `attend` (else Attention, which p must fit); the output as
// float32, empty (and a test failure) when the op fails.
std::vector<float> RunOn(Backend* be, const Problem& p, const std::vector<float>& qkv,
                         bool attend) {
  const int64_t T = p.tokens(), N = p.heads, H = p.head_size;
  std::vector<int32_t> cu = {0};
  int64_t longest = 0;
  for (int32_t l : p.lengths) {
    cu.push_back(cu.back() + l);
    longest = std::max<int64_t>(longest, l);
  }
  auto cu_dev = Upload(be, cu);
  auto in = UploadActivations(be, qkv);
  auto out = Alloc(be, T * N * H * sizeof(float));
  if (!cu_dev || !in || !out) return {};
  const PackedBatch batch{cu.data(), cu_dev->i32(), static_cast<int64_t>(p.lengths.size()), T,
                          longest};
  const TensorView iv = be->Activations(*in, T, p.width());
  const TensorView ov = be->Activations(*out, T, N * H);
  const float scale = p.scale > 0.f ? p.scale : 1.f / std::sqrt(static_cast<float>(H));
  Status s;
  std::unique_ptr<DeviceBuffer> q_norm, k_norm;
  if (!attend) {
    s = be->Attention(iv, batch, N, H, scale, ov);
  } else {
    AttentionSpec spec;
    spec.num_heads = N;
    spec.num_kv_heads = p.kv_heads;
    spec.head_size = H;
    spec.scale = scale;
    spec.causal = p.causal;
    spec.window_left = p.left;
    spec.window_right = p.right;
    if (p.qk_norm) {
      const auto weights = [H](uint32_t seed) {
        std::vector<float> w = Random(H, seed, 0.2f);
        for (float& x : w) x += 1.f;  // around 1, as trained norms are
        return w;
      };
      q_norm = Upload(be, weights(41));
      k_norm = Upload(be, weights(42));
      if (!q_norm || !k_norm) return {};
      spec.q_norm = q_norm->f32();
      spec.k_norm = k_norm->f32();
    }
    RotarySpec rot;
    rot.position_offset = 3;
    if (p.rotary) spec.rotary = &rot;
    s = be->Attend(iv, batch, spec, ov);
  }
  EXPECT_TRUE(s.ok()) << be->device() << ": " << s.ToString();
  if (!s.ok()) return {};
  return Download(be, ov);
}

// The GPU kernel families, as FLOE_CUDA_ATTENTION names them.
constexpr const char* kModes[] = {"tensor", "simple"};

class CudaAttentionTest : public ::testing::TestWithParam<ComputeType> {
 protected:
  void SetUp() override {
    FLOE_SKIP_WITHOUT_GPU();
    cpu_ = MakeBackend("cpu", ComputeType::kFloat32);
    for (int i = 0; i < 2; ++i) {
      ScopedEnv env("FLOE_CUDA_ATTENTION", kModes[i]);
      gpu_[i] = MakeBackend("cuda", GetParam());
    }
    ASSERT_TRUE(cpu_ && gpu_[0] && gpu_[1]);
  }

  // p on both GPU backends against the CPU backend, inputs N(0, sigma^2)
  // rounded to the compute type.
  void Check(const Problem& p, uint32_t seed, float sigma = 1.f) {
    const auto qkv = RoundTo(GetParam(), Random(p.tokens() * p.width(), seed, sigma));
    // The CPU reference is always its Attend (the same result as its
    // Attention where both apply, tests/backend/ops_test.cc): flash-style,
    // O(len H) memory, where its Attention holds len^2 scores per thread
    // (256 MiB at 8192 tokens).
    const auto want = RunOn(cpu_.get(), p, qkv, true);
    ASSERT_EQ(want.size(), static_cast<size_t>(p.tokens() * p.heads * p.head_size));
    for (int i = 0; i < 2; ++i) {
      const auto got = RunOn(gpu_[i].get(), p, qkv, p.attend);
      ASSERT_EQ(got.size(), want.size()) << kModes[i];
      EXPECT_LE(Nmse(got, want), NmseTolerance(GetParam()))
          << p.Describe() << ", sigma " << sigma << ", FLOE_CUDA_ATTENTION=" << kModes[i];
    }
  }

  std::unique_ptr<Backend> cpu_, gpu_[2];
};

// Around the kernels' 64-row tiles: one token, odd lengths, 63 / 64 / 65,
// 511 / 512, all in one packed batch.
TEST_P(CudaAttentionTest, AttentionAtTileEdgeLengthsMatchesCpu) {
  for (int64_t H : {32, 64, 128}) {
    Problem p;
    p.lengths = {1, 17, 33, 63, 64, 65, 511, 512};
    p.head_size = H;
    Check(p, 100 + static_cast<uint32_t>(H));
  }
}

TEST_P(CudaAttentionTest, AttentionOfOne8192TokenSequenceMatchesCpu) {
  for (int64_t H : {64, 128}) {
    Problem p;
    p.lengths = {8192};
    p.heads = p.kv_heads = 1;
    p.head_size = H;
    Check(p, 200 + static_cast<uint32_t>(H));
  }
}

// 80 sequences of 1 to 300 tokens (one block of many short ones, as a
// serving batch is), three heads.
TEST_P(CudaAttentionTest, AttentionOverManyMixedLengthsMatchesCpu) {
  Problem p;
  for (int i = 0; i < 80; ++i) p.lengths.push_back(1 + (i * 7919 + i * i * 31) % 300);
  p.heads = p.kv_heads = 3;
  for (int64_t H : {32, 64, 128}) {
    p.head_size = H;
    Check(p, 300 + static_cast<uint32_t>(H));
  }
}

// Scores of standard deviation ~ 9 sigma^2 sqrt(H) (scale 1, sigma 3): each
// row's softmax is nearly one-hot, the case where a wrong running max or a
// lost rescale shows most.
TEST_P(CudaAttentionTest, SharpSoftmaxMatchesCpu) {
  for (int64_t H : {32, 64, 128}) {
    Problem p;
    p.lengths = {1, 33, 65, 512};
    p.head_size = H;
    p.scale = 1.f;
    Check(p, 400 + static_cast<uint32_t>(H), 3.f);
  }
}

TEST_P(CudaAttentionTest, AttendCausalWindowedAndGroupedMatchesCpu) {
  struct Case {
    int64_t heads, kv_heads;
    bool causal;
    int64_t left, right;
    bool qk_norm, rotary;
  };
  const Case cases[] = {
      {4, 4, true, -1, -1, false, false},   // causal
      {8, 2, true, 31, -1, false, false},   // grouped KV heads, sliding causal window
      {4, 4, false, 64, 64, false, true},   // ModernBERT's local window of 128, rotary
      {4, 1, false, 5, 70, false, false},   // asymmetric window, one KV head
      {8, 2, true, -1, -1, true, true},     // Qwen3: GQA, Q/K norm, rotary
      {6, 3, false, -1, -1, false, false},  // grouped, no mask
  };
  for (int64_t H : {32, 64, 128}) {
    for (const Case& c : cases) {
      Problem p;
      p.lengths = {1, 17, 65, 130, 512};
      p.head_size = H;
      p.attend = true;
      p.heads = c.heads;
      p.kv_heads = c.kv_heads;
      p.causal = c.causal;
      p.left = c.left;
      p.right = c.right;
      p.qk_norm = c.qk_norm;
      p.rotary = c.rotary;
      Check(p, 500 + static_cast<uint32_t>(H + c.heads + c.left));
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Types, CudaAttentionTest,
                         ::testing::Values(ComputeType::kFloat16, ComputeType::kBFloat16,
                                           ComputeType::kFloat32),
                         TypeName);

}  // namespace
}  // namespace floe
