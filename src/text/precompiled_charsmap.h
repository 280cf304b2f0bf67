// SentencePiece's precompiled normalization rules (the `precompiled_charsmap`
// of a .model, base64 in tokenizer.json's "Precompiled" normalizer), applied
// as Hugging Face `tokenizers` applies them: per extended grapheme cluster,
// the whole cluster is looked up when shorter than 6 bytes, else (or when
// absent) each code point on its own. A lookup takes the SHORTEST key of the
// trie that prefixes the chunk (spm_precompiled's `transform`), not a full
// match: e.g. a cluster whose first code point has a rule is replaced by that
// rule alone. Immutable after Parse; safe to share across threads.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "text/alignment.h"

namespace floe::text {

// Standard base64 (RFC 4648, '=' padding optional); INVALID_ARGUMENT on a
// character outside the alphabet.
StatusOr<std::string> DecodeBase64(std::string_view in);

class PrecompiledCharsmap {
 public:
  // The blob is: u32 little-endian trie size in bytes, the trie (u32 units of
  // a Darts double array), then NUL-separated UTF-8 replacements the trie's
  // values index into. An empty blob is a valid no-op map.
  static StatusOr<PrecompiledCharsmap> Parse(std::string_view blob);

  // Replacement for the shortest trie key that prefixes `chunk` (stops at a
  // NUL byte), or nullopt.
  std::optional<std::string_view> Transform(std::string_view chunk) const;

  // Appends the normalized `text` (valid UTF-8) to `out`.
  void Normalize(std::string_view text, std::string* out) const;

  // The crate's transformations of Normalize (for offsets); false when
  // nothing changed (the crate then leaves the alignments as they are).
  bool NormalizeChanges(std::string_view text, std::vector<CharChange>* changes) const;

  bool empty() const { return units_.empty(); }

 private:
  // Calls emit(old, replacement) per kept char (replacement is old itself) or
  // replaced cluster/char, in order.
  template <typename Emit>
  void Walk(std::string_view text, Emit&& emit) const;

  std::vector<uint32_t> units_;
  std::string replacements_;
};

}  // namespace floe::text
