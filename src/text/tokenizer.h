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

class Tokenizer {
 public:
  // Loads tokenizer.json from `folder`, or vocab.txt + tokenizer_config.json
  // when tokenizer.json is absent. Models WordPiece and Unigram (see
  // text/unigram_tokenizer.h); unsupported model types (BPE),
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
  // Number of ids Encode would return without truncation.
  virtual StatusOr<size_t> CountTokens(std::string_view text) const = 0;

  // Thread-safe. Ids of a pair with the pair template's specials (XLM-R:
  // <s> A </s></s> B </s>), for cross-encoders. max_length > 0 truncates the
  // two contents longest-first, as the Rust crate does. UNIMPLEMENTED where
  // the tokenizer has no pair support.
  virtual StatusOr<std::vector<int32_t>> EncodePair(std::string_view a, std::string_view b,
                                                    size_t max_length = 0) const {
    (void)a, (void)b, (void)max_length;
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
