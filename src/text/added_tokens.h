// Added-token matching as the Rust `tokenizers` crate's AddedVocabulary does
// it: leftmost-longest matches in the text, each subject to its single_word,
// lstrip and rstrip flags; the text between matches goes on to the
// normalizer and the model. Immutable after Build; safe to share.
#pragma once

#include <array>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace floe::text {

struct AddedToken {
  std::string content;
  int32_t id = -1;
  bool single_word = false;
  bool lstrip = false;
  bool rstrip = false;
  bool normalized = false;
  bool special = false;
};

// One entry of tokenizer.json's "added_tokens" (or tokenizer_config.json's
// added_tokens_decoder): the crate's defaults, normalized = !special.
AddedToken ParseAddedToken(const nlohmann::json& t);

class AddedTokenMatcher {
 public:
  // `tokens` must outlive the matcher; empty contents are ignored.
  void Build(const std::vector<AddedToken>& tokens);
  bool empty() const { return tokens_.empty(); }

  // Calls on_piece(text, offset) for each non-empty stretch between matches
  // (offset: its byte offset in `text`) and on_token(id, start, stop) for
  // each match (its bytes, stripped whitespace included), in order.
  template <typename OnPiece, typename OnToken>
  void Split(std::string_view text, OnPiece&& on_piece, OnToken&& on_token) const {
    size_t from = 0;
    size_t pos = 0;
    Match m;
    while (Next(text, pos, from, &m)) {
      if (m.start > from) on_piece(text.substr(from, m.start - from), from);
      on_token(m.id, m.start, m.stop);
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
  int single_first_byte_ = -1;  // the only first byte, when all tokens share it
};

}  // namespace floe::text
