// The one Tokenizer implementation: BertNormalizer + BertPreTokenizer +
// WordPiece + a [CLS] A [SEP]-style template, with added tokens matched in the
// raw text first. Built from BertOptions by the loaders (tokenizer.json or
// vocab.txt); immutable afterwards, so Encode may run on any thread.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "text/added_tokens.h"
#include "text/post_processor.h"
#include "text/tokenizer.h"
#include "text/vocab_map.h"

namespace floe::text {

struct BertOptions {
  // BertNormalizer (all false: no normalizer).
  bool clean_text = true;
  bool handle_chinese_chars = true;
  bool strip_accents = true;
  bool lowercase = true;
  // WordPiece.
  std::vector<std::pair<std::string, int32_t>> vocab;
  std::string unk_token = "[UNK]";
  std::string continuing_subword_prefix = "##";
  size_t max_input_chars_per_word = 100;
  // Added tokens, matched before normalization (normalized=false) or on the
  // normalized text (normalized=true).
  std::vector<AddedToken> added_tokens;
  // The post-processor (single and pair templates), and its single
  // template's ids before and after the sequence.
  PostProcessor post;
  std::vector<int32_t> prefix_ids;
  std::vector<int32_t> suffix_ids;
  int32_t cls_id = -1;
  int32_t sep_id = -1;
  int32_t pad_id = 0;
  // Decoder: none (tokens joined by spaces), WordPiece, or unsupported (the
  // type's name, Decode is UNIMPLEMENTED).
  enum class Decoder { kNone, kWordPiece, kUnsupported } decoder = Decoder::kNone;
  std::string decoder_prefix = "##";
  bool decoder_cleanup = true;
  std::string decoder_type;
};

class BertTokenizer final : public Tokenizer {
 public:
  // Checks the options (unk token in the vocab, ids in range); `name` is used
  // in error messages.
  static StatusOr<std::unique_ptr<Tokenizer>> Create(BertOptions options,
                                                     const std::string& name);

  // Matchers point into the options: not copyable.
  BertTokenizer(const BertTokenizer&) = delete;
  BertTokenizer& operator=(const BertTokenizer&) = delete;

  StatusOr<std::vector<int32_t>> Encode(std::string_view text,
                                        size_t max_length = 0) const override;
  StatusOr<size_t> CountTokens(std::string_view text) const override;
  StatusOr<std::vector<TokenOffset>> EncodeWithOffsets(std::string_view text,
                                                       size_t max_length = 0) const override;
  StatusOr<std::vector<int32_t>> EncodePair(std::string_view a, std::string_view b,
                                            size_t max_length = 0,
                                            size_t* type1_from = nullptr) const override;
  StatusOr<std::string> Decode(const std::vector<int32_t>& ids,
                               bool skip_special = true) const override;

  int32_t cls_id() const override { return opt_.cls_id; }
  int32_t sep_id() const override { return opt_.sep_id; }
  int32_t pad_id() const override { return opt_.pad_id; }
  int32_t unk_id() const override { return unk_id_; }
  size_t vocab_size() const override { return id_to_token_.size(); }
  std::string_view IdToToken(int32_t id) const override;
  size_t num_special_tokens() const override {
    return opt_.prefix_ids.size() + opt_.suffix_ids.size();
  }

 private:
  struct State;
  enum AsciiClass : uint8_t { kWordChar, kSpace, kPunct, kDrop };

  explicit BertTokenizer(BertOptions options);
  void Init();

  // Content ids of `text` (no specials) into st.out, up to st.cap.
  void EncodeContent(std::string_view text, State& st) const;
  static void PushAdded(int32_t id, State& st);
  void EncodePiece(std::string_view piece, State& st) const;
  template <bool kNormalize>
  void RunPiece(std::string_view piece, State& st) const;
  void NormalizeCodepoint(uint32_t cp, State& st) const;
  void NormalizeToString(std::string_view piece, std::string* out) const;
  void FeedCodepoint(uint32_t cp, State& st) const;
  void FlushWord(State& st) const;
  void WordPiece(std::string_view word, size_t chars, State& st) const;
  Status EncodeInto(std::string_view text, size_t max_length,
                    std::vector<int32_t>* ids) const;
  // Offsets path: raw piece at byte `offset` of the input.
  void OffsetsOfPiece(std::string_view piece, size_t offset,
                      std::vector<TokenOffset>* out) const;
  // Words of normalized text norm[from, to) (align: per byte, its source
  // bytes in the input), through WordPiece.
  void OffsetsOfWords(std::string_view norm, size_t from, size_t to,
                      const std::vector<std::pair<uint32_t, uint32_t>>& align,
                      std::vector<TokenOffset>* out) const;

  BertOptions opt_;
  VocabMap start_map_;         // every vocab token
  VocabMap continuation_map_;  // tokens with the prefix, keyed without it
  std::vector<std::string> id_to_token_;
  int32_t unk_id_ = -1;
  AddedTokenMatcher raw_matcher_;         // normalized=false added tokens
  AddedTokenMatcher normalized_matcher_;  // normalized=true ones, content normalized
  std::vector<AddedToken> raw_tokens_, normalized_tokens_;  // storage for the above
  std::vector<bool> special_id_;          // special added tokens
  // ASCII fast path: normalized byte (or kDrop) and pre-tokenizer class.
  std::array<uint8_t, 128> ascii_norm_{};
  std::array<uint8_t, 128> ascii_norm_class_{};  // kDrop when dropped
  std::array<uint8_t, 128> ascii_class_{};       // class without normalizing
};

}  // namespace floe::text
