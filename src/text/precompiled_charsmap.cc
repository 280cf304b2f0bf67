#include "text/precompiled_charsmap.h"

#include <utf8proc.h>

#include <cstring>

#include "text/utf8.h"

namespace floe::text {
namespace {

// A Darts double-array unit: label byte (bit 31 set marks a value unit), a
// leaf flag at bit 8, an offset in bits 10.. (scaled by 256 when bit 9 is set).
bool UnitHasLeaf(uint32_t u) { return ((u >> 8) & 1u) != 0; }
uint32_t UnitValue(uint32_t u) { return u & ((1u << 31) - 1); }
uint32_t UnitLabel(uint32_t u) { return u & ((1u << 31) | 0xFFu); }
uint32_t UnitOffset(uint32_t u) { return (u >> 10) << ((u & (1u << 9)) >> 6); }

int Base64Value(unsigned char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

// True when an extended grapheme cluster boundary lies between c1 and c2.
bool GraphemeBreak(uint32_t c1, uint32_t c2, utf8proc_int32_t* state) {
  if (c1 < 0x80 && c2 < 0x80 && !(c1 == '\r' && c2 == '\n')) {
    *state = 0;
    return true;
  }
  return utf8proc_grapheme_break_stateful(static_cast<utf8proc_int32_t>(c1),
                                          static_cast<utf8proc_int32_t>(c2), state);
}

}  // namespace

StatusOr<std::string> DecodeBase64(std::string_view in) {
  std::string out;
  out.reserve(in.size() / 4 * 3);
  uint32_t acc = 0;
  int bits = 0;
  size_t i = 0;
  for (; i < in.size() && in[i] != '='; ++i) {
    const int v = Base64Value(static_cast<unsigned char>(in[i]));
    if (v < 0) {
      return InvalidArgumentError("base64: invalid character at offset " + std::to_string(i));
    }
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xFFu));
    }
  }
  for (; i < in.size(); ++i) {
    if (in[i] != '=') return InvalidArgumentError("base64: data after padding");
  }
  return out;
}

StatusOr<PrecompiledCharsmap> PrecompiledCharsmap::Parse(std::string_view blob) {
  PrecompiledCharsmap m;
  if (blob.empty()) return m;
  if (blob.size() < 4) return InvalidArgumentError("precompiled_charsmap: shorter than 4 bytes");
  const auto* b = reinterpret_cast<const unsigned char*>(blob.data());
  const uint32_t trie_bytes = b[0] | (b[1] << 8) | (b[2] << 16) | (uint32_t{b[3]} << 24);
  if (trie_bytes % 4 != 0 || trie_bytes > blob.size() - 4) {
    return InvalidArgumentError("precompiled_charsmap: trie size " + std::to_string(trie_bytes) +
                                " does not fit the " + std::to_string(blob.size()) +
                                "-byte blob");
  }
  m.units_.resize(trie_bytes / 4);
  for (size_t i = 0; i < m.units_.size(); ++i) {
    const unsigned char* p = b + 4 + 4 * i;
    m.units_[i] = p[0] | (p[1] << 8) | (p[2] << 16) | (uint32_t{p[3]} << 24);
  }
  m.replacements_.assign(blob.substr(4 + trie_bytes));
  if (FindInvalidUtf8(m.replacements_) != std::string_view::npos) {
    return InvalidArgumentError("precompiled_charsmap: replacements are not valid UTF-8");
  }
  if (m.units_.empty()) m.replacements_.clear();
  return m;
}

std::optional<std::string_view> PrecompiledCharsmap::Transform(std::string_view chunk) const {
  if (units_.empty()) return std::nullopt;
  const size_t n_units = units_.size();
  size_t pos = UnitOffset(units_[0]);
  for (unsigned char c : chunk) {
    if (c == 0) break;
    pos ^= c;
    if (pos >= n_units) return std::nullopt;
    const uint32_t unit = units_[pos];
    if (UnitLabel(unit) != c) return std::nullopt;
    pos ^= UnitOffset(unit);
    if (pos >= n_units) return std::nullopt;
    if (UnitHasLeaf(unit)) {
      const size_t at = UnitValue(units_[pos]);
      if (at > replacements_.size()) return std::string_view();
      const char* start = replacements_.data() + at;
      const void* nul = std::memchr(start, 0, replacements_.size() - at);
      const size_t len = nul ? static_cast<const char*>(nul) - start : replacements_.size() - at;
      return std::string_view(start, len);
    }
  }
  return std::nullopt;
}

void PrecompiledCharsmap::Normalize(std::string_view text, std::string* out) const {
  if (units_.empty()) {
    out->append(text);
    return;
  }
  Walk(text, [out](std::string_view, std::string_view r) { out->append(r); });
}

namespace {

// The crate's Precompiled `replace`: the new chars replace the old ones one
// by one; extra new chars are inserted, missing ones come off the last
// transformation.
void ReplaceChanges(std::string_view old_part, std::string_view new_part,
                    std::vector<CharChange>* t) {
  auto count = [](std::string_view s) {
    long n = 0;
    for (unsigned char b : s) n += !IsUtf8Continuation(b);
    return n;
  };
  const long diff = count(new_part) - count(old_part);
  const auto* p = reinterpret_cast<const unsigned char*>(new_part.data());
  for (size_t i = 0; i < new_part.size();) {
    uint32_t cp;
    i += DecodeUtf8(p + i, &cp);
    t->push_back({cp, 0});
  }
  if (diff > 0) {
    for (long k = 0; k < diff && k < static_cast<long>(t->size()); ++k) {
      (*t)[t->size() - 1 - k].change = 1;
    }
  } else if (diff < 0 && !t->empty()) {
    t->back().change += static_cast<int>(diff);
  }
}

}  // namespace

bool PrecompiledCharsmap::NormalizeChanges(std::string_view text,
                                           std::vector<CharChange>* changes) const {
  if (units_.empty()) return false;
  bool modified = false;
  Walk(text, [&](std::string_view old_part, std::string_view r) {
    if (r.data() == old_part.data()) {
      uint32_t cp;
      DecodeUtf8(reinterpret_cast<const unsigned char*>(old_part.data()), &cp);
      changes->push_back({cp, 0});
      return;
    }
    modified = true;
    ReplaceChanges(old_part, r, changes);
  });
  return modified;
}

template <typename Emit>
void PrecompiledCharsmap::Walk(std::string_view text, Emit&& out_piece) const {
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  const size_t n = text.size();
  utf8proc_int32_t state = 0;
  size_t g_start = 0;
  size_t i = 0;
  uint32_t cp = 0;
  if (n > 0) i = DecodeUtf8(p, &cp);
  // Emits the cluster [g_start, g_end).
  auto emit = [&](size_t g_end) {
    const std::string_view g = text.substr(g_start, g_end - g_start);
    if (g.size() < 6) {
      if (auto r = Transform(g)) {
        out_piece(g, *r);
        return;
      }
    }
    size_t k = 0;
    while (k < g.size()) {
      uint32_t c;
      const int len = DecodeUtf8(p + g_start + k, &c);
      const std::string_view one = g.substr(k, len);
      if (auto r = Transform(one)) {
        out_piece(one, *r);
      } else {
        out_piece(one, one);  // kept: the same view
      }
      k += len;
    }
  };
  while (i < n) {
    uint32_t next;
    const int len = DecodeUtf8(p + i, &next);
    if (GraphemeBreak(cp, next, &state)) {
      emit(i);
      g_start = i;
    }
    cp = next;
    i += len;
  }
  if (g_start < n) emit(n);
}

}  // namespace floe::text
