// Every Backend op refuses a view of the wrong element type, of the wrong
// device or of a shape that does not fit its batch or spec, with a Status
// naming the op and the argument, before any work (ggml's test-backend-ops
// spirit: one table of ops, run on each backend). Shared by
// tests/backend/tensor_view_test.cc (CPU) and tests/cuda (each compute type;
// skipped without a GPU).
#pragma once

#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "backend/backend.h"

namespace floe::view_test {

// One argument of one op: the op run with that argument replaced, the good
// view, and a view of a shape the op must refuse (none: any shape fits).
struct ViewCase {
  std::string op;   // as the op's errors name it
  std::string arg;  // the argument's name in them
  TensorView good;
  std::function<Status(const TensorView&)> run;
  bool has_bad_shape = false;
  TensorView bad_shape;
};

// The memory and batch the cases run on (T = 7 tokens in 2 sequences, D = 8
// as 2 heads of 4, FFN inner size 6), all on `be`.
class ViewFixture {
 public:
  explicit ViewFixture(Backend* be) : be_(be) {
    cu_ = {0, 3, 7};
    ids_ = Upload(std::vector<int32_t>{1, 2, 3, 4, 5, 6, 7});
    cu_dev_ = Upload(cu_);
    batch_.cu_seqlens_host = cu_.data();
    batch_.cu_seqlens_device = static_cast<const int32_t*>(cu_dev_->data());
    batch_.num_seqs = kB;
    batch_.total_tokens = kT;
    batch_.max_seqlen = 4;
    for (auto* t : {&word_, &position_, &token_type_}) {
      *t = Upload(std::vector<float>(10 * kD, 0.1f));
    }
    gamma_ = Upload(std::vector<float>(kD, 1.f));
    beta_ = Upload(std::vector<float>(kD, 0.f));
  }

  static constexpr int64_t kT = 7, kB = 2, kD = 8, kHeads = 2, kH = 4, kI = 6;

  // Device memory for `bytes`, zeroed.
  DeviceBuffer* Buffer(size_t bytes) {
    auto b = be_->Allocate(bytes);
    EXPECT_TRUE(b.ok()) << b.status().ToString();
    buffers_.push_back(std::move(b).value());
    return buffers_.back().get();
  }
  // [rows, cols] activations in a fresh buffer with room for 64 rows.
  TensorView Acts(int64_t rows, int64_t cols) {
    return be_->Activations(*Buffer(64 * cols * 4), rows, cols);
  }

  std::vector<ViewCase> Cases() {
    std::vector<ViewCase> cases;
    Backend* be = be_;
    const PackedBatch batch = batch_;
    const TensorView h = Acts(kT, kD);
    const TensorView qkv = Acts(kT, 3 * kD), ctx = Acts(kT, kD);
    const TensorView pooled = be->View(*Buffer(kB * kD * 4), DType::kF32, {kB, kD});
    const float* gamma = static_cast<const float*>(gamma_->data());
    const float* beta = static_cast<const float*>(beta_->data());
    EmbeddingTables tables;
    tables.word = static_cast<const float*>(word_->data());
    tables.position = static_cast<const float*>(position_->data());
    tables.token_type = static_cast<const float*>(token_type_->data());
    tables.gamma = gamma;
    tables.beta = beta;
    const int32_t* ids = static_cast<const int32_t*>(ids_->data());
    const auto add = [&](std::string op, std::string arg, TensorView good,
                         std::function<Status(const TensorView&)> run,
                         const TensorView* bad) {
      ViewCase c;
      c.op = std::move(op);
      c.arg = std::move(arg);
      c.good = good;
      c.run = std::move(run);
      if (bad != nullptr) {
        c.has_bad_shape = true;
        c.bad_shape = *bad;
      }
      cases.push_back(std::move(c));
    };
    const TensorView h_short = h.Rows(0, kT - 1);  // one token short of the batch
    add(
        "EmbedLayerNorm", "out", h,
        [=](const TensorView& v) {
          return be->EmbedLayerNorm(ids, batch, tables, 1e-5f, v);
        },
        &h_short);
    const TensorView flat(h.data, h.dtype, h.device, {kT * kD});
    add(
        "LayerNorm", "x", h,
        [=](const TensorView& v) { return be->LayerNorm(v, gamma, beta, 1e-5f); }, &flat);
    TensorView qkv_bad = qkv;
    qkv_bad.shape[1] = 2 * kD;  // Q | K only
    const float scale = 0.5f;
    add(
        "Attention", "qkv", qkv,
        [=](const TensorView& v) {
          return be->Attention(v, batch, kHeads, kH, scale, ctx);
        },
        &qkv_bad);
    add(
        "Attention", "out", ctx,
        [=](const TensorView& v) {
          return be->Attention(qkv, batch, kHeads, kH, scale, v);
        },
        &h_short);
    add(
        "Pool", "hidden", h,
        [=](const TensorView& v) { return be->Pool(v, batch, PoolKind::kMean, pooled); },
        &h_short);
    TensorView pooled_bad = pooled;
    pooled_bad.shape[1] = kD - 1;
    add(
        "Pool", "out", pooled,
        [=](const TensorView& v) { return be->Pool(h, batch, PoolKind::kMean, v); },
        &pooled_bad);
    RmsNormSpec norm;
    norm.hidden = kD;
    const TensorView h_wide = Acts(kT, kD + 1);
    add(
        "rms_norm", "x", h, [=](const TensorView& v) { return be->RmsNorm(v, norm); },
        &h_wide);
    add(
        "activate", "x", h,
        [=](const TensorView& v) { return be->Activate(v, Activation::kSilu); }, nullptr);
    const TensorView gate_up = Acts(kT, 2 * kI), inner = Acts(kT, kI);
    const TensorView inner_wide = Acts(kT, kI + 1);
    add(
        "gated_activation", "x", gate_up,
        [=](const TensorView& v) {
          return be->GatedActivation(v, Activation::kSilu, inner);
        },
        &inner_wide);  // 2 x 3.5 columns: no [gate | up]
    add(
        "gated_activation", "out", inner,
        [=](const TensorView& v) {
          return be->GatedActivation(gate_up, Activation::kSilu, v);
        },
        &inner_wide);
    RotarySpec rot;
    add(
        "rotary", "x", qkv,
        [=](const TensorView& v) { return be->Rotary(v, kHeads, kH, batch, rot); },
        &h_short);
    AttentionSpec spec;
    spec.num_heads = kHeads;
    spec.head_size = kH;
    add(
        "attention", "qkv", qkv,
        [=](const TensorView& v) { return be->Attend(v, batch, spec, ctx); }, &qkv_bad);
    add(
        "attention", "out", ctx,
        [=](const TensorView& v) { return be->Attend(qkv, batch, spec, v); }, &h_short);
    LinearSpec ls;
    ls.weight = weight_.data();
    ls.in_features = kD;
    ls.out_features = kI;
    ls.name = "view_test";
    auto lin = be->CreateLinear(ls);
    EXPECT_TRUE(lin.ok()) << lin.status().ToString();
    if (lin.ok()) {
      std::shared_ptr<LinearOp> op = std::move(lin).value();
      const TensorView y = Acts(kT, kI);
      add(
          "linear view_test", "x", h,
          [=](const TensorView& v) { return op->Forward(v, y); }, &h_wide);
      add(
          "linear view_test", "y", y,
          [=](const TensorView& v) { return op->Forward(h, v); }, &inner_wide);
    }
    return cases;
  }

 private:
  template <typename T>
  std::unique_ptr<DeviceBuffer> Upload(const std::vector<T>& host) {
    auto b = be_->Allocate(host.size() * sizeof(T));
    EXPECT_TRUE(b.ok()) << b.status().ToString();
    EXPECT_TRUE(
        be_->CopyToDevice(host.data(), host.size() * sizeof(T), (*b)->data()).ok());
    return std::move(b).value();
  }

  Backend* be_;
  std::vector<int32_t> cu_;
  PackedBatch batch_;
  std::vector<float> weight_ = std::vector<float>(kI * kD, 0.01f);
  std::unique_ptr<DeviceBuffer> ids_, cu_dev_, word_, position_, token_type_, gamma_,
      beta_;
  std::vector<std::unique_ptr<DeviceBuffer>> buffers_;
};

// Runs every case on `be`: the good views run (or the op is UNIMPLEMENTED
// there: skipped, named in `skipped`), then another element type is
// FAILED_PRECONDITION, another device and the bad shape INVALID_ARGUMENT,
// each message naming the op and the argument.
inline void ExpectViewsChecked(Backend* be, std::vector<std::string>* skipped) {
  ViewFixture f(be);
  const Device other_device =
      be->tensor_device().kind == DeviceKind::kCpu ? Device::Cuda(0) : Device::Cpu();
  for (const ViewCase& c : f.Cases()) {
    const std::string what = c.op + " " + c.arg;
    const Status ok = c.run(c.good);
    if (ok.code() == StatusCode::kUnimplemented) {
      skipped->push_back(what);
      continue;
    }
    EXPECT_TRUE(ok.ok()) << what << ": " << ok.ToString();
    const auto expect = [&](const TensorView& bad, StatusCode code, const char* how) {
      const Status s = c.run(bad);
      EXPECT_EQ(s.code(), code) << what << " (" << how << "): " << s.ToString();
      EXPECT_NE(s.message().find(c.op), std::string::npos) << what << ": " << s.message();
      EXPECT_NE(s.message().find(c.arg), std::string::npos)
          << what << ": " << s.message();
    };
    TensorView v = c.good;
    v.dtype = c.good.dtype == DType::kF32 ? DType::kBF16 : DType::kF32;
    expect(v, StatusCode::kFailedPrecondition, "element type");
    v = c.good;
    v.device = other_device;
    expect(v, StatusCode::kInvalidArgument, "device");
    if (c.has_bad_shape) expect(c.bad_shape, StatusCode::kInvalidArgument, "shape");
  }
}

}  // namespace floe::view_test
