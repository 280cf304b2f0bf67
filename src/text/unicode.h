// Character classes and per-character normalization with the exact rules of
// the Rust `tokenizers` crate (BertNormalizer, BertPreTokenizer). The crate mixes
// Unicode versions (categories from an old `unicode_categories`, lowercasing
// from a recent Rust std), so the tables are its own, probed from the pinned
// Python package by scripts/gen-bert-unicode-tables.py (bert_unicode_tables.inc);
// decompositions are libutf8proc's less the few the crate lacks. Nothing here
// depends on the C locale.
#pragma once

#include <cstdint>

namespace floe::text {

// Rust's char::is_whitespace (the Unicode White_Space property).
inline bool IsWhitespace(uint32_t c) {
  if (c < 0x80) return c == ' ' || (c >= 0x09 && c <= 0x0D);
  switch (c) {
    case 0x85:
    case 0xA0:
    case 0x1680:
    case 0x2028:
    case 0x2029:
    case 0x202F:
    case 0x205F:
    case 0x3000:
      return true;
    default:
      return c >= 0x2000 && c <= 0x200A;
  }
}

// BertNormalizer's is_control: categories Cc, Cf, Co (the crate's Unicode
// version), except \t \n \r. Unassigned code points (Cn) are kept, as the
// Rust crate keeps them.
bool IsControl(uint32_t c);

// BertPreTokenizer's punctuation: ASCII punctuation or Unicode P* (the
// crate's Unicode version: U+166D is in, U+2E43 is not).
bool IsPunctuation(uint32_t c);

// Unicode category Mn in the crate's version (what strip_accents drops after
// NFD): U+07FD, assigned later, is not.
bool IsNonspacingMark(uint32_t c);

// The CJK ranges of the Rust crate's BertNormalizer (0x2B920, not 0x2B820).
inline bool IsChineseChar(uint32_t c) {
  return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) ||
         (c >= 0x20000 && c <= 0x2A6DF) || (c >= 0x2A700 && c <= 0x2B73F) ||
         (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B920 && c <= 0x2CEAF) ||
         (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

// Canonical decomposition (NFD, Hangul included) of one code point into
// `out` (capacity `cap`); returns the number of code points written, or 0
// when `cap` is too small. A code point without decomposition gives itself.
// Canonical reordering across code points is not done: once Mn are dropped it
// only matters for two adjacent kept combining characters out of canonical
// order: Mc with a combining class (e.g. U+302E, U+1D165), or marks newer than
// the crate's tables (e.g. U+07FD), which it keeps.
int DecomposeCanonical(uint32_t c, uint32_t* out, int cap);

// Rust's char::to_lowercase: one or two code points (only U+0130 gives two).
// Returns the count written to out[0..2).
inline int ToLowerFull(uint32_t c, uint32_t out[2]);
// The one-code-point lowercase of c >= 0x80 (c itself when none), U+0130 aside.
uint32_t ToLowerNonAscii(uint32_t c);

}  // namespace floe::text

#include "text/unicode_inl.h"
