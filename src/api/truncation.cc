#include "api/truncation.h"

#include <algorithm>
#include <string>

#include "text/post_processor.h"
#include "text/tokenizer.h"

namespace floe {

namespace {

bool SameAt(const std::vector<int32_t>& full, size_t at, const std::vector<int32_t>& part) {
  return at + part.size() <= full.size() &&
         std::equal(part.begin(), part.end(), full.begin() + static_cast<ptrdiff_t>(at));
}

// The text's own ids: a single encoding less the template's specials.
StatusOr<std::vector<int32_t>> Content(const Tokenizer& tokenizer, const SingleTemplate& t,
                                       std::string_view text) {
  FLOE_ASSIGN_OR_RETURN(std::vector<int32_t> ids, tokenizer.Encode(text, 0));
  const size_t specials = static_cast<size_t>(t.lead + t.trail);
  if (ids.size() < specials) return InternalError("an encoding shorter than its template");
  return std::vector<int32_t>(ids.begin() + t.lead, ids.end() - t.trail);
}

Status Unknown() {
  return UnimplementedError(
      "truncation_direction 'left' needs the tokenizer's template layout, which floe could "
      "not find for this tokenizer; use 'right'");
}

}  // namespace

SingleTemplate ProbeSingleTemplate(const Tokenizer& tokenizer) {
  auto empty = tokenizer.Encode("", 0);
  auto probe = tokenizer.Encode("a", 0);
  SingleTemplate t;
  if (!empty.ok() || !probe.ok() || probe->size() <= empty->size()) return t;
  const std::vector<int32_t>& e = *empty;
  const std::vector<int32_t>& p = *probe;
  size_t lead = 0;
  while (lead < e.size() && e[lead] == p[lead]) ++lead;
  const size_t trail = e.size() - lead;
  if (!std::equal(e.begin() + static_cast<ptrdiff_t>(lead), e.end(),
                  p.end() - static_cast<ptrdiff_t>(trail))) {
    return t;
  }
  t.lead = static_cast<int>(lead);
  t.trail = static_cast<int>(trail);
  return t;
}

Status KeepTail(const SingleTemplate& t, size_t max_tokens, std::vector<int32_t>* ids) {
  if (ids->size() <= max_tokens) return OkStatus();
  if (t.lead < 0) return Unknown();
  const size_t lead = static_cast<size_t>(t.lead), trail = static_cast<size_t>(t.trail);
  if (max_tokens <= lead + trail) {
    return InvalidArgumentError("a limit of " + std::to_string(max_tokens) +
                                " tokens leaves no room beside the template's " +
                                std::to_string(lead + trail) + " special tokens");
  }
  const size_t keep = max_tokens - lead - trail;  // content tokens kept, from the end
  ids->erase(ids->begin() + static_cast<ptrdiff_t>(lead),
             ids->end() - static_cast<ptrdiff_t>(trail + keep));
  return OkStatus();
}

StatusOr<PairIds> EncodePairKeepTail(const Tokenizer& tokenizer, const SingleTemplate& t,
                                     std::string_view a, std::string_view b, size_t max_tokens) {
  size_t type1 = 0;
  FLOE_ASSIGN_OR_RETURN(std::vector<int32_t> full, tokenizer.EncodePair(a, b, 0, &type1));
  PairIds out;
  if (full.size() <= max_tokens) {
    out.ids = std::move(full);
    out.type1_from = static_cast<int32_t>(type1);
    return out;
  }
  if (t.lead < 0) return Unknown();
  FLOE_ASSIGN_OR_RETURN(std::vector<int32_t> ca, Content(tokenizer, t, a));
  FLOE_ASSIGN_OR_RETURN(std::vector<int32_t> cb, Content(tokenizer, t, b));
  const size_t n = full.size(), la = ca.size(), lb = cb.size();
  if (la + lb > n) return Unknown();
  const size_t added = n - la - lb;  // the pair template's specials
  // The layout: p0 specials, A, the middle specials, B, p2 specials.
  size_t p0 = 0, p2 = 0;
  bool found = false;
  for (p0 = 0; p0 <= added && !found; ++p0) {
    for (p2 = 0; p0 + p2 <= added; ++p2) {
      if (SameAt(full, p0, ca) && SameAt(full, n - p2 - lb, cb)) {
        found = true;
        break;
      }
    }
    if (found) break;
  }
  if (!found) return Unknown();
  if (max_tokens <= added) {
    return InvalidArgumentError("a limit of " + std::to_string(max_tokens) +
                                " tokens leaves no room beside the pair template's " +
                                std::to_string(added) + " special tokens");
  }
  // The crate's longest-first lengths, applied to the reversed texts: what
  // the right cut keeps of a reversed text is the original's tail.
  std::vector<int32_t> ra(ca.rbegin(), ca.rend()), rb(cb.rbegin(), cb.rend());
  text::TruncatePairLongestFirst(max_tokens - added, &ra, &rb);
  const size_t ka = ra.size(), kb = rb.size();
  const auto at = [&](size_t i) { return full.begin() + static_cast<ptrdiff_t>(i); };
  out.ids.reserve(ka + kb + added);
  out.ids.insert(out.ids.end(), at(0), at(p0));
  out.ids.insert(out.ids.end(), ca.end() - static_cast<ptrdiff_t>(ka), ca.end());
  out.ids.insert(out.ids.end(), at(p0 + la), at(n - p2 - lb));
  out.ids.insert(out.ids.end(), cb.end() - static_cast<ptrdiff_t>(kb), cb.end());
  out.ids.insert(out.ids.end(), at(n - p2), full.end());
  // Token type 1 starts in the same template piece as before the cut.
  size_t t1 = type1;
  if (type1 >= n) {
    t1 = out.ids.size();
  } else if (type1 >= p0 + la) {
    t1 -= la - ka;
    if (type1 > n - p2 - lb) t1 -= std::min(lb - kb, type1 - (n - p2 - lb));
  }
  out.type1_from = static_cast<int32_t>(t1);
  return out;
}

}  // namespace floe
