// tokenizer.json post-processors as templates of special ids around one or
// two sequences: TemplateProcessing (single and pair), RobertaProcessing
// (<s> A </s> and <s> A </s></s> B </s>) and BertProcessing ([CLS] A [SEP] B
// [SEP]); plus the crate's pair truncation (longest_first) before the
// specials are added. Immutable after Parse.
#pragma once

#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/status.h"

namespace floe::text {

class PostProcessor {
 public:
  // `j`: tokenizer.json's "post_processor" (null: no specials). `lookup`
  // maps a special token's text to its id (-1 when unknown).
  static StatusOr<PostProcessor> Parse(const nlohmann::json& j, const std::string& name,
                                       const std::function<int32_t(const std::string&)>& lookup);

  // Number of ids the single (pair = false) or pair template adds.
  size_t added(bool pair) const { return pair ? pair_added_ : single_added_; }
  bool has_pair_template() const { return has_pair_; }

  // Appends the template with `a` (and `b` when pair) in place to `out`.
  void Apply(const std::vector<int32_t>& a, const std::vector<int32_t>* b,
             std::vector<int32_t>* out) const;

  // Index in Apply's output of the first token of type 1 (TemplateProcessing's
  // type_id 1, BertProcessing's B and its [SEP], no post_processor's B), given
  // the two contents' lengths; the output's length when every token has type 0
  // (RobertaProcessing). Type ids after it that go back to 0 are not
  // representable: pair_types() says so.
  size_t Type1From(size_t a_len, size_t b_len) const;
  // UNIMPLEMENTED when the pair template's type ids are not 0...0 1...1.
  const Status& pair_types() const { return pair_types_; }

  // The first and last special ids of the single template (-1 when none).
  int32_t first_special() const;
  int32_t last_special() const;
  // Special ids of the single template before and after its sequence.
  std::vector<int32_t> SinglePrefix() const;
  std::vector<int32_t> SingleSuffix() const;

  // A ByteLevel processor's (or RobertaProcessing's) trim_offsets, which
  // moves each content token's offsets past its leading and trailing spaces
  // (TrimByteLevelOffsets), and its add_prefix_space, which keeps the first
  // token's one leading space.
  bool trim_offsets() const { return trim_offsets_; }
  bool trim_add_prefix_space() const { return trim_add_prefix_space_; }

 private:
  // A template piece: sequence 0 (A) or 1 (B), or special ids.
  struct Piece {
    int sequence = -1;
    std::vector<int32_t> ids;
    int type_id = 0;
  };
  static Status ParseTemplate(const nlohmann::json& t, const nlohmann::json& specials,
                              const std::string& name,
                              const std::function<int32_t(const std::string&)>& lookup,
                              std::vector<Piece>* out);

  std::vector<Piece> single_{{0, {}}};
  std::vector<Piece> pair_{{0, {}, 0}, {1, {}, 1}};
  bool has_pair_ = true;
  Status pair_types_;
  size_t single_added_ = 0;
  size_t pair_added_ = 0;
  bool trim_offsets_ = false;
  bool trim_add_prefix_space_ = false;
};

// The crate's truncation of a pair to `max_length` ids in all (before
// specials), strategy longest_first, direction right: the shorter keeps
// what it can, both halve when both are long.
void TruncatePairLongestFirst(size_t max_length, std::vector<int32_t>* a,
                              std::vector<int32_t>* b);

// INVALID_ARGUMENT when max_length (> 0) leaves no room for the `added`
// special ids of a template.
Status CheckRoomForSpecials(size_t max_length, size_t added);

}  // namespace floe::text
