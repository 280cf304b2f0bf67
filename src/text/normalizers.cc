#include "text/normalizers.h"

#include <utf8proc.h>

#include <cstdlib>

#include "text/unicode.h"
#include "text/json_type.h"
#include "text/normal_forms.h"
#include "text/utf8.h"

namespace floe::text {
namespace {

using nlohmann::json;

// The regex forms converters write for Replace: a literal (possibly with
// escaped metacharacters), optionally followed by `{n,}` or `+` applying to
// its last character. Returns false for anything else.
bool ParseSimpleRegex(const std::string& re, std::string* unit, std::string* prefix,
                      size_t* min_repeat, bool* repeated) {
  static constexpr std::string_view kMeta = "\\^$.|?*+()[]{}";
  std::string lit;
  size_t i = 0;
  size_t last_start = 0;
  while (i < re.size()) {
    const char c = re[i];
    if (c == '\\' && i + 1 < re.size() && kMeta.find(re[i + 1]) != std::string_view::npos) {
      last_start = lit.size();
      lit.push_back(re[i + 1]);
      i += 2;
      continue;
    }
    if (kMeta.find(c) != std::string_view::npos) break;
    last_start = lit.size();
    const auto b = static_cast<unsigned char>(c);
    const size_t len = b < 0x80 ? 1 : b < 0xE0 ? 2 : b < 0xF0 ? 3 : 4;
    lit.append(re, i, len);
    i += len;
  }
  *min_repeat = 1;
  *repeated = i < re.size();
  if (i < re.size()) {
    const std::string rest = re.substr(i);
    if (lit.empty()) return false;
    if (rest == "+") {
      *min_repeat = 1;
    } else if (rest.size() >= 4 && rest.front() == '{' && rest.substr(rest.size() - 2) == ",}") {
      const std::string num = rest.substr(1, rest.size() - 3);
      if (num.empty() || num.find_first_not_of("0123456789") != std::string::npos) return false;
      *min_repeat = static_cast<size_t>(std::strtoul(num.c_str(), nullptr, 10));
      if (*min_repeat == 0 || *min_repeat > 1000) return false;
    } else {
      return false;
    }
    *unit = lit.substr(last_start);
    *prefix = lit.substr(0, last_start);
    return true;
  }
  *unit = lit;
  prefix->clear();
  return !lit.empty();
}

void UnicodeNormalize(std::string_view in, int options, std::string* out) {
  utf8proc_uint8_t* mapped = nullptr;
  const utf8proc_ssize_t n =
      utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(in.data()),
                   static_cast<utf8proc_ssize_t>(in.size()), &mapped,
                   static_cast<utf8proc_option_t>(options));
  if (n < 0) {
    out->append(in);  // cannot happen on valid UTF-8
  } else {
    out->append(reinterpret_cast<const char*>(mapped), static_cast<size_t>(n));
  }
  std::free(mapped);
}

// NFx of `in` with the crate's older tables: see CrateTreatsAsStarter.
void UnicodeNormalizeLikeCrate(std::string_view in, int options, std::string* out) {
  const auto* p = reinterpret_cast<const unsigned char*>(in.data());
  size_t from = 0, i = 0;
  while (i < in.size()) {
    if (p[i] < 0xDF) {  // below U+07C0
      i += p[i] < 0x80 ? 1 : 2;
      continue;
    }
    uint32_t cp;
    const int len = DecodeUtf8(p + i, &cp);
    if (CrateTreatsAsStarter(cp)) {
      UnicodeNormalize(in.substr(from, i - from), options, out);
      out->append(in.substr(i, len));
      from = i + len;
    }
    i += len;
  }
  UnicodeNormalize(in.substr(from), options, out);
}

void ReplaceLiteral(const std::string& in, const std::string& pat, const std::string& with,
                    std::string* out) {
  size_t pos = 0;
  while (true) {
    const size_t hit = in.find(pat, pos);
    if (hit == std::string::npos) break;
    out->append(in, pos, hit - pos).append(with);
    pos = hit + pat.size();
  }
  out->append(in, pos, std::string::npos);
}

// Whether replacing `matched` at the start moves the text's first character
// off original offset 0 in the crate's alignments: its replacement takes the
// alignment of the match's last byte (so a match of more than one character
// moves it), and an empty replacement removes it.
bool ReplacedStartMoves(const std::string& matched, const std::string& content) {
  if (content.empty()) return true;
  const auto b = static_cast<unsigned char>(matched[0]);
  const size_t first_len = b < 0x80 ? 1 : b < 0xE0 ? 2 : b < 0xF0 ? 3 : 4;
  return matched.size() > first_len;
}

// Copies of `unit` in a row at `at`.
size_t CountRunAt(const std::string& in, size_t at, const std::string& unit) {
  size_t count = 0;
  while (in.compare(at, unit.size(), unit) == 0) {
    at += unit.size();
    ++count;
  }
  return count;
}

// Replaces every maximal run of >= min_repeat copies of `unit` (greedy,
// left to right, as a regex `unit{n,}` does).
void ReplaceRuns(const std::string& in, const std::string& unit, size_t min_repeat,
                 const std::string& with, std::string* out) {
  size_t pos = 0;
  size_t copied = 0;
  while (true) {
    const size_t hit = in.find(unit, pos);
    if (hit == std::string::npos) break;
    const size_t count = CountRunAt(in, hit, unit);
    const size_t end = hit + count * unit.size();
    if (count >= min_repeat) {
      out->append(in, copied, hit - copied).append(with);
      copied = end;
    }
    pos = end;
  }
  out->append(in, copied, std::string::npos);
}

}  // namespace

Status NormalizerChain::ParseOne(const json& j, const std::string& name,
                                 std::vector<Step>* steps) {
  if (j.is_null()) return OkStatus();
  const std::string type = JsonTypeName(j);
  Step s{};
  if (type == "Sequence") {
    for (const json& n : j.at("normalizers")) FLOE_RETURN_IF_ERROR(ParseOne(n, name, steps));
    return OkStatus();
  }
  if (type == "Precompiled") {
    s.kind = Kind::kPrecompiled;
    const json& cm = j.at("precompiled_charsmap");
    if (!cm.is_null()) {
      FLOE_ASSIGN_OR_RETURN(std::string blob, DecodeBase64(cm.get<std::string>()));
      auto m = PrecompiledCharsmap::Parse(blob);
      if (!m.ok()) return m.status().WithPrefix(name);
      s.charsmap = std::move(m).value();
    }
    if (s.charsmap.empty()) return OkStatus();
  } else if (type == "Replace") {
    s.content = j.at("content").get<std::string>();
    const json& p = j.at("pattern");
    if (p.contains("String")) {
      s.kind = Kind::kReplace;
      s.pattern = p["String"].get<std::string>();
      if (s.pattern.empty()) {
        return UnimplementedError(name + ": Replace with an empty pattern is not supported");
      }
    } else {
      const std::string re = p.at("Regex").get<std::string>();
      std::string unit, prefix;
      bool repeated = false;
      if (!ParseSimpleRegex(re, &unit, &prefix, &s.min_repeat, &repeated) || !prefix.empty()) {
        return UnimplementedError(name + ": Replace regex '" + re +
                                  "' is not supported (only literals, X+ and X{n,})");
      }
      s.kind = repeated ? Kind::kRepeatReplace : Kind::kReplace;
      s.pattern = unit;
    }
  } else if (type == "NFC" || type == "NFD" || type == "NFKC" || type == "NFKD") {
    s.kind = Kind::kUnicode;
    int o = UTF8PROC_STABLE;
    o |= type[type.size() - 1] == 'C' ? UTF8PROC_COMPOSE : UTF8PROC_DECOMPOSE;
    if (type.size() == 4) o |= UTF8PROC_COMPAT;
    s.unicode_options = o;
  } else if (type == "Lowercase") {
    s.kind = Kind::kLowercase;
  } else if (type == "Strip") {
    s.kind = Kind::kStrip;
    s.left = j.value("strip_left", true);
    s.right = j.value("strip_right", true);
  } else if (type == "Prepend") {
    s.kind = Kind::kPrepend;
    s.content = j.at("prepend").get<std::string>();
  } else {
    return UnimplementedError(name + ": normalizer '" + type +
                              "' is not supported with a Unigram model (Precompiled, Replace, "
                              "NFC, NFD, NFKC, NFKD, Lowercase, Strip, Prepend, Sequence)");
  }
  steps->push_back(std::move(s));
  return OkStatus();
}

StatusOr<NormalizerChain> NormalizerChain::Parse(const json& j, const std::string& name) {
  NormalizerChain c;
  FLOE_RETURN_IF_ERROR(ParseOne(j, name, &c.steps_));
  return c;
}

bool NormalizerChain::RunStep(const Step& s, const std::string& in, std::string* out) {
  switch (s.kind) {
    case Kind::kPrecompiled:
      // The crate's alignment keeps offset 0 even when leading text maps to "".
      s.charsmap.Normalize(in, out);
      return true;
    case Kind::kReplace:
      ReplaceLiteral(in, s.pattern, s.content, out);
      return !(in.compare(0, s.pattern.size(), s.pattern) == 0 &&
               ReplacedStartMoves(s.pattern, s.content));
    case Kind::kRepeatReplace:
      ReplaceRuns(in, s.pattern, s.min_repeat, s.content, out);
      {
        const size_t run = CountRunAt(in, 0, s.pattern);
        if (run < s.min_repeat) return true;
        std::string matched;
        for (size_t k = 0; k < run && matched.size() < 8; ++k) matched += s.pattern;
        return !ReplacedStartMoves(matched, s.content);
      }
    case Kind::kUnicode:
      UnicodeNormalizeLikeCrate(in, s.unicode_options, out);
      return true;
    case Kind::kLowercase: {
      const auto* p = reinterpret_cast<const unsigned char*>(in.data());
      const auto* end = p + in.size();
      while (p < end) {
        uint32_t cp;
        p += DecodeUtf8(p, &cp);
        uint32_t l[2];
        const int k = ToLowerFull(cp, l);
        for (int i = 0; i < k; ++i) AppendUtf8(l[i], out);
      }
      return true;
    }
    case Kind::kStrip: {
      size_t b = 0, e = in.size();
      const auto* p = reinterpret_cast<const unsigned char*>(in.data());
      if (s.left) {
        while (b < e) {
          uint32_t cp;
          const int len = DecodeUtf8(p + b, &cp);
          if (!IsWhitespace(cp)) break;
          b += len;
        }
      }
      if (s.right) {
        while (e > b) {
          size_t k = e - 1;
          while (k > b && IsUtf8Continuation(p[k])) --k;
          uint32_t cp;
          DecodeUtf8(p + k, &cp);
          if (!IsWhitespace(cp)) break;
          e = k;
        }
      }
      out->append(in, b, e - b);
      return b == 0;
    }
    case Kind::kPrepend:
      if (!in.empty()) out->append(s.content);
      out->append(in);
      return true;
  }
  return true;
}

bool NormalizerChain::Apply(std::string_view text, std::string* out) const {
  out->assign(text);
  std::string tmp;
  bool kept = true;
  for (const Step& s : steps_) {
    tmp.clear();
    tmp.reserve(out->size() + 8);
    kept = RunStep(s, *out, &tmp) && kept;
    out->swap(tmp);
  }
  return kept;
}


namespace {

void PushChars(std::string_view s, int change, std::vector<CharChange>* t) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  for (size_t i = 0; i < s.size();) {
    uint32_t cp;
    i += DecodeUtf8(p + i, &cp);
    t->push_back({cp, change});
  }
}

size_t CountChars(std::string_view s) {
  size_t n = 0;
  for (unsigned char b : s) n += !IsUtf8Continuation(b);
  return n;
}

}  // namespace

Status NormalizerChain::ApplyAligned(AlignedText* t) const {
  std::vector<CharChange> ch;
  for (const Step& s : steps_) {
    ch.clear();
    const std::string& in = t->text;
    size_t initial = 0;
    switch (s.kind) {
      case Kind::kPrecompiled:
        if (!s.charsmap.NormalizeChanges(in, &ch)) continue;
        break;
      case Kind::kReplace:
      case Kind::kRepeatReplace: {
        // Each match: its chars dropped, the content inserted after them.
        size_t pos = 0, copied = 0;
        bool any = false;
        while (true) {
          const size_t hit = in.find(s.pattern, pos);
          if (hit == std::string::npos) break;
          size_t end = hit + s.pattern.size();
          if (s.kind == Kind::kRepeatReplace) {
            end = hit + CountRunAt(in, hit, s.pattern) * s.pattern.size();
            if ((end - hit) / s.pattern.size() < s.min_repeat) {
              pos = end;
              continue;
            }
          }
          any = true;
          PushChars(std::string_view(in).substr(copied, hit - copied), 0, &ch);
          ch.push_back({CharChange::kSkip, static_cast<int>(CountChars(
                                               std::string_view(in).substr(hit, end - hit)))});
          PushChars(s.content, 1, &ch);
          copied = pos = end;
        }
        if (!any) continue;
        PushChars(std::string_view(in).substr(copied), 0, &ch);
        break;
      }
      case Kind::kUnicode: {
        bool ascii = true;
        for (unsigned char b : in) ascii = ascii && b < 0x80;
        if (ascii) continue;  // every form keeps ASCII as it is
        NormalFormChanges(in, (s.unicode_options & UTF8PROC_COMPAT) != 0,
                          (s.unicode_options & UTF8PROC_COMPOSE) != 0, &ch);
        break;
      }
      case Kind::kLowercase: {
        const auto* p = reinterpret_cast<const unsigned char*>(in.data());
        for (size_t i = 0; i < in.size();) {
          uint32_t cp;
          i += DecodeUtf8(p + i, &cp);
          uint32_t l[2];
          const int k = ToLowerFull(cp, l);
          for (int j = 0; j < k; ++j) ch.push_back({l[j], j > 0 ? 1 : 0});
        }
        break;
      }
      case Kind::kStrip: {
        std::string stripped;
        RunStep(s, in, &stripped);
        if (stripped.size() == in.size()) continue;
        // RunStep keeps a substring, which starts with a non-space.
        const size_t b = stripped.empty() ? in.size() : in.find(stripped);
        initial = CountChars(std::string_view(in).substr(0, b));
        PushChars(stripped, 0, &ch);
        break;
      }
      case Kind::kPrepend:
        PrependAligned(s.content, t);
        continue;
    }
    ApplyChanges(ch, initial, t);
  }
  return OkStatus();
}

}  // namespace floe::text
