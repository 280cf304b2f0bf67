// tokenizer.json normalizers for the Unigram (SentencePiece) tokenizers, as
// the Rust `tokenizers` crate applies them to a whole piece of text:
// Precompiled, Replace (a literal, or a regex of the forms XLM-R's and T5's
// converters write), NFC/NFD/NFKC/NFKD, Lowercase, Strip, Prepend, and
// Sequence of these. Immutable after Parse; safe to share across threads.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "text/alignment.h"
#include "text/precompiled_charsmap.h"

namespace floe::text {

class NormalizerChain {
 public:
  // `j` is tokenizer.json's "normalizer" (null: none). UNIMPLEMENTED names an
  // unsupported type or regex; `name` prefixes messages.
  static StatusOr<NormalizerChain> Parse(const nlohmann::json& j, const std::string& name);

  // Normalizes `text` (valid UTF-8) into `out` (replaced). Returns whether
  // the result still starts at the text's first character in the crate's
  // offsets (false when a Strip or an empty Replace removed leading text),
  // which Metaspace's prepend_scheme "first" depends on.
  bool Apply(std::string_view text, std::string* out) const;
  // Apply with the crate's alignments (for offsets), in place.
  Status ApplyAligned(AlignedText* t) const;
  bool empty() const { return steps_.empty(); }

 private:
  enum class Kind { kPrecompiled, kReplace, kRepeatReplace, kUnicode, kLowercase, kStrip,
                    kPrepend };
  struct Step {
    Kind kind;
    PrecompiledCharsmap charsmap;  // kPrecompiled
    std::string pattern;           // kReplace: literal; kRepeatReplace: the repeated unit
    size_t min_repeat = 1;         // kRepeatReplace: at least this many units in a row
    std::string content;           // kReplace, kRepeatReplace, kPrepend
    int unicode_options = 0;       // kUnicode: utf8proc flags
    bool left = false, right = false;  // kStrip
  };
  static Status ParseOne(const nlohmann::json& j, const std::string& name,
                         std::vector<Step>* steps);
  static bool RunStep(const Step& s, const std::string& in, std::string* out);

  std::vector<Step> steps_;
};

}  // namespace floe::text
