// Hugging Face-compatible BERT tokenization: identical ids to the Rust
// `tokenizers` crate for BertNormalizer + BertPreTokenizer + WordPiece +
// TemplateProcessing, with added/special tokens matched in the raw text first.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace floe {

// One token of an encoding with where it came from (the crate's
// Encoding.offsets and special_tokens_mask).
struct TokenOffset {
  int32_t id = 0;
  size_t start = 0;  // byte offsets into the input; 0, 0 for template specials
  size_t stop = 0;
  // Added by the template (the crate's special_tokens_mask: an added token
  // matched in the text, special or not, is 0).
  bool special = false;
};

class Tokenizer {
 public:
  // Loads tokenizer.json from `folder`, or vocab.txt + tokenizer_config.json
  // when tokenizer.json is absent. Models WordPiece, Unigram and BPE (see
  // text/unigram_tokenizer.h); unsupported model types,
  // normalizers or pre-tokenizers give UNIMPLEMENTED naming them.
  static StatusOr<std::unique_ptr<Tokenizer>> FromFolder(const std::string& folder);
  // From tokenizer.json text (for tests/fuzzing); `name` for messages.
  static StatusOr<std::unique_ptr<Tokenizer>> FromJson(std::string_view json_text,
                                                       const std::string& name);
  virtual ~Tokenizer() = default;

  // Thread-safe (const). Ids with the template's specials ([CLS] ... [SEP]).
  // max_length > 0 truncates the content so the result has at most max_length
  // ids, [SEP] kept last. Invalid UTF-8 gives INVALID_ARGUMENT.
  virtual StatusOr<std::vector<int32_t>> Encode(std::string_view text,
                                                size_t max_length = 0) const = 0;
  // Thread-safe. Encode's ids (same truncation) with byte offsets and special
  // flags; slower than Encode. UNIMPLEMENTED where unsupported.
  virtual StatusOr<std::vector<TokenOffset>> EncodeWithOffsets(std::string_view text,
                                                               size_t max_length = 0) const {
    (void)text, (void)max_length;
    return UnimplementedError("this tokenizer does not report offsets");
  }
  // Number of ids Encode would return without truncation.
  virtual StatusOr<size_t> CountTokens(std::string_view text) const = 0;

  // Thread-safe. Ids of a pair with the pair template's specials (XLM-R:
  // <s> A </s></s> B </s>), for cross-encoders. max_length > 0 truncates the
  // two contents longest-first, as the Rust crate does. `type1_from`, when
  // given, gets the index of the first id of token type 1 (the template's
  // type ids: BERT's B and its [SEP]), the result's size when all are type 0
  // (RoBERTa). UNIMPLEMENTED where the tokenizer has no pair support.
  virtual StatusOr<std::vector<int32_t>> EncodePair(std::string_view a, std::string_view b,
                                                    size_t max_length = 0,
                                                    size_t* type1_from = nullptr) const {
    (void)a, (void)b, (void)max_length, (void)type1_from;
    return UnimplementedError("this tokenizer does not encode pairs");
  }
  // Thread-safe. Text of `ids` through the tokenizer.json decoder;
  // skip_special drops special added tokens. UNIMPLEMENTED where unsupported.
  virtual StatusOr<std::string> Decode(const std::vector<int32_t>& ids,
                                       bool skip_special = true) const {
    (void)ids, (void)skip_special;
    return UnimplementedError("this tokenizer does not decode");
  }

  virtual int32_t cls_id() const = 0;
  virtual int32_t sep_id() const = 0;
  virtual int32_t pad_id() const = 0;
  virtual int32_t unk_id() const = 0;
  virtual size_t vocab_size() const = 0;
  // Token string for id ("" when out of range), for debugging and bench prompts.
  virtual std::string_view IdToToken(int32_t id) const = 0;
  // Number of special ids the template adds (2 for BERT).
  virtual size_t num_special_tokens() const = 0;
};

}  // namespace floe
