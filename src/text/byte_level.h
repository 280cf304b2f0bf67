// Byte-level BPE's text steps, as the Rust `tokenizers` crate runs them:
// the regex splits of GPT-2's ByteLevel pre-tokenizer and of Qwen2's Split
// (hand-written matchers of those two patterns, not a regex engine: \p{L},
// \p{N}, \s as Unicode White_Space, the contractions, (?i:...) on them,
// \s+(?!\S) and \s*[\r\n]+ with the regex's backtracking), the byte to
// character table (GPT-2's bytes_to_unicode), and the ByteLevel decoder.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "text/tokenizer.h"

namespace floe::text {

enum class SplitPattern { kGpt2, kQwen2 };

// The pattern a Split pre-tokenizer's regex is, when it is one of those two;
// false otherwise.
bool RecognizeSplitPattern(const std::string& regex, SplitPattern* out);

// Byte ranges [start, end) of the pattern's matches in `s` (valid UTF-8), in
// order (find_iter: leftmost, non-overlapping). The two patterns match every
// character, so the matches cover `s`.
void FindMatches(SplitPattern p, std::string_view s, std::vector<std::pair<size_t, size_t>>* out);

// Appends the byte-level characters (UTF-8) of `bytes` to `out`.
void AppendByteLevel(std::string_view bytes, std::string* out);
// The byte-level character of one byte.
uint32_t ByteLevelChar(unsigned char b);

// The ByteLevel decoder on a list of tokens: each token's characters back to
// bytes (a token with a character outside the table keeps its own bytes),
// then the whole as UTF-8 with invalid sequences replaced by U+FFFD, as
// Rust's String::from_utf8_lossy does.
std::string ByteLevelDecode(const std::vector<std::string>& tokens);

// The crate's ByteLevel post-processing with trim_offsets, on one sequence's
// tokens before the template adds its specials: each token's offsets move
// past its leading and trailing spaces (the byte-level space or White_Space
// chars of its string), except the one leading space of a first token
// (index 0 or offset 0) when add_prefix_space. Counted in chars, as the
// Python binding (char offsets before post-processing) does; `tokens` hold
// byte offsets into `text`, in and out.
void TrimByteLevelOffsets(std::string_view text, bool add_prefix_space,
                          const std::function<std::string_view(int32_t)>& token_of,
                          std::vector<TokenOffset>* tokens);

// Rust's String::from_utf8_lossy.
std::string Utf8Lossy(std::string_view bytes);

}  // namespace floe::text
