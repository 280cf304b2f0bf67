// Added-token matching as the Rust `tokenizers` crate's AddedVocabulary does
// it: leftmost-longest matches in the text, each subject to its single_word,
// lstrip and rstrip flags; the text between matches goes on to the
// normalizer and the model. Immutable after Build; safe to share.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>
#include <vector>

#include "text/bert_tokenizer.h"  // AddedToken

namespace floe::text {

class AddedTokenMatcher {
 public:
  // `tokens` must outlive the matcher; empty contents are ignored.
  void Build(const std::vector<AddedToken>& tokens);
  bool empty() const { return tokens_.empty(); }

  // Calls on_piece(text, offset) for each non-empty stretch between matches
  // (offset: its byte offset in `text`) and on_token(id) for each match, in
  // order.
  template <typename OnPiece, typename OnToken>
  void Split(std::string_view text, OnPiece&& on_piece, OnToken&& on_token) const {
    size_t from = 0;
    size_t pos = 0;
    Match m;
    while (Next(text, pos, from, &m)) {
      if (m.start > from) on_piece(text.substr(from, m.start - from), from);
      on_token(m.id);
      from = m.stop;
      pos = m.stop;
    }
    if (from < text.size()) on_piece(text.substr(from), from);
  }

 private:
  struct Match {
    size_t start = 0, stop = 0;  // with lstrip/rstrip whitespace
    int32_t id = -1;
  };
  // The next accepted match at or after `pos` (stripping no further left
  // than `floor`); false when none.
  bool Next(std::string_view text, size_t pos, size_t floor, Match* m) const;

  std::vector<const AddedToken*> tokens_;  // longest content first
  std::array<bool, 256> first_byte_{};
};

}  // namespace floe::text
