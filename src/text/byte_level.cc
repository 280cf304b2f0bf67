#include "text/byte_level.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <utf8proc.h>

#include "text/unicode.h"
#include "text/utf8.h"

namespace floe::text {
namespace {

const char kGpt2[] =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";
const char kQwen2[] =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+"
    "[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

bool IsL(uint32_t c) {
  if (c < 0x80) return (c | 32) >= 'a' && (c | 32) <= 'z';
  switch (utf8proc_category(static_cast<utf8proc_int32_t>(c))) {
    case UTF8PROC_CATEGORY_LU:
    case UTF8PROC_CATEGORY_LL:
    case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_LO:
      return true;
    default:
      return false;
  }
}

bool IsN(uint32_t c) {
  if (c < 0x80) return c >= '0' && c <= '9';
  switch (utf8proc_category(static_cast<utf8proc_int32_t>(c))) {
    case UTF8PROC_CATEGORY_ND:
    case UTF8PROC_CATEGORY_NL:
    case UTF8PROC_CATEGORY_NO:
      return true;
    default:
      return false;
  }
}

// Code points of `s` with their byte starts, for the matchers.
struct Cursor {
  std::string_view s;
  std::vector<uint32_t> cp;
  std::vector<size_t> at;  // byte start of cp[k]; at[size] = s.size()
  explicit Cursor(std::string_view text) : s(text) {
    const auto* p = reinterpret_cast<const unsigned char*>(text.data());
    for (size_t i = 0; i < text.size();) {
      uint32_t c;
      at.push_back(i);
      i += DecodeUtf8(p + i, &c);
      cp.push_back(c);
    }
    at.push_back(text.size());
  }
  size_t n() const { return cp.size(); }
  bool Ws(size_t k) const { return k < n() && IsWhitespace(cp[k]); }
  bool L(size_t k) const { return k < n() && IsL(cp[k]); }
  bool N(size_t k) const { return k < n() && IsN(cp[k]); }
  bool Other(size_t k) const { return k < n() && !IsWhitespace(cp[k]) && !IsL(cp[k]) && !IsN(cp[k]); }
  bool CrLf(size_t k) const { return k < n() && (cp[k] == '\r' || cp[k] == '\n'); }
};

// 's 't 're 've 'm 'll 'd at k (the apostrophe); case-insensitive as
// Oniguruma's (?i) (U+017F folds to s). Returns the end, or 0.
size_t Contraction(const Cursor& c, size_t k, bool ignore_case) {
  if (c.cp[k] != '\'') return 0;
  static const char* const kSuffixes[] = {"s", "t", "re", "ve", "m", "ll", "d"};
  for (const char* suf : kSuffixes) {
    size_t j = k + 1;
    bool ok = true;
    for (const char* p = suf; *p && ok; ++p, ++j) {
      if (j >= c.n()) {
        ok = false;
        break;
      }
      uint32_t ch = c.cp[j];
      if (ignore_case) {
        if (ch >= 'A' && ch <= 'Z') ch += 32;
        if (ch == 0x17F) ch = 's';
      }
      ok = ch == static_cast<uint32_t>(*p);
    }
    if (ok) return j;
  }
  return 0;
}

// \s+(?!\S) then \s+ at k (a whitespace code point).
size_t Spaces(const Cursor& c, size_t k) {
  size_t m = k;
  while (c.Ws(m)) ++m;
  if (m == c.n() || m - k < 2) return m;  // (?!\S) holds, or only \s+ can match
  return m - 1;
}

size_t MatchGpt2(const Cursor& c, size_t k) {
  if (size_t e = Contraction(c, k, false)) return e;
  const size_t j = c.cp[k] == ' ' ? k + 1 : k;
  if (c.L(j)) {
    size_t e = j;
    while (c.L(e)) ++e;
    return e;
  }
  if (c.N(j)) {
    size_t e = j;
    while (c.N(e)) ++e;
    return e;
  }
  if (c.Other(j)) {
    size_t e = j;
    while (c.Other(e)) ++e;
    return e;
  }
  return Spaces(c, k);
}

size_t MatchQwen2(const Cursor& c, size_t k) {
  if (size_t e = Contraction(c, k, true)) return e;
  // [^\r\n\p{L}\p{N}]?\p{L}+
  size_t j = k;
  if (!c.CrLf(k) && !c.L(k) && !c.N(k) && c.L(k + 1)) j = k + 1;
  if (c.L(j)) {
    size_t e = j;
    while (c.L(e)) ++e;
    return e;
  }
  if (c.N(k)) return k + 1;
  // ' ?[^\s\p{L}\p{N}]+[\r\n]*'
  j = c.cp[k] == ' ' ? k + 1 : k;
  if (c.Other(j)) {
    size_t e = j;
    while (c.Other(e)) ++e;
    while (c.CrLf(e)) ++e;
    return e;
  }
  // \s*[\r\n]+: up to the last CR/LF of the whitespace run.
  size_t m = k, last = 0;
  bool seen = false;
  while (c.Ws(m)) {
    if (c.CrLf(m)) {
      last = m;
      seen = true;
    }
    ++m;
  }
  if (seen) return last + 1;
  return Spaces(c, k);
}

struct ByteTable {
  std::array<uint32_t, 256> to_char{};
  std::array<std::string, 256> utf8;
  ByteTable() {
    uint32_t extra = 256;
    for (int b = 0; b < 256; ++b) {
      const bool keep = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || b >= 174;
      to_char[b] = keep ? static_cast<uint32_t>(b) : extra++;
      AppendUtf8(to_char[b], &utf8[b]);
    }
  }
};

const ByteTable& Table() {
  static const ByteTable t;
  return t;
}

// Length of the valid prefix of a UTF-8 sequence at s[i] (Rust's
// Utf8Chunks): a full code point's length, or how many bytes to replace.
size_t Utf8Step(std::string_view s, size_t i, bool* valid) {
  const auto b = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char b0 = b(i);
  *valid = true;
  if (b0 < 0x80) return 1;
  size_t need;
  unsigned char lo = 0x80, hi = 0xBF;
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    need = 1;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    need = 2;
    if (b0 == 0xE0) lo = 0xA0;
    if (b0 == 0xED) hi = 0x9F;
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    need = 3;
    if (b0 == 0xF0) lo = 0x90;
    if (b0 == 0xF4) hi = 0x8F;
  } else {
    *valid = false;
    return 1;
  }
  for (size_t k = 1; k <= need; ++k) {
    const bool in_range = i + k < s.size() && b(i + k) >= (k == 1 ? lo : 0x80) &&
                          b(i + k) <= (k == 1 ? hi : 0xBF);
    if (!in_range) {
      *valid = false;
      return k;
    }
  }
  return need + 1;
}

}  // namespace

bool RecognizeSplitPattern(const std::string& regex, SplitPattern* out) {
  if (regex == kGpt2) {
    *out = SplitPattern::kGpt2;
    return true;
  }
  if (regex == kQwen2) {
    *out = SplitPattern::kQwen2;
    return true;
  }
  return false;
}

void FindMatches(SplitPattern p, std::string_view s, std::vector<std::pair<size_t, size_t>>* out) {
  out->clear();
  const Cursor c(s);
  for (size_t k = 0; k < c.n();) {
    const size_t e = p == SplitPattern::kGpt2 ? MatchGpt2(c, k) : MatchQwen2(c, k);
    out->emplace_back(c.at[k], c.at[e]);
    k = e;
  }
}

void AppendByteLevel(std::string_view bytes, std::string* out) {
  const ByteTable& t = Table();
  for (char ch : bytes) out->append(t.utf8[static_cast<unsigned char>(ch)]);
}

uint32_t ByteLevelChar(unsigned char b) { return Table().to_char[b]; }

void TrimByteLevelOffsets(std::string_view text, bool add_prefix_space,
                          const std::function<std::string_view(int32_t)>& token_of,
                          std::vector<TokenOffset>* tokens) {
  if (tokens->empty()) return;
  const uint32_t space = Table().to_char[' '];
  // Char index of each byte (a char's bytes share it) and byte start of each char.
  std::vector<uint32_t> char_of(text.size() + 1), byte_of;
  for (size_t i = 0; i < text.size(); ++i) {
    if (!IsUtf8Continuation(static_cast<unsigned char>(text[i]))) byte_of.push_back(i);
    char_of[i] = static_cast<uint32_t>(byte_of.size() - 1);
  }
  char_of[text.size()] = static_cast<uint32_t>(byte_of.size());
  byte_of.push_back(text.size());
  std::vector<uint32_t> cps;
  auto is_space = [&](uint32_t c) { return c == space || IsWhitespace(c); };
  for (size_t i = 0; i < tokens->size(); ++i) {
    TokenOffset& o = (*tokens)[i];
    const std::string_view tok = token_of(o.id);
    cps.clear();
    const auto* p = reinterpret_cast<const unsigned char*>(tok.data());
    for (size_t k = 0; k < tok.size();) {
      uint32_t c;
      k += DecodeUtf8(p + k, &c);
      cps.push_back(c);
    }
    size_t leading = 0, trailing = 0;
    while (leading < cps.size() && is_space(cps[leading])) ++leading;
    while (trailing < cps.size() && is_space(cps[cps.size() - 1 - trailing])) ++trailing;
    if (leading == 0 && trailing == 0) continue;
    // In chars, as the crate's Python binding does it (offsets converted first).
    size_t start = char_of[std::min(o.start, text.size())];
    size_t stop = char_of[std::min(o.stop, text.size())];
    if (leading > 0) {
      if ((i == 0 || start == 0) && add_prefix_space && leading == 1) leading = 0;
      start = std::min(start + leading, stop);
    }
    if (trailing > 0 && stop >= trailing) stop = std::max(stop - trailing, start);
    o.start = byte_of[start];
    o.stop = byte_of[stop];
  }
}

std::string Utf8Lossy(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size());
  for (size_t i = 0; i < bytes.size();) {
    bool valid;
    const size_t n = Utf8Step(bytes, i, &valid);
    if (valid) {
      out.append(bytes.substr(i, n));
    } else {
      out.append("\xEF\xBF\xBD");
    }
    i += n;
  }
  return out;
}

std::string ByteLevelDecode(const std::vector<std::string>& tokens) {
  static const std::vector<int> kFromChar = [] {
    std::vector<int> v(512, -1);
    const ByteTable& t = Table();
    for (int b = 0; b < 256; ++b) v[t.to_char[b]] = b;
    return v;
  }();
  std::string bytes;
  for (const std::string& tok : tokens) {
    std::string mapped;
    bool ok = true;
    const auto* p = reinterpret_cast<const unsigned char*>(tok.data());
    for (size_t i = 0; i < tok.size() && ok;) {
      uint32_t cp;
      i += DecodeUtf8(p + i, &cp);
      ok = cp < kFromChar.size() && kFromChar[cp] >= 0;
      if (ok) mapped.push_back(static_cast<char>(kFromChar[cp]));
    }
    bytes += ok ? mapped : tok;
  }
  return Utf8Lossy(bytes);
}

}  // namespace floe::text
