#include "text/normal_forms.h"

#include <utf8proc.h>

#include <algorithm>

#include "text/utf8.h"

namespace floe::text {
namespace {

int CombiningClass(uint32_t c) {
  if (c < 0x300 || CrateTreatsAsStarter(c)) return 0;
  return utf8proc_get_property(static_cast<utf8proc_int32_t>(c))->combining_class;
}

// The primary composite of a + b, or 0 (Hangul included; composition
// exclusions excluded).
uint32_t Compose(uint32_t a, uint32_t b) {
  if (b < 0x300 || CrateTreatsAsStarter(a) || CrateTreatsAsStarter(b)) return 0;
  utf8proc_int32_t buf[2] = {static_cast<utf8proc_int32_t>(a), static_cast<utf8proc_int32_t>(b)};
  // UTF8PROC_STABLE: without it utf8proc composes the exclusions (U+2ADC).
  const utf8proc_ssize_t n = utf8proc_normalize_utf32(
      buf, 2, static_cast<utf8proc_option_t>(UTF8PROC_COMPOSE | UTF8PROC_STABLE));
  return n == 1 ? static_cast<uint32_t>(buf[0]) : 0;
}

struct Pending {
  int ccc;
  CharChange c;
};

// The crate's Decompositions: each char's full decomposition, runs of
// non-starters stably sorted by combining class.
void Decompose(std::string_view in, bool compat, std::vector<CharChange>* out) {
  std::vector<Pending> run;
  auto flush = [&] {
    std::stable_sort(run.begin(), run.end(),
                     [](const Pending& x, const Pending& y) { return x.ccc < y.ccc; });
    for (const Pending& p : run) out->push_back(p.c);
    run.clear();
  };
  const int options = UTF8PROC_DECOMPOSE | (compat ? UTF8PROC_COMPAT : 0);
  const auto* p = reinterpret_cast<const unsigned char*>(in.data());
  utf8proc_int32_t parts[32];
  for (size_t i = 0; i < in.size();) {
    uint32_t cp;
    i += DecodeUtf8(p + i, &cp);
    utf8proc_ssize_t n = 1;
    parts[0] = static_cast<utf8proc_int32_t>(cp);
    if (cp >= 0xA0 && !CrateTreatsAsStarter(cp)) {
      int boundclass = 0;
      n = utf8proc_decompose_char(static_cast<utf8proc_int32_t>(cp), parts, 32,
                                  static_cast<utf8proc_option_t>(options), &boundclass);
      if (n < 1 || n > 32) {
        n = 1;
        parts[0] = static_cast<utf8proc_int32_t>(cp);
      }
    }
    for (utf8proc_ssize_t k = 0; k < n; ++k) {
      const auto d = static_cast<uint32_t>(parts[k]);
      const int ccc = CombiningClass(d);
      if (ccc == 0) flush();
      run.push_back({ccc, {d, k == 0 ? 0 : 1}});
    }
  }
  flush();
}

// The crate's Recompositions on a decomposed stream.
void Recompose(const std::vector<CharChange>& in, std::vector<CharChange>* out) {
  std::vector<CharChange> buffer;
  CharChange k{};
  bool has_k = false;
  int last_ccc = -1;  // none
  for (const CharChange& c : in) {
    const int cls = CombiningClass(c.cp);
    if (!has_k) {
      if (cls != 0) {
        out->push_back(c);
      } else {
        k = c;
        has_k = true;
      }
      continue;
    }
    if (last_ccc >= 0 && last_ccc >= cls) {  // blocked from k
      if (cls == 0) {
        out->push_back(k);
        out->insert(out->end(), buffer.begin(), buffer.end());
        buffer.clear();
        k = c;
        last_ccc = -1;
      } else {
        buffer.push_back(c);
        last_ccc = cls;
      }
      continue;
    }
    if (const uint32_t r = Compose(k.cp, c.cp)) {
      k = {r, k.change + c.change - 1};
      continue;
    }
    if (last_ccc < 0 && cls == 0) {
      out->push_back(k);
      k = c;
      continue;
    }
    buffer.push_back(c);
    last_ccc = cls;
  }
  if (has_k) out->push_back(k);
  out->insert(out->end(), buffer.begin(), buffer.end());
}

}  // namespace

bool CrateTreatsAsStarter(uint32_t c) {
  static constexpr uint32_t kRanges[][2] = {
      {0x7FD, 0x7FD},     {0x898, 0x89F},     {0x8CA, 0x8D3},     {0x9FE, 0x9FE},
      {0xC3C, 0xC3C},     {0xD3B, 0xD3C},     {0xEBA, 0xEBA},     {0x1715, 0x1715},
      {0x1ABF, 0x1ACE},   {0x1DF6, 0x1DFA},   {0x32FF, 0x32FF},   {0xA7F2, 0xA7F4},
      {0xA82C, 0xA82C},   {0xAB69, 0xAB69},   {0x10781, 0x10785}, {0x10787, 0x107B0},
      {0x107B2, 0x107BA}, {0x10D24, 0x10D27}, {0x10EAB, 0x10EAC}, {0x10EFD, 0x10EFF},
      {0x10F46, 0x10F50}, {0x10F82, 0x10F85}, {0x11070, 0x11070}, {0x1133B, 0x1133B},
      {0x1145E, 0x1145E}, {0x11839, 0x1183A}, {0x11938, 0x11938}, {0x1193D, 0x1193E},
      {0x11943, 0x11943}, {0x119E0, 0x119E0}, {0x11A34, 0x11A34}, {0x11A47, 0x11A47},
      {0x11A99, 0x11A99}, {0x11D42, 0x11D42}, {0x11D44, 0x11D45}, {0x11D97, 0x11D97},
      {0x11F41, 0x11F42}, {0x16FF0, 0x16FF1}, {0x1E030, 0x1E06D}, {0x1E08F, 0x1E08F},
      {0x1E130, 0x1E136}, {0x1E2AE, 0x1E2AE}, {0x1E2EC, 0x1E2EF}, {0x1E4EC, 0x1E4EF},
      {0x1F16C, 0x1F16C}, {0x1FBF0, 0x1FBF9}};
  if (c < 0x7FD) return false;
  for (const auto& r : kRanges) {
    if (c >= r[0] && c <= r[1]) return true;
  }
  return false;
}

void NormalFormChanges(std::string_view in, bool compat, bool compose,
                       std::vector<CharChange>* out) {
  if (!compose) {
    Decompose(in, compat, out);
    return;
  }
  std::vector<CharChange> d;
  Decompose(in, compat, &d);
  Recompose(d, out);
}

}  // namespace floe::text
