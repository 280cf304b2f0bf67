// The Unicode normal forms (NFC, NFD, NFKC, NFKD) as the Rust `tokenizers`
// crate computes them, with its alignments: the (char, change) stream of
// unicode-normalization-alignments (a decomposed char's first part 0, the
// others 1, canonical reordering carrying them along, each composition
// adding the absorbed char's change less 1), over the crate's older Unicode
// tables (CrateTreatsAsStarter). Per code point data from utf8proc.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "text/alignment.h"

namespace floe::text {

// Code points the crate's Unicode tables (about Unicode 11 for combining
// classes, 12 for decompositions) know no decomposition or combining class
// for, where utf8proc's newer ones do: the crate keeps them as plain starters.
bool CrateTreatsAsStarter(uint32_t c);

// The normal form of `in` (valid UTF-8) as transformations for ApplyChanges
// (appended to `out`): compatibility decomposition when `compat`, then
// canonical composition when `compose`.
void NormalFormChanges(std::string_view in, bool compat, bool compose,
                       std::vector<CharChange>* out);

}  // namespace floe::text
