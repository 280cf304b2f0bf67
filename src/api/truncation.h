// Left truncation (TEI's truncation_direction "Left", the tokenizers crate's
// TruncationDirection::Left) on top of a Tokenizer that truncates from the
// right: encode in full, then keep the template's specials and the tail of
// each text. Internal to src/api.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "floe/embedder.h"

namespace floe {

class Tokenizer;

// Where the single template puts its specials: `lead` ids before the text,
// `trail` after it. lead < 0 when the probe could not tell (then left
// truncation is UNIMPLEMENTED).
struct SingleTemplate {
  int lead = -1;
  int trail = 0;
};

// Finds the layout by encoding "" and a one-letter text.
SingleTemplate ProbeSingleTemplate(const Tokenizer& tokenizer);

// `ids` (a full single encoding) cut to max_tokens keeping its specials and
// the last content tokens. INVALID_ARGUMENT when max_tokens leaves no room
// for one content token.
Status KeepTail(const SingleTemplate& t, size_t max_tokens, std::vector<int32_t>* ids);

// The pair (a, b) with the pair template, cut longest-first to max_tokens as
// the crate cuts with direction Left: each text keeps its tail.
StatusOr<PairIds> EncodePairKeepTail(const Tokenizer& tokenizer, const SingleTemplate& t,
                                     std::string_view a, std::string_view b, size_t max_tokens);

}  // namespace floe
