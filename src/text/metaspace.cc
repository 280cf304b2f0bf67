#include "text/metaspace.h"

#include "text/unicode.h"
#include "text/json_type.h"
#include "text/utf8.h"

namespace floe::text {
namespace {

using nlohmann::json;

// Metaspace on one split: spaces replaced, the prefix added, then split
// before each replacement (the replacement starts the next split).
void RunMetaspace(const MetaspaceOptions& ms, std::string_view in, bool first,
                  std::string* buf, const std::function<void(std::string_view, bool)>& emit) {
  buf->clear();
  const std::string& rep = ms.replacement;
  const bool starts_with_rep = in.substr(0, 1) == " " || in.substr(0, rep.size()) == rep;
  if (!in.empty() && !starts_with_rep &&
      (ms.prepend_scheme == PrependScheme::kAlways ||
       (ms.prepend_scheme == PrependScheme::kFirst && first))) {
    buf->append(rep);
  }
  for (char c : in) {
    if (c == ' ') {
      buf->append(rep);
    } else {
      buf->push_back(c);
    }
  }
  const std::string_view s(*buf);
  if (!ms.split) {
    if (!s.empty()) emit(s, first);
    return;
  }
  size_t start = 0;
  size_t pos = rep.empty() ? std::string_view::npos : s.find(rep, 1);
  while (pos != std::string_view::npos) {
    emit(s.substr(start, pos - start), first && start == 0);
    start = pos;
    pos = s.find(rep, pos + rep.size());
  }
  if (start < s.size()) emit(s.substr(start), first && start == 0);
}

void RunWhitespaceSplit(std::string_view in, bool first,
                        const std::function<void(std::string_view, bool)>& emit) {
  const auto* p = reinterpret_cast<const unsigned char*>(in.data());
  size_t start = 0, i = 0;
  while (i < in.size()) {
    uint32_t cp;
    const int len = DecodeUtf8(p + i, &cp);
    if (IsWhitespace(cp)) {
      if (i > start) emit(in.substr(start, i - start), first && start == 0);
      start = i + len;
    }
    i += len;
  }
  if (start < in.size()) emit(in.substr(start), first && start == 0);
}

// Split, behavior Isolated: matches and the text between them, in order.
void RunSplit(SplitPattern pattern, std::string_view in, bool first,
              const std::function<void(std::string_view, bool)>& emit) {
  std::vector<std::pair<size_t, size_t>> m;
  FindMatches(pattern, in, &m);
  size_t at = 0;
  for (const auto& [s, e] : m) {
    if (s > at) emit(in.substr(at, s - at), first && at == 0);
    emit(in.substr(s, e - s), first && s == 0);
    at = e;
  }
  if (at < in.size()) emit(in.substr(at), first && at == 0);
}

}  // namespace

void PreTokenizerChain::RunByteLevel(const Step& st, std::string_view in, bool first,
                                     const std::function<void(std::string_view, bool)>& emit) {
  std::string prefixed;
  if (st.add_prefix_space && (in.empty() || in[0] != ' ')) {
    prefixed.reserve(in.size() + 1);
    prefixed.push_back(' ');
    prefixed.append(in);
    in = prefixed;
  }
  std::string mapped;
  auto out = [&](std::string_view piece, bool f) {
    mapped.clear();
    AppendByteLevel(piece, &mapped);
    emit(mapped, f);
  };
  if (st.use_regex) {
    RunSplit(SplitPattern::kGpt2, in, first, out);
  } else {
    out(in, first);
  }
}

StatusOr<MetaspaceOptions> ParseMetaspace(const json& j, const std::string& name) {
  MetaspaceOptions ms;
  if (j.contains("replacement")) {
    ms.replacement = j["replacement"].get<std::string>();
    if (ms.replacement.empty() || FindInvalidUtf8(ms.replacement) != std::string::npos) {
      return InvalidArgumentError(name + ": Metaspace replacement must be one character");
    }
  }
  const std::string scheme = j.value("prepend_scheme", std::string("always"));
  if (scheme == "always") {
    ms.prepend_scheme = PrependScheme::kAlways;
  } else if (scheme == "first") {
    ms.prepend_scheme = PrependScheme::kFirst;
  } else if (scheme == "never") {
    ms.prepend_scheme = PrependScheme::kNever;
  } else {
    return InvalidArgumentError(name + ": unknown Metaspace prepend_scheme '" + scheme + "'");
  }
  if (j.contains("add_prefix_space") && j["add_prefix_space"].is_boolean() &&
      !j["add_prefix_space"].get<bool>()) {
    if (j.contains("prepend_scheme") && ms.prepend_scheme != PrependScheme::kNever) {
      return InvalidArgumentError(name +
                                  ": add_prefix_space does not match declared prepend_scheme");
    }
    ms.prepend_scheme = PrependScheme::kNever;
  }
  ms.split = j.value("split", true);
  return ms;
}

StatusOr<PreTokenizerChain> PreTokenizerChain::Parse(const json& j, const std::string& name) {
  PreTokenizerChain c;
  if (j.is_null()) return c;
  std::vector<const json*> items;
  if (JsonTypeName(j) == "Sequence") {
    for (const json& p : j.at("pretokenizers")) items.push_back(&p);
  } else {
    items.push_back(&j);
  }
  for (const json* p : items) {
    const std::string type = JsonTypeName(*p);
    Step s;
    if (type == "Metaspace") {
      s.kind = Step::kMetaspace;
      FLOE_ASSIGN_OR_RETURN(s.ms, ParseMetaspace(*p, name));
    } else if (type == "Split") {
      s.kind = Step::kSplit;
      const json& pat = p->at("pattern");
      const std::string regex = pat.contains("Regex") ? pat["Regex"].get<std::string>() : "";
      if (!RecognizeSplitPattern(regex, &s.pattern)) {
        return UnimplementedError(name + ": Split pattern " + pat.dump() +
                                  " is not supported (GPT-2's and Qwen2's regexes)");
      }
      const std::string behavior = p->value("behavior", std::string("Isolated"));
      if (behavior != "Isolated" || p->value("invert", false)) {
        return UnimplementedError(name + ": Split behavior '" + behavior +
                                  "' / invert is not supported (Isolated, invert false)");
      }
    } else if (type == "ByteLevel") {
      s.kind = Step::kByteLevel;
      s.add_prefix_space = p->value("add_prefix_space", true);
      s.use_regex = p->value("use_regex", true);
    } else if (type != "WhitespaceSplit") {
      return UnimplementedError(name + ": pre_tokenizer '" + type +
                                "' is not supported (Metaspace, WhitespaceSplit, Split, "
                                "ByteLevel, Sequence of them)");
    }
    c.steps_.push_back(std::move(s));
  }
  return c;
}

void PreTokenizerChain::Run(std::string_view piece, bool first,
                            const std::function<void(std::string_view)>& on_split,
                            std::vector<std::string>* scratch) const {
  if (piece.empty()) return;
  if (steps_.empty()) {
    on_split(piece);
    return;
  }
  if (scratch->size() < steps_.size() + 1) scratch->resize(steps_.size() + 1);
  // Step k's splits go straight into step k+1 (depth-first keeps the order).
  std::function<void(size_t, std::string_view, bool)> run = [&](size_t k, std::string_view in,
                                                                 bool f) {
    if (k == steps_.size()) {
      if (!in.empty()) on_split(in);
      return;
    }
    auto next = [&](std::string_view s, bool sf) { run(k + 1, s, sf); };
    const Step& st = steps_[k];
    switch (st.kind) {
      case Step::kMetaspace: {
        // Each step's buffer must outlive its splits: nested calls use their own.
        std::string buf;
        RunMetaspace(st.ms, in, f, k == 0 ? &(*scratch)[0] : &buf, next);
        break;
      }
      case Step::kWhitespaceSplit:
        RunWhitespaceSplit(in, f, next);
        break;
      case Step::kSplit:
        RunSplit(st.pattern, in, f, next);
        break;
      case Step::kByteLevel:
        RunByteLevel(st, in, f, next);
        break;
    }
  };
  run(0, piece, first);
}

void PreTokenizerChain::RunAligned(AlignedText piece, bool first,
                                   const std::function<void(const AlignedText&)>& on_split) const {
  std::function<void(size_t, AlignedText&, bool)> run = [&](size_t k, AlignedText& in, bool f) {
    if (in.text.empty()) return;
    if (k == steps_.size()) {
      on_split(in);
      return;
    }
    const Step& st = steps_[k];
    // A split given as a view into in.text (the unaligned steps' output).
    auto next_view = [&](std::string_view s, bool sf) {
      const auto at = static_cast<size_t>(s.data() - in.text.data());
      AlignedText sub = in.Sub(at, at + s.size());
      run(k + 1, sub, sf);
    };
    switch (st.kind) {
      case Step::kMetaspace:
        MetaspaceAligned(st.ms, f, &in, [&](size_t s, size_t e) {
          AlignedText sub = in.Sub(s, e);
          run(k + 1, sub, f && s == 0);
        });
        break;
      case Step::kWhitespaceSplit:
        RunWhitespaceSplit(in.text, f, next_view);
        break;
      case Step::kSplit:
        RunSplit(st.pattern, in.text, f, next_view);
        break;
      case Step::kByteLevel: {
        if (st.add_prefix_space && in.text[0] != ' ') PrependAligned(" ", &in);
        // Each byte becomes a char with its char's range (the crate's
        // changes: 0 for a char's first byte, 1 for the others).
        auto mapped = [&](std::string_view s, bool sf) {
          const auto at = static_cast<size_t>(s.data() - in.text.data());
          AlignedText sub = in.Sub(at, at + s.size());
          std::vector<CharChange> ch;
          ch.reserve(s.size());
          for (size_t i = 0; i < s.size(); ++i) {
            ch.push_back({ByteLevelChar(static_cast<unsigned char>(s[i])),
                          IsUtf8Continuation(static_cast<unsigned char>(s[i])) ? 1 : 0});
          }
          ApplyChanges(ch, 0, &sub);
          run(k + 1, sub, sf);
        };
        if (st.use_regex) {
          RunSplit(SplitPattern::kGpt2, in.text, f, mapped);
        } else {
          mapped(in.text, f);
        }
        break;
      }
    }
  };
  run(0, piece, first);
}

void MetaspaceAligned(const MetaspaceOptions& ms, bool first, AlignedText* t,
                      const std::function<void(size_t, size_t)>& on_split) {
  const std::string& rep = ms.replacement;
  uint32_t rep_cp;
  DecodeUtf8(reinterpret_cast<const unsigned char*>(rep.data()), &rep_cp);
  std::vector<CharChange> ch;
  const auto* p = reinterpret_cast<const unsigned char*>(t->text.data());
  bool spaces = false;
  for (size_t i = 0; i < t->text.size();) {
    uint32_t cp;
    i += DecodeUtf8(p + i, &cp);
    if (cp == ' ') {
      ch.push_back({CharChange::kSkip, 1});
      ch.push_back({rep_cp, 1});
      spaces = true;
    } else {
      ch.push_back({cp, 0});
    }
  }
  if (spaces) ApplyChanges(ch, 0, t);
  const std::string_view in(t->text);
  if (!in.empty() && in.compare(0, rep.size(), rep) != 0 &&
      (ms.prepend_scheme == PrependScheme::kAlways ||
       (ms.prepend_scheme == PrependScheme::kFirst && first))) {
    // The crate's prepend: the replacement takes the first char's place, which
    // is inserted after it.
    ch.clear();
    ch.push_back({rep_cp, 0});
    p = reinterpret_cast<const unsigned char*>(t->text.data());
    for (size_t i = 0; i < t->text.size();) {
      uint32_t cp;
      i += DecodeUtf8(p + i, &cp);
      ch.push_back({cp, ch.size() == 1 ? 1 : 0});
    }
    ApplyChanges(ch, 0, t);
  }
  const std::string_view s(t->text);
  if (!ms.split) {
    if (!s.empty()) on_split(0, s.size());
    return;
  }
  size_t start = 0;
  size_t pos = s.find(rep, 1);
  while (pos != std::string_view::npos) {
    on_split(start, pos);
    start = pos;
    pos = s.find(rep, pos + rep.size());
  }
  if (start < s.size()) on_split(start, s.size());
}

void MetaspaceDecodeToken(const MetaspaceOptions& ms, size_t index, std::string_view token,
                          std::string* out) {
  const std::string& rep = ms.replacement;
  const bool drop = index == 0 && ms.prepend_scheme != PrependScheme::kNever;
  size_t i = 0;
  while (i < token.size()) {
    if (token.compare(i, rep.size(), rep) == 0) {
      if (!drop) out->push_back(' ');
      i += rep.size();
    } else {
      out->push_back(token[i++]);
    }
  }
}

}  // namespace floe::text
