#include "text/alignment.h"

#include "text/utf8.h"

namespace floe::text {
namespace {

size_t CharLenAt(const std::string& s, size_t at) {
  if (at >= s.size()) return 0;
  const auto b = static_cast<unsigned char>(s[at]);
  const size_t len = b < 0x80 ? 1 : b < 0xE0 ? 2 : b < 0xF0 ? 3 : 4;
  return at + len <= s.size() ? len : s.size() - at;
}

}  // namespace

AlignedText AlignedText::FromOriginal(std::string_view s) {
  AlignedText t;
  t.text.assign(s);
  t.align.resize(s.size());
  for (size_t i = 0; i < s.size();) {
    const size_t len = CharLenAt(t.text, i);
    for (size_t k = 0; k < len; ++k) {
      t.align[i + k] = {static_cast<uint32_t>(i), static_cast<uint32_t>(i + len)};
    }
    i += len;
  }
  return t;
}

void ApplyChanges(const std::vector<CharChange>& changes, size_t initial_chars, AlignedText* t) {
  const std::string& in = t->text;
  const std::vector<ByteSpan>& a = t->align;
  size_t offset = 0;
  for (size_t k = 0; k < initial_chars; ++k) offset += CharLenAt(in, offset);
  AlignedText out;
  out.text.reserve(in.size() + 8);
  out.align.reserve(in.size() + 8);
  const ByteSpan end_span = a.empty() ? ByteSpan{0, 0} : ByteSpan{a.back().second, a.back().second};
  for (const CharChange& c : changes) {
    if (c.cp == CharChange::kSkip) {
      for (int k = 0; k < c.change; ++k) offset += CharLenAt(in, offset);
      continue;
    }
    const size_t idx = offset;
    ByteSpan span;
    if (c.change > 0) {
      span = idx < 1 ? ByteSpan{0, 0} : a[idx - 1];
    } else {
      span = idx < a.size() ? a[idx] : end_span;
      offset += CharLenAt(in, offset);
      for (int k = 0; k < -c.change; ++k) offset += CharLenAt(in, offset);
    }
    const size_t before = out.text.size();
    AppendUtf8(c.cp, &out.text);
    out.align.insert(out.align.end(), out.text.size() - before, span);
  }
  *t = std::move(out);
}

void PrependAligned(std::string_view prefix, AlignedText* t) {
  if (t->text.empty()) return;
  std::vector<CharChange> ch;
  const auto* p = reinterpret_cast<const unsigned char*>(prefix.data());
  for (size_t i = 0; i < prefix.size();) {
    uint32_t cp;
    i += DecodeUtf8(p + i, &cp);
    ch.push_back({cp, ch.empty() ? 0 : 1});
  }
  const auto* q = reinterpret_cast<const unsigned char*>(t->text.data());
  for (size_t i = 0; i < t->text.size();) {
    uint32_t cp;
    const bool first = i == 0;
    i += DecodeUtf8(q + i, &cp);
    ch.push_back({cp, first ? 1 : 0});
  }
  ApplyChanges(ch, 0, t);
}

}  // namespace floe::text
