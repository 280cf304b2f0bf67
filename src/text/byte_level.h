// Byte-level BPE's text steps, as the Rust `tokenizers` crate runs them:
// the regex splits of GPT-2's ByteLevel pre-tokenizer and of Qwen2's Split
// (hand-written matchers of those two patterns, not a regex engine: \p{L},
// \p{N}, \s as Unicode White_Space, the contractions, (?i:...) on them,
// \s+(?!\S) and \s*[\r\n]+ with the regex's backtracking), the byte to
// character table (GPT-2's bytes_to_unicode), and the ByteLevel decoder.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

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

// The ByteLevel decoder on a list of tokens: each token's characters back to
// bytes (a token with a character outside the table keeps its own bytes),
// then the whole as UTF-8 with invalid sequences replaced by U+FFFD, as
// Rust's String::from_utf8_lossy does.
std::string ByteLevelDecode(const std::vector<std::string>& tokens);

// Rust's String::from_utf8_lossy.
std::string Utf8Lossy(std::string_view bytes);

}  // namespace floe::text
