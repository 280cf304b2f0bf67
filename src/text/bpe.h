// The BPE model of Hugging Face `tokenizers`: a pre-tokenized split's
// characters (with continuing_subword_prefix / end_of_word_suffix), unknown
// ones as <0xXX> byte pieces (byte_fallback) or the unk id (fused when
// fuse_unk), then merges applied lowest rank first, leftmost among equals;
// ignore_merges takes a split that is a whole vocab entry as it is. Dropout
// must be null. Immutable after Build; Encode is const and thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/status.h"
#include "text/vocab_map.h"

namespace floe::text {

struct BpeOptions {
  std::vector<std::pair<std::string, int32_t>> vocab;
  std::vector<std::pair<std::string, std::string>> merges;  // by rank
  std::string unk_token;  // empty: none
  std::string continuing_subword_prefix;
  std::string end_of_word_suffix;
  bool fuse_unk = false;
  bool byte_fallback = false;
  bool ignore_merges = false;
};

class BpeModel {
 public:
  static StatusOr<BpeModel> Build(BpeOptions options);

  // Appends the ids of `split` (valid UTF-8) to `out`.
  void Encode(std::string_view split, std::vector<int32_t>* out) const {
    EncodeImpl(split, out, nullptr);
  }
  // Encode, plus each appended id's byte range [first, second) in `split`:
  // the crate's Word offsets (each symbol's length summed from 0, so an
  // unknown char without an unk id shifts the ones after it).
  void EncodeSpans(std::string_view split, std::vector<int32_t>* out,
                   std::vector<std::pair<uint32_t, uint32_t>>* spans) const;

  int32_t Find(std::string_view token) const { return map_.Find(token); }
  // id -> token ("" for ids without one); size() = largest id + 1.
  const std::vector<std::string>& tokens() const { return id_to_token_; }
  int32_t unk_id() const { return unk_id_; }

 private:
  struct Merge {
    int32_t rank;
    int32_t id;
  };
  int32_t CharId(std::string_view ch, bool first, bool last, std::string* scratch) const;
  // Encode; `lens` (when given) gets each appended id's length in bytes.
  void EncodeImpl(std::string_view split, std::vector<int32_t>* out,
                  std::vector<uint32_t>* lens) const;

  BpeOptions opt_;
  VocabMap map_;
  std::unordered_map<uint64_t, Merge> merges_;  // (left id << 32 | right id)
  std::vector<std::string> id_to_token_;
  int32_t unk_id_ = -1;
  int32_t byte_ids_[256];
};

}  // namespace floe::text
