// The ops of backend/ops.h on every backend of this build against naive
// float64 references written here, on odd shapes (T = 1, 7, 33, 150; 3 heads
// of 40; grouped KV heads 6 / 2 and 6 / 1), by normalised mean squared error
// per dtype as ggml's test-backend-ops does: NMSE = sum (y - ref)^2 /
// sum ref^2. The CUDA backend is tested in a -DFLOE_CUDA=ON build and skipped
// without a GPU (or, for an op it does not implement yet, with a message).
#include "backend/ops.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "backend/backend.h"

namespace floe {
namespace {

using Vec = std::vector<float>;

// Ops compute in float32 whatever the compute type (only products follow it).
constexpr double kMaxNmseF32 = 1e-10;

Vec Random(size_t n, uint32_t seed, float lo = -1.f, float hi = 1.f) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  Vec v(n);
  for (float& x : v) x = dist(gen);
  return v;
}

double Nmse(const Vec& y, const std::vector<double>& ref) {
  EXPECT_EQ(y.size(), ref.size());
  double num = 0, den = 0;
  for (size_t i = 0; i < ref.size() && i < y.size(); ++i) {
    num += (y[i] - ref[i]) * (y[i] - ref[i]);
    den += ref[i] * ref[i];
  }
  return den > 0 ? num / den : num;
}

double ActRef(double x, Activation a) {
  switch (a) {
    case Activation::kSilu:
      return x / (1 + std::exp(-x));
    case Activation::kGeluErf:
      return 0.5 * x * (1 + std::erf(x / std::sqrt(2.0)));
    case Activation::kGeluTanh:
      return 0.5 * x * (1 + std::tanh(std::sqrt(2 / M_PI) * (x + 0.044715 * x * x * x)));
    case Activation::kRelu:
      return x > 0 ? x : 0;
    case Activation::kNone:
      break;
  }
  return x;
}

// A packed batch of the given lengths, host copy and device copy.
struct Batch {
  std::vector<int32_t> cu;
  std::unique_ptr<DeviceBuffer> cu_dev;
  PackedBatch packed;
};

// One backend of the build ("cpu", "cuda") with device-memory helpers.
struct AttendCase;

class OpsTest : public ::testing::TestWithParam<std::string> {
 protected:
  // Attend on sequences of `lengths`, head size H, each case against AttendRef.
  void CheckAttend(const std::vector<int32_t>& lengths, int64_t H,
                   const std::vector<AttendCase>& cases);
  void SetUp() override {
    RuntimeOptions opt;
    opt.device = GetParam();
    auto b = CreateBackend(opt);
    if (!b.ok()) {
      if (GetParam() != "cpu" && b.status().code() == StatusCode::kFailedPrecondition) {
        GTEST_SKIP() << GetParam() << ": " << b.status().message();
      }
      FAIL() << b.status().message();
    }
    backend_ = std::move(b).value();
  }

  float* Upload(const Vec& host) {
    auto buf = backend_->Allocate(std::max<size_t>(1, host.size()) * sizeof(float));
    EXPECT_TRUE(buf.ok());
    float* p = (*buf)->f32();
    EXPECT_TRUE(backend_->CopyToDevice(host.data(), host.size() * sizeof(float), p).ok());
    buffers_.push_back(std::move(buf).value());
    return p;
  }
  // A float32 view of this backend's memory (the backends here compute in
  // float32).
  TensorView V(const float* p, std::initializer_list<int64_t> dims) const {
    return TensorView(p, DType::kF32, backend_->tensor_device(), dims);
  }
  Vec Download(const float* dev, size_t n) {
    Vec host(n);
    EXPECT_TRUE(backend_->CopyToHost(dev, n * sizeof(float), host.data()).ok());
    return host;
  }
  std::unique_ptr<Batch> MakeBatch(const std::vector<int32_t>& lens) {
    auto b = std::make_unique<Batch>();
    b->cu.push_back(0);
    int64_t mx = 0;
    for (int32_t l : lens) {
      b->cu.push_back(b->cu.back() + l);
      mx = std::max<int64_t>(mx, l);
    }
    auto buf = backend_->Allocate(b->cu.size() * sizeof(int32_t));
    EXPECT_TRUE(buf.ok());
    b->cu_dev = std::move(buf).value();
    EXPECT_TRUE(
        backend_->CopyToDevice(b->cu.data(), b->cu.size() * 4, b->cu_dev->data()).ok());
    b->packed.cu_seqlens_host = b->cu.data();
    b->packed.cu_seqlens_device = b->cu_dev->i32();
    b->packed.num_seqs = static_cast<int64_t>(lens.size());
    b->packed.total_tokens = b->cu.back();
    b->packed.max_seqlen = mx;
    return b;
  }
  // UNIMPLEMENTED on a device other than the CPU skips (the CUDA ops come
  // with the GPU issue); anything else not OK fails.
  bool Ran(const Status& s) {
    if (s.code() == StatusCode::kUnimplemented && GetParam() != "cpu") {
      skipped_ = s.message();
      return false;
    }
    EXPECT_TRUE(s.ok()) << s.message();
    return s.ok();
  }
  void TearDown() override {
    if (!skipped_.empty()) std::cout << "[ skipped  ] " << skipped_ << "\n";
  }

  std::unique_ptr<Backend> backend_;
  std::vector<std::unique_ptr<DeviceBuffer>> buffers_;
  std::string skipped_;
};

TEST_P(OpsTest, RmsNorm) {
  for (int64_t rows : {1, 7, 33}) {
    for (int64_t hidden : {40, 129}) {
      for (int variant = 0; variant < 4; ++variant) {
        const Vec x = Random(rows * hidden, 1 + rows + hidden);
        const Vec w = Random(hidden, 2, 0.5f, 1.5f), bias = Random(hidden, 3);
        RmsNormSpec spec;
        spec.hidden = hidden;
        spec.eps = 1e-5f;
        spec.weight = variant >= 1 ? Upload(w) : nullptr;
        spec.bias = variant >= 2 ? Upload(bias) : nullptr;
        spec.weight_offset = variant == 3 ? 1.f : 0.f;
        float* dx = Upload(x);
        if (!Ran(backend_->RmsNorm(V(dx, {rows, hidden}), spec))) return;
        std::vector<double> ref(x.size());
        for (int64_t r = 0; r < rows; ++r) {
          double ss = 0;
          for (int64_t i = 0; i < hidden; ++i)
            ss += double(x[r * hidden + i]) * x[r * hidden + i];
          const double inv = 1 / std::sqrt(ss / hidden + 1e-5);
          for (int64_t i = 0; i < hidden; ++i) {
            double y = x[r * hidden + i] * inv;
            if (variant >= 1) y *= w[i] + spec.weight_offset;
            if (variant >= 2) y += bias[i];
            ref[r * hidden + i] = y;
          }
        }
        EXPECT_LT(Nmse(Download(dx, x.size()), ref), kMaxNmseF32)
            << rows << "x" << hidden << " variant " << variant;
      }
    }
  }
}

const Activation kActs[] = {Activation::kSilu, Activation::kGeluErf,
                            Activation::kGeluTanh, Activation::kRelu};

TEST_P(OpsTest, ActivateAndGated) {
  for (Activation act : kActs) {
    for (int64_t rows : {1, 7, 33}) {
      for (int64_t inner : {40, 37}) {
        const Vec x = Random(rows * 2 * inner, 7 + rows, -4.f, 4.f);
        float* dx = Upload(x);
        float* dout = Upload(Vec(rows * inner));
        if (!Ran(backend_->GatedActivation(V(dx, {rows, 2 * inner}), act,
                                           V(dout, {rows, inner}))))
          return;
        std::vector<double> ref(rows * inner);
        for (int64_t r = 0; r < rows; ++r) {
          for (int64_t i = 0; i < inner; ++i) {
            ref[r * inner + i] =
                ActRef(x[r * 2 * inner + i], act) * x[r * 2 * inner + inner + i];
          }
        }
        EXPECT_LT(Nmse(Download(dout, ref.size()), ref), kMaxNmseF32)
            << "gated " << static_cast<int>(act) << " " << rows << "x" << inner;
        if (!Ran(backend_->Activate(V(dx, {static_cast<int64_t>(x.size())}), act)))
          return;
        std::vector<double> aref(x.size());
        for (size_t i = 0; i < x.size(); ++i) aref[i] = ActRef(x[i], act);
        EXPECT_LT(Nmse(Download(dx, x.size()), aref), kMaxNmseF32)
            << "activate " << static_cast<int>(act);
      }
    }
  }
}

// Rotates heads of one row (double) as backend/ops.h defines it.
void RotateRef(std::vector<double>& head, int64_t pos, const RotarySpec& s) {
  const int64_t dims = RotaryDims(s, static_cast<int64_t>(head.size())), half = dims / 2;
  for (int64_t i = 0; i < half; ++i) {
    const double angle = pos * s.position_scale * std::pow(s.base, -2.0 * i / dims);
    const double c = std::cos(angle), sn = std::sin(angle);
    const int64_t a = s.layout == RotaryLayout::kHalfSplit ? i : 2 * i;
    const int64_t b = s.layout == RotaryLayout::kHalfSplit ? i + half : 2 * i + 1;
    const double xa = head[a], xb = head[b];
    head[a] = xa * c - xb * sn;
    head[b] = xb * c + xa * sn;
  }
}

TEST_P(OpsTest, Rotary) {
  const int64_t H = 40, heads = 3, ld = 5 * H;  // 3 rotated heads inside wider rows
  auto batch = MakeBatch({1, 7, 33});
  const int64_t T = batch->packed.total_tokens;
  for (RotaryLayout layout : {RotaryLayout::kHalfSplit, RotaryLayout::kInterleaved}) {
    for (int64_t dims : {0, 24}) {
      for (int64_t offset : {0, 5}) {
        RotarySpec spec;
        spec.layout = layout;
        spec.rotary_dims = dims;
        spec.base = dims == 0 ? 10000.0 : 1e6;
        spec.position_offset = offset;
        spec.position_scale = offset == 5 ? 0.25 : 1.0;
        const Vec x = Random(T * ld, 11 + dims + offset);
        float* dx = Upload(x);
        if (!Ran(backend_->Rotary(V(dx, {T, ld}), heads, H, batch->packed, spec))) return;
        std::vector<double> ref(x.begin(), x.end());
        for (int64_t b = 0; b < batch->packed.num_seqs; ++b) {
          for (int64_t t = batch->cu[b]; t < batch->cu[b + 1]; ++t) {
            for (int64_t h = 0; h < heads; ++h) {
              std::vector<double> head(ref.begin() + t * ld + h * H,
                                       ref.begin() + t * ld + (h + 1) * H);
              RotateRef(head, t - batch->cu[b] + offset, spec);
              std::copy(head.begin(), head.end(), ref.begin() + t * ld + h * H);
            }
          }
        }
        EXPECT_LT(Nmse(Download(dx, x.size()), ref), kMaxNmseF32)
            << "layout " << static_cast<int>(layout) << " dims " << dims << " offset "
            << offset;
      }
    }
  }
}

// Naive attention in double: per sequence, query head, query row.
std::vector<double> AttendRef(const Vec& qkv, const std::vector<int32_t>& cu,
                              const AttentionSpec& s, const Vec& qn, const Vec& kn) {
  const int64_t N = s.num_heads, Nkv = KvHeads(s), H = s.head_size,
                ld = (N + 2 * Nkv) * H;
  const double scale = s.scale > 0 ? s.scale : 1 / std::sqrt(double(H));
  const int64_t right = s.causal ? 0 : s.window_right;
  std::vector<double> out(cu.back() * N * H, 0.0);
  auto head = [&](int64_t t, int64_t col, int64_t pos, const Vec& norm) {
    std::vector<double> v(qkv.begin() + t * ld + col, qkv.begin() + t * ld + col + H);
    if (!norm.empty()) {
      double ss = 0;
      for (double e : v) ss += e * e;
      const double inv = 1 / std::sqrt(ss / H + s.qk_norm_eps);
      for (int64_t i = 0; i < H; ++i) v[i] *= inv * norm[i];
    }
    if (s.rotary != nullptr) RotateRef(v, pos + s.rotary->position_offset, *s.rotary);
    return v;
  };
  for (size_t b = 0; b + 1 < cu.size(); ++b) {
    const int64_t start = cu[b], len = cu[b + 1] - cu[b];
    for (int64_t h = 0; h < N; ++h) {
      const int64_t kvh = h / (N / Nkv);
      for (int64_t i = 0; i < len; ++i) {
        const auto q = head(start + i, h * H, i, qn);
        std::vector<double> w(len, 0.0);
        double mx = -1e300, sum = 0;
        for (int64_t j = 0; j < len; ++j) {
          if ((s.window_left >= 0 && j < i - s.window_left) ||
              (right >= 0 && j > i + right)) {
            continue;
          }
          const auto k = head(start + j, (N + kvh) * H, j, kn);
          double dot = 0;
          for (int64_t e = 0; e < H; ++e) dot += q[e] * k[e];
          w[j] = dot * scale;
          mx = std::max(mx, w[j]);
        }
        for (int64_t j = 0; j < len; ++j) {
          const bool in = !((s.window_left >= 0 && j < i - s.window_left) ||
                            (right >= 0 && j > i + right));
          w[j] = in ? std::exp(w[j] - mx) : 0.0;
          sum += w[j];
        }
        for (int64_t j = 0; j < len; ++j) {
          if (w[j] == 0.0) continue;
          const float* v = qkv.data() + (start + j) * ld + (N + Nkv + kvh) * H;
          for (int64_t e = 0; e < H; ++e)
            out[(start + i) * N * H + h * H + e] += w[j] / sum * v[e];
        }
      }
    }
  }
  return out;
}

struct AttendCase {
  int64_t heads, kv_heads;
  bool causal;
  int64_t left, right;
  bool qk_norm, rotary;
};

TEST_P(OpsTest, Attend) {
  CheckAttend({1, 7, 33, 150}, 40, {
      {3, 0, false, -1, -1, false, false},  // BERT's
      {3, 3, true, -1, -1, false, false},   // causal
      {3, 3, false, 8, 8, false, true},     // ModernBERT's local window, rotary
      {6, 2, true, 15, -1, true, true},     // GQA, sliding causal, Qwen3's Q/K norm
      {6, 1, false, -1, -1, true, false},   // one KV head
      {6, 2, false, 70, 3, false, true},    // asymmetric window across query blocks
  });
}

// Past the kernel's query (128) and key (256) blocks: lengths that are no
// multiple of either, one token alone, windows that drop whole key blocks.
TEST_P(OpsTest, AttendLongAcrossBlocks) {
  CheckAttend({1, 259, 531}, 40, {
      {2, 0, false, -1, -1, false, false},  // full
      {4, 2, true, -1, -1, true, true},     // causal GQA, Q/K norm, rotary
      {4, 1, true, 300, -1, false, false},  // sliding causal wider than a key block
      {2, 2, false, 40, 130, false, true},  // asymmetric window
  });
}

void OpsTest::CheckAttend(const std::vector<int32_t>& lengths, int64_t H,
                          const std::vector<AttendCase>& cases) {
  auto batch = MakeBatch(lengths);
  const int64_t T = batch->packed.total_tokens;
  for (const AttendCase& c : cases) {
    AttentionSpec spec;
    spec.num_heads = c.heads;
    spec.num_kv_heads = c.kv_heads;
    spec.head_size = H;
    spec.causal = c.causal;
    spec.window_left = c.left;
    spec.window_right = c.right;
    RotarySpec rot;
    rot.base = 10000.0;
    rot.rotary_dims = 32;
    rot.position_offset = 2;
    if (c.rotary) spec.rotary = &rot;
    Vec qn, kn;
    if (c.qk_norm) {
      qn = Random(H, 21, 0.5f, 1.5f);
      kn = Random(H, 22, 0.5f, 1.5f);
      spec.q_norm = Upload(qn);
      spec.k_norm = Upload(kn);
    }
    const Vec qkv =
        Random(T * (c.heads + 2 * KvHeads(spec)) * H, 31 + c.heads + c.left, -2.f, 2.f);
    float* dqkv = Upload(qkv);
    float* dout = Upload(Vec(T * c.heads * H));
    const int64_t width = (c.heads + 2 * KvHeads(spec)) * H;
    if (!Ran(backend_->Attend(V(dqkv, {T, width}), batch->packed, spec,
                              V(dout, {T, c.heads * H}))))
      return;
    const auto ref = AttendRef(qkv, batch->cu, spec, qn, kn);
    EXPECT_LT(Nmse(Download(dout, ref.size()), ref), kMaxNmseF32)
        << c.heads << "/" << c.kv_heads << " causal " << c.causal << " window " << c.left
        << "," << c.right;
    if (c.kv_heads == 0 && !c.rotary) {
      // The plain case is the BERT op's.
      float* dold = Upload(Vec(T * c.heads * H));
      ASSERT_TRUE(backend_
                      ->Attention(V(dqkv, {T, width}), batch->packed, c.heads, H,
                                  1.f / std::sqrt(float(H)), V(dold, {T, c.heads * H}))
                      .ok());
      EXPECT_LT(Nmse(Download(dold, ref.size()), ref), kMaxNmseF32);
    }
  }
}

TEST_P(OpsTest, BadInputsAreInvalidArgument) {
  auto batch = MakeBatch({3, 4});
  float* x = Upload(Vec(7 * 3 * 3 * 40));
  float* out = Upload(Vec(7 * 3 * 40));
  AttentionSpec spec;
  spec.num_heads = 3;
  spec.num_kv_heads = 2;  // does not divide
  spec.head_size = 40;
  auto code = [](const Status& s) { return s.code(); };
  spec.num_kv_heads = 3;
  const TensorView qkv = V(x, {7, 3 * 3 * 40}), o = V(out, {7, 3 * 40});
  if (!Ran(backend_->Attend(qkv, batch->packed, spec, o))) return;
  spec.num_kv_heads = 2;
  EXPECT_EQ(code(backend_->Attend(qkv, batch->packed, spec, o)),
            StatusCode::kInvalidArgument);
  spec.num_kv_heads = 3;
  EXPECT_EQ(code(backend_->Attend(V(nullptr, {7, 3 * 3 * 40}), batch->packed, spec, o)),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(code(backend_->Attend(qkv, batch->packed, spec, V(x, {7, 3 * 40}))),
            StatusCode::kInvalidArgument);
  RotarySpec odd;
  odd.rotary_dims = 7;
  spec.rotary = &odd;
  EXPECT_EQ(code(backend_->Attend(qkv, batch->packed, spec, o)),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(code(backend_->Rotary(V(x, {7, 40}), 3, 40, batch->packed, RotarySpec{})),
            StatusCode::kInvalidArgument);  // 3 heads of 40 in rows of 40
  EXPECT_EQ(
      code(backend_->GatedActivation(V(x, {7, 80}), Activation::kNone, V(out, {7, 40}))),
      StatusCode::kInvalidArgument);
  EXPECT_EQ(code(backend_->GatedActivation(V(x, {7, 80}), Activation::kSilu,
                                           V(x + 10, {7, 40}))),
            StatusCode::kInvalidArgument);
  RmsNormSpec norm;
  norm.hidden = 0;
  EXPECT_EQ(code(backend_->RmsNorm(V(x, {7, 40}), norm)), StatusCode::kInvalidArgument);
  PackedBatch broken = batch->packed;
  broken.total_tokens = 8;  // cu_seqlens end at 7
  EXPECT_EQ(code(backend_->Rotary(V(x, {8, 120}), 3, 40, broken, RotarySpec{})),
            StatusCode::kInvalidArgument);
}

std::vector<std::string> Devices() {
#ifdef FLOE_CUDA
  return {"cpu", "cuda"};
#else
  return {"cpu"};
#endif
}

INSTANTIATE_TEST_SUITE_P(Backends, OpsTest, ::testing::ValuesIn(Devices()),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace floe
