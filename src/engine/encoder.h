// One architecture's forward graph on a Backend: packed token ids in, pooled
// rows (and optionally the last hidden state) out. The engine (engine.h)
// checks ids and splits batches; engine/architectures.cc makes the encoder
// for a folder's model_type. Each architecture lives in its own files
// (engine/<arch>_encoder.*, model/<arch>_config.*).
#pragma once

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <span>
#include <vector>

#include "backend/backend.h"
#include "core/status.h"

namespace floe {

struct ModelFolder;

using SeqSpan = std::span<const std::vector<int32_t>* const>;

class Encoder {
 public:
  virtual ~Encoder() = default;

  // One forward pass over `seqs` packed back to back. The engine has checked
  // them (non-empty, within the model's positions, ids in the vocabulary).
  // Writes B x D pooled floats (not normalized) to pooled_host; when
  // hidden_host is not null, also the last hidden state [T, D] (rows in
  // packing order, after the final norm where the model has one).
  // pool_skip: empty, or per sequence the leading tokens pooling leaves out.
  // type1_from: empty, or per sequence the index from which its tokens take
  // token type 1 (>= its length: none). Not thread-safe.
  virtual Status Forward(SeqSpan seqs, PoolKind pool, float* pooled_host,
                         std::vector<float>* hidden_host, std::span<const int32_t> pool_skip,
                         std::span<const int32_t> type1_from) = 0;

  // Classifier models: B x num_labels raw logits. The default is
  // FAILED_PRECONDITION (an architecture without a classification head).
  virtual Status Classify(SeqSpan seqs, float* logits_host, std::span<const int32_t> type1_from);

  // Forward over all of `seqs` in one pass, pooled rows only (tests, tools).
  Status ForwardAll(const std::vector<std::vector<int32_t>>& seqs, PoolKind pool,
                    float* pooled_host);
};

// Scratch buffers grown to the largest pass: each *buffer is (re)allocated to
// its byte size.
struct BufferSize {
  std::unique_ptr<DeviceBuffer>* buffer;
  size_t bytes;
};
Status AllocateBuffers(Backend* backend, std::initializer_list<BufferSize> sizes);

// The encoder for `model` (by config.json's model_type) on `backend`, which
// must outlive it. Errors name the tensor or option.
StatusOr<std::unique_ptr<Encoder>> CreateEncoder(const ModelFolder& model, Backend* backend);

// Host-side packing shared by the encoders: cu_seqlens of `seqs` and a
// PackedBatch pointing at their device copies (cu_device holds B + 1 int32,
// skip_device B int32; pool_skip is copied only when an entry is > 0).
struct PackedPass {
  std::vector<int32_t> cu;  // [B + 1]
  PackedBatch batch;
};
Status PackPass(Backend* backend, SeqSpan seqs, std::span<const int32_t> pool_skip,
                DeviceBuffer* cu_device, DeviceBuffer* skip_device, PackedPass* out);

}  // namespace floe
