// Reader for the safetensors format (https://huggingface.co/docs/safetensors).
// Trusts nothing in the file: header length, JSON, dtypes, shapes and offsets
// are all checked, and every error names the file and the problem.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "model/dtype.h"

namespace floe {

struct TensorInfo {
  std::string name;
  DType dtype;
  std::vector<int64_t> shape;
  const uint8_t* data = nullptr;  // inside the mapping; valid while the file lives
  size_t nbytes = 0;
  int64_t numel() const;
};

class SafetensorsFile {
 public:
  // Memory-maps `path` read-only and parses its header. Errors: NOT_FOUND (no
  // such file), DATA_LOSS (malformed), UNIMPLEMENTED (a dtype floe does not
  // read and cannot step over: F6/F4, named). Every message starts with the path.
  static StatusOr<std::unique_ptr<SafetensorsFile>> Open(const std::string& path);
  // Parses an in-memory image (not copied: `bytes` must outlive the result).
  // `name` is used in error messages. This is what the fuzzer drives.
  static StatusOr<std::unique_ptr<SafetensorsFile>> Parse(std::string name,
                                                          std::string_view bytes);
  ~SafetensorsFile();
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;

  const std::string& path() const { return path_; }
  // nullptr when absent.
  const TensorInfo* Find(std::string_view name) const;
  const std::map<std::string, TensorInfo, std::less<>>& tensors() const {
    return tensors_;
  }

  // Tensors of a whole-byte dtype floe does not compute with (I64, F64, U8, ...),
  // name -> dtype string: bounds-checked like the others, never converted. Asking
  // WeightStore::LoadFloat for one is UNIMPLEMENTED, naming the dtype.
  const std::map<std::string, std::string, std::less<>>& unread() const { return unread_; }

  // Lets the kernel drop the mapping's resident pages (they are re-read from
  // the file if touched again). Called once the weights were copied/packed,
  // so a loaded model does not hold its checkpoint twice in memory.
  void DropResidentPages() const;

 private:
  SafetensorsFile() = default;
  std::string path_;
  void* map_ = nullptr;
  size_t map_size_ = 0;
  std::map<std::string, TensorInfo, std::less<>> tensors_;
  std::map<std::string, std::string, std::less<>> unread_;
};

// A model's weights: one model.safetensors or a sharded set described by
// model.safetensors.index.json. Names are looked up with and without a
// `bert.` or `roberta.` prefix, so callers always use the bare name
// ("encoder.layer.0..."). Old checkpoints' LayerNorm `gamma`/`beta` are also
// found as `weight`/`bias`.
// Immutable after Open: safe to read from any thread.
class WeightStore {
 public:
  // Errors: NOT_FOUND (no safetensors; with a hint to convert pytorch_model.bin
  // when only that exists), DATA_LOSS (malformed file).
  static StatusOr<std::unique_ptr<WeightStore>> Open(const std::string& folder);

  // Tensor `name` as float32, checked against `expected_shape`.
  StatusOr<std::vector<float>> LoadFloat(
      std::string_view name, const std::vector<int64_t>& expected_shape) const;
  // nullptr when absent (after trying the `bert.` / `roberta.` prefixes).
  const TensorInfo* Find(std::string_view name) const;
  // The dtype of most weights (for /info).
  DType dominant_dtype() const;
  size_t total_bytes() const;
  // See SafetensorsFile::DropResidentPages.
  void DropResidentPages() const;
  // The folder it was opened from (for messages).
  const std::string& folder() const { return folder_; }
  // The files it maps (one, or one per shard).
  const std::vector<std::unique_ptr<SafetensorsFile>>& files() const { return files_; }

 private:
  std::string folder_;
  std::vector<std::unique_ptr<SafetensorsFile>> files_;
  std::map<std::string, const TensorInfo*, std::less<>> index_;  // bare name -> tensor
};

// "[384, 768]", for messages.
std::string ShapeString(const std::vector<int64_t>& shape);

// A tensor an encoder reads, with its shape as stored (Linear weights [out, in]).
struct TensorSpec {
  std::string name;
  std::vector<int64_t> shape;
};

// Every spec is in `weights` with its shape: NOT_FOUND naming the first
// missing one (and how many more), INVALID_ARGUMENT naming a misshapen one.
// `architecture` (e.g. "nomic_bert") is for messages.
Status CheckTensors(const WeightStore& weights, const std::vector<TensorSpec>& specs,
                    std::string_view architecture);

}  // namespace floe
