// Which encoder runs a folder: one line per architecture (model_type as
// config.json names it). BERT's family (bert, xlm-roberta, roberta,
// camembert) is the default graph.
#include <algorithm>
#include <string_view>

#include "engine/bert_encoder.h"
#include "engine/encoder.h"
#include "engine/gte_encoder.h"
#include "engine/modernbert_encoder.h"
#include "engine/nomic_encoder.h"
#include "engine/qwen3_encoder.h"
#include "model/config.h"

namespace floe {

namespace {

using Factory = StatusOr<std::unique_ptr<Encoder>> (*)(const ModelFolder&, Backend*);

template <typename E>
StatusOr<std::unique_ptr<Encoder>> Make(const ModelFolder& model, Backend* backend) {
  FLOE_ASSIGN_OR_RETURN(auto e, E::Create(model, backend));  // E or a graph it makes
  return std::unique_ptr<Encoder>(std::move(e));
}

struct Entry {
  std::string_view model_type;
  Factory create;
};

constexpr Entry kEncoders[] = {
    {"nomic_bert", &Make<NomicBertEncoder>},
    {"new", &Make<GteEncoder>},
    {"modernbert", &Make<ModernBertEncoder>},
    {"qwen3", &Make<Qwen3Encoder>},
};

}  // namespace

Status Encoder::Classify(SeqSpan, float*, std::span<const int32_t>) {
  return FailedPreconditionError("this architecture has no classification head");
}

Status Encoder::ForwardAll(const std::vector<std::vector<int32_t>>& seqs, PoolKind pool,
                           float* pooled_host) {
  std::vector<const std::vector<int32_t>*> ptrs;
  for (const auto& s : seqs) ptrs.push_back(&s);
  return Forward(SeqSpan(ptrs.data(), ptrs.size()), pool, pooled_host, nullptr, {}, {});
}

Status AllocateBuffers(Backend* backend, std::initializer_list<BufferSize> sizes) {
  for (const BufferSize& s : sizes) {
    FLOE_ASSIGN_OR_RETURN(*s.buffer, backend->Allocate(s.bytes));
  }
  return OkStatus();
}

StatusOr<std::unique_ptr<Encoder>> CreateEncoder(const ModelFolder& model, Backend* backend) {
  for (const Entry& e : kEncoders) {
    if (e.model_type == model.config.model_type) return e.create(model, backend);
  }
  return Make<BertEncoder>(model, backend);
}

Status PackPass(Backend* backend, SeqSpan seqs, std::span<const int32_t> pool_skip,
                DeviceBuffer* cu_device, DeviceBuffer* skip_device, PackedPass* out) {
  const int64_t B = static_cast<int64_t>(seqs.size());
  if (!pool_skip.empty() && static_cast<int64_t>(pool_skip.size()) != B) {
    return InvalidArgumentError("pool_skip has " + std::to_string(pool_skip.size()) +
                                " entries for " + std::to_string(B) + " sequences");
  }
  out->cu.assign(B + 1, 0);
  int64_t max_len = 0;
  for (int64_t b = 0; b < B; ++b) {
    const int64_t len = static_cast<int64_t>(seqs[b]->size());
    out->cu[b + 1] = out->cu[b] + static_cast<int32_t>(len);
    max_len = std::max(max_len, len);
  }
  FLOE_RETURN_IF_ERROR(
      backend->CopyToDevice(out->cu.data(), (B + 1) * sizeof(int32_t), cu_device->data()));
  PackedBatch& batch = out->batch;
  batch = PackedBatch{};
  batch.cu_seqlens_host = out->cu.data();
  batch.cu_seqlens_device = cu_device->i32();
  batch.num_seqs = B;
  batch.total_tokens = out->cu[B];
  batch.max_seqlen = max_len;
  if (std::any_of(pool_skip.begin(), pool_skip.end(), [](int32_t k) { return k > 0; })) {
    FLOE_RETURN_IF_ERROR(
        backend->CopyToDevice(pool_skip.data(), B * sizeof(int32_t), skip_device->data()));
    batch.pool_skip_host = pool_skip.data();
    batch.pool_skip_device = skip_device->i32();
  }
  return OkStatus();
}

}  // namespace floe
