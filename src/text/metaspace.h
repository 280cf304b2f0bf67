// Pre-tokenizers of the Unigram tokenizers, as the Rust `tokenizers` crate
// runs them: Metaspace (spaces become the replacement, "▁" by default, one is
// prepended per prepend_scheme, and the text splits before each replacement)
// and WhitespaceSplit, alone or in a Sequence. Also the Metaspace decoder.
// Immutable after Parse; safe to share across threads.
#pragma once

#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "text/alignment.h"
#include "text/byte_level.h"

namespace floe::text {

enum class PrependScheme { kAlways, kFirst, kNever };

struct MetaspaceOptions {
  std::string replacement = "\xE2\x96\x81";  // U+2581
  PrependScheme prepend_scheme = PrependScheme::kAlways;
  bool split = true;
};

// Parses a Metaspace pre-tokenizer or decoder object (old files' add_prefix_space
// included).
StatusOr<MetaspaceOptions> ParseMetaspace(const nlohmann::json& j, const std::string& name);

class PreTokenizerChain {
 public:
  // `j` is tokenizer.json's "pre_tokenizer" (null: the whole piece is one split).
  static StatusOr<PreTokenizerChain> Parse(const nlohmann::json& j, const std::string& name);

  // Splits normalized `piece`; `first` says it starts the input (original
  // offset 0), which prepend_scheme "first" needs. Calls on_split for each
  // non-empty split, in order. `scratch` is reused storage.
  void Run(std::string_view piece, bool first,
           const std::function<void(std::string_view)>& on_split,
           std::vector<std::string>* scratch) const;

  // Run with the crate's alignments (for offsets): each non-empty split as
  // aligned text, its bytes' original ranges carried through Metaspace's
  // replace and prepend and ByteLevel's prefix space and byte mapping.
  void RunAligned(AlignedText piece, bool first,
                  const std::function<void(const AlignedText&)>& on_split) const;

 private:
  struct Step {
    enum Kind { kMetaspace, kWhitespaceSplit, kSplit, kByteLevel } kind = kWhitespaceSplit;
    MetaspaceOptions ms;
    SplitPattern pattern = SplitPattern::kGpt2;  // kSplit; kByteLevel with use_regex
    bool add_prefix_space = false;               // kByteLevel
    bool use_regex = true;                       // kByteLevel
  };
  static void RunByteLevel(const Step& st, std::string_view in, bool first,
                           const std::function<void(std::string_view, bool)>& emit);
  std::vector<Step> steps_;
};

// Metaspace on aligned `t` (the crate's replace and prepend alignments), in
// place; calls on_split(start, stop) with each split's byte range in t.text.
void MetaspaceAligned(const MetaspaceOptions& ms, bool first, AlignedText* t,
                      const std::function<void(size_t, size_t)>& on_split);

// Metaspace's decoder on token `index` of the decoded sequence: replacements
// become spaces, except a leading one on token 0 when prepend_scheme is not
// never. Appends to `out`.
void MetaspaceDecodeToken(const MetaspaceOptions& ms, size_t index, std::string_view token,
                          std::string* out);

}  // namespace floe::text
