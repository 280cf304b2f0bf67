// Normalized text that remembers where each byte came from, as the Rust
// `tokenizers` crate's NormalizedString does: one original byte range per
// normalized byte, carried through each normalizer as a list of (char,
// change) transformations with the crate's rules (change 0 replaces the next
// original char, 1 inserts with the previous byte's range, -n also removes n
// chars). Used only by EncodeWithOffsets; Encode never builds one.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace floe::text {

using ByteSpan = std::pair<uint32_t, uint32_t>;  // [start, stop) in the original

struct AlignedText {
  std::string text;
  std::vector<ByteSpan> align;  // one per byte of text

  // Each byte of `s` maps to its whole character.
  static AlignedText FromOriginal(std::string_view s);
  // Original range of normalized bytes [start, stop) (stop > start): the
  // first byte's start and the last byte's stop, as the crate converts.
  ByteSpan Original(size_t start, size_t stop) const {
    return {align[start].first, align[stop - 1].second};
  }
  // Bytes [start, stop) with their ranges.
  AlignedText Sub(size_t start, size_t stop) const {
    return {text.substr(start, stop - start),
            std::vector<ByteSpan>(align.begin() + static_cast<std::ptrdiff_t>(start),
                                  align.begin() + static_cast<std::ptrdiff_t>(stop))};
  }
};

// One transformation: `cp` with its change; cp == kSkip drops `change` chars
// (the crate's initial_offset of a ranged transform) and emits nothing.
struct CharChange {
  static constexpr uint32_t kSkip = 0xFFFFFFFFu;
  uint32_t cp;
  int change;
};

// The crate's NormalizedString::transform on the whole text, skipping
// `initial_chars` chars first.
void ApplyChanges(const std::vector<CharChange>& changes, size_t initial_chars, AlignedText* t);

// The crate's NormalizedString::prepend: `prefix` takes the first char's
// range, and that char is inserted after it (no change when `t` is empty).
void PrependAligned(std::string_view prefix, AlignedText* t);

}  // namespace floe::text
