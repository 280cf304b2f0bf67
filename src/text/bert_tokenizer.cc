#include "text/bert_tokenizer.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <utility>

#include <utf8proc.h>

#include "text/unicode.h"
#include "text/utf8.h"

namespace floe::text {
namespace {

// Prefixes up to this many bytes are hashed in one forward pass; longer
// candidates (only in odd vocabularies) are hashed one by one.
constexpr size_t kMaxHashed = 64;

}  // namespace

struct BertTokenizer::State {
  std::vector<int32_t>* out = nullptr;
  size_t cap = 0;  // out->size() may not exceed this
  bool full = false;
  std::string word;
  size_t word_chars = 0;
  // Offsets path only: WordPiece appends each id's end byte in the word.
  std::vector<uint32_t>* piece_ends = nullptr;
};

BertTokenizer::BertTokenizer(BertOptions options) : opt_(std::move(options)) {}

StatusOr<std::unique_ptr<Tokenizer>> BertTokenizer::Create(BertOptions options,
                                                           const std::string& name) {
  if (options.vocab.empty()) {
    return InvalidArgumentError(name + ": the WordPiece vocabulary is empty");
  }
  for (const auto& [token, id] : options.vocab) {
    if (id < 0) return InvalidArgumentError(name + ": negative id for token '" + token + "'");
  }
  for (const AddedToken& t : options.added_tokens) {
    if (t.id < 0) {
      return InvalidArgumentError(name + ": added token '" + t.content + "' has no id");
    }
    if (t.content.empty()) return InvalidArgumentError(name + ": empty added token");
  }
  std::unique_ptr<BertTokenizer> tok(new BertTokenizer(std::move(options)));
  tok->Init();
  if (tok->unk_id_ < 0) {
    return InvalidArgumentError(name + ": unk token '" + tok->opt_.unk_token +
                                "' is not in the vocabulary");
  }
  return std::unique_ptr<Tokenizer>(std::move(tok));
}

void BertTokenizer::Init() {
  start_map_.Build(opt_.vocab);
  std::vector<std::pair<std::string, int32_t>> cont;
  const std::string& prefix = opt_.continuing_subword_prefix;
  for (const auto& [token, id] : opt_.vocab) {
    if (token.size() > prefix.size() && token.compare(0, prefix.size(), prefix) == 0) {
      cont.emplace_back(token.substr(prefix.size()), id);
    }
  }
  continuation_map_.Build(cont);
  unk_id_ = start_map_.Find(opt_.unk_token);

  int32_t max_id = -1;
  for (const auto& [token, id] : opt_.vocab) max_id = std::max(max_id, id);
  for (const AddedToken& t : opt_.added_tokens) max_id = std::max(max_id, t.id);
  id_to_token_.assign(static_cast<size_t>(max_id + 1), std::string());
  for (const auto& [token, id] : opt_.vocab) id_to_token_[id] = token;
  for (const AddedToken& t : opt_.added_tokens) id_to_token_[t.id] = t.content;

  for (int b = 0; b < 128; ++b) {
    const auto cp = static_cast<uint32_t>(b);
    ascii_class_[b] = IsWhitespace(cp) ? kSpace : IsPunctuation(cp) ? kPunct : kWordChar;
  }
  for (int b = 0; b < 128; ++b) {
    auto c = static_cast<uint32_t>(b);
    if (opt_.clean_text && (c == 0 || IsControl(c))) {
      ascii_norm_[b] = 0;
      ascii_norm_class_[b] = kDrop;
      continue;
    }
    if (opt_.clean_text && IsWhitespace(c)) c = ' ';
    if (opt_.lowercase && c >= 'A' && c <= 'Z') c += 32;
    ascii_norm_[b] = static_cast<uint8_t>(c);
    ascii_norm_class_[b] = ascii_class_[c];
  }

  for (const AddedToken& t : opt_.added_tokens) {
    if (!t.normalized) raw_tokens_.push_back(t);
  }
  raw_matcher_.Build(raw_tokens_);
  normalized_tokens_.clear();
  for (const AddedToken& t : opt_.added_tokens) {
    if (!t.normalized) continue;
    AddedToken n = t;
    n.content.clear();
    NormalizeToString(t.content, &n.content);
    if (!n.content.empty()) normalized_tokens_.push_back(std::move(n));
  }
  normalized_matcher_.Build(normalized_tokens_);
  special_id_.assign(id_to_token_.size(), false);
  for (const AddedToken& t : opt_.added_tokens) {
    if (t.special) special_id_[t.id] = true;
  }
}

std::string_view BertTokenizer::IdToToken(int32_t id) const {
  if (id < 0 || static_cast<size_t>(id) >= id_to_token_.size()) return {};
  return id_to_token_[id];
}

// Per code point, the BertNormalizer steps in the crate's order: clean text,
// pad CJK with spaces, NFD and drop Mn, lowercase (char::to_lowercase).
// `emit` receives the resulting code points.
template <typename Emit>
static inline void NormalizeOne(const BertOptions& opt, uint32_t cp, Emit&& emit) {
  if (opt.clean_text) {
    if (cp == 0 || cp == 0xFFFD || IsControl(cp)) return;
    if (IsWhitespace(cp)) {
      emit(uint32_t{' '});
      return;
    }
  }
  const bool chinese = opt.handle_chinese_chars && IsChineseChar(cp);
  if (chinese) emit(uint32_t{' '});
  auto lower_emit = [&](uint32_t c) {
    if (opt.lowercase) {
      uint32_t l[2];
      const int n = ToLowerFull(c, l);
      for (int i = 0; i < n; ++i) emit(l[i]);
    } else {
      emit(c);
    }
  };
  if (opt.strip_accents) {
    uint32_t d[32];
    int n = DecomposeCanonical(cp, d, 32);
    if (n == 0) {
      d[0] = cp;
      n = 1;
    }
    for (int i = 0; i < n; ++i) {
      if (!IsNonspacingMark(d[i])) lower_emit(d[i]);
    }
  } else {
    lower_emit(cp);
  }
  if (chinese) emit(uint32_t{' '});
}

void BertTokenizer::NormalizeCodepoint(uint32_t cp, State& st) const {
  NormalizeOne(opt_, cp, [&](uint32_t c) { FeedCodepoint(c, st); });
}

void BertTokenizer::NormalizeToString(std::string_view piece, std::string* out) const {
  const auto* p = reinterpret_cast<const unsigned char*>(piece.data());
  const auto* end = p + piece.size();
  while (p < end) {
    if (*p < 0x80) {
      if (ascii_norm_class_[*p] != kDrop) out->push_back(static_cast<char>(ascii_norm_[*p]));
      ++p;
      continue;
    }
    uint32_t cp;
    p += DecodeUtf8(p, &cp);
    NormalizeOne(opt_, cp, [&](uint32_t c) { AppendUtf8(c, out); });
  }
}

void BertTokenizer::FeedCodepoint(uint32_t cp, State& st) const {
  if (cp < 0x80) {
    switch (ascii_class_[cp]) {
      case kSpace:
        FlushWord(st);
        return;
      case kPunct:
        FlushWord(st);
        st.word.push_back(static_cast<char>(cp));
        st.word_chars = 1;
        FlushWord(st);
        return;
      default:
        st.word.push_back(static_cast<char>(cp));
        ++st.word_chars;
        return;
    }
  }
  if (IsWhitespace(cp)) {
    FlushWord(st);
  } else if (IsPunctuation(cp)) {
    FlushWord(st);
    AppendUtf8(cp, &st.word);
    st.word_chars = 1;
    FlushWord(st);
  } else {
    AppendUtf8(cp, &st.word);
    ++st.word_chars;
  }
}

void BertTokenizer::FlushWord(State& st) const {
  if (st.word.empty()) return;
  if (!st.full) WordPiece(st.word, st.word_chars, st);
  st.word.clear();
  st.word_chars = 0;
}

void BertTokenizer::WordPiece(std::string_view word, size_t chars, State& st) const {
  std::vector<int32_t>& out = *st.out;
  if (chars > opt_.max_input_chars_per_word) {
    out.push_back(unk_id_);
    if (st.piece_ends) st.piece_ends->push_back(static_cast<uint32_t>(word.size()));
  } else {
    const size_t mark = out.size();
    const size_t ends_mark = st.piece_ends ? st.piece_ends->size() : 0;
    const size_t n = word.size();
    size_t start = 0;
    uint64_t hashes[kMaxHashed + 1];
    while (start < n) {
      const VocabMap& map = start == 0 ? start_map_ : continuation_map_;
      size_t end = std::min(n, start + map.max_key_bytes());
      while (end > start && end < n && IsUtf8Continuation(static_cast<unsigned char>(word[end]))) {
        --end;
      }
      const size_t hashed = std::min(end - start, kMaxHashed);
      uint64_t h = VocabMap::kHashSeed;
      hashes[0] = h;
      for (size_t k = 0; k < hashed; ++k) {
        h = VocabMap::HashStep(h, static_cast<unsigned char>(word[start + k]));
        hashes[k + 1] = h;
      }
      int32_t id = -1;
      for (; end > start; --end) {
        if (end < n && IsUtf8Continuation(static_cast<unsigned char>(word[end]))) continue;
        const size_t len = end - start;
        const std::string_view sub = word.substr(start, len);
        id = map.Find(sub, len <= kMaxHashed ? hashes[len] : VocabMap::Hash(sub));
        if (id >= 0) break;
      }
      if (id < 0) {
        out.resize(mark);
        out.push_back(unk_id_);
        if (st.piece_ends) {
          st.piece_ends->resize(ends_mark);
          st.piece_ends->push_back(static_cast<uint32_t>(n));
        }
        break;
      }
      out.push_back(id);
      if (st.piece_ends) st.piece_ends->push_back(static_cast<uint32_t>(end));
      start = end;
    }
  }
  if (out.size() >= st.cap) {
    out.resize(st.cap);
    st.full = true;
  }
}

template <bool kNormalize>
void BertTokenizer::RunPiece(std::string_view piece, State& st) const {
  const auto* p = reinterpret_cast<const unsigned char*>(piece.data());
  const auto* end = p + piece.size();
  const uint8_t* cls_table = kNormalize ? ascii_norm_class_.data() : ascii_class_.data();
  while (p < end && !st.full) {
    const unsigned char b = *p;
    if (b < 0x80) {
      ++p;
      const unsigned char c = kNormalize ? ascii_norm_[b] : b;
      switch (cls_table[b]) {
        case kWordChar:
          st.word.push_back(static_cast<char>(c));
          ++st.word_chars;
          break;
        case kSpace:
          FlushWord(st);
          break;
        case kPunct:
          FlushWord(st);
          st.word.push_back(static_cast<char>(c));
          st.word_chars = 1;
          FlushWord(st);
          break;
        default:
          break;
      }
      continue;
    }
    uint32_t cp;
    p += DecodeUtf8(p, &cp);
    if (kNormalize) {
      NormalizeCodepoint(cp, st);
    } else {
      FeedCodepoint(cp, st);
    }
  }
  FlushWord(st);
}

void BertTokenizer::EncodePiece(std::string_view piece, State& st) const {
  if (normalized_matcher_.empty()) {
    RunPiece<true>(piece, st);
    return;
  }
  std::string normalized;
  NormalizeToString(piece, &normalized);
  normalized_matcher_.Split(
      normalized,
      [&](std::string_view p, size_t) {
        if (!st.full) RunPiece<false>(p, st);
      },
      [&](int32_t id, size_t, size_t) { PushAdded(id, st); });
}

void BertTokenizer::PushAdded(int32_t id, State& st) {
  if (st.out->size() < st.cap) st.out->push_back(id);
  if (st.out->size() >= st.cap) st.full = true;
}

void BertTokenizer::EncodeContent(std::string_view text, State& st) const {
  if (raw_matcher_.empty()) {
    EncodePiece(text, st);
    return;
  }
  raw_matcher_.Split(
      text,
      [&](std::string_view p, size_t) {
        if (!st.full) EncodePiece(p, st);
      },
      [&](int32_t id, size_t, size_t) { PushAdded(id, st); });
}

Status BertTokenizer::EncodeInto(std::string_view text, size_t max_length,
                                 std::vector<int32_t>* ids) const {
  const size_t bad = FindInvalidUtf8(text);
  if (bad != std::string_view::npos) {
    return InvalidArgumentError("invalid UTF-8 at byte offset " + std::to_string(bad));
  }
  const size_t specials = num_special_tokens();
  size_t content_limit = std::numeric_limits<size_t>::max() / 2;
  if (max_length > 0) {
    if (max_length < specials) {
      return InvalidArgumentError("max_length " + std::to_string(max_length) +
                                  " is less than the " + std::to_string(specials) +
                                  " special tokens the template adds");
    }
    content_limit = max_length - specials;
  }
  ids->clear();
  ids->reserve(std::min(text.size() / 3 + 8, content_limit) + specials);
  ids->insert(ids->end(), opt_.prefix_ids.begin(), opt_.prefix_ids.end());
  State st;
  st.out = ids;
  st.cap = opt_.prefix_ids.size() + content_limit;
  st.full = content_limit == 0;
  st.word.reserve(64);
  EncodeContent(text, st);
  ids->insert(ids->end(), opt_.suffix_ids.begin(), opt_.suffix_ids.end());
  return OkStatus();
}

StatusOr<std::vector<int32_t>> BertTokenizer::Encode(std::string_view text,
                                                     size_t max_length) const {
  std::vector<int32_t> ids;
  Status s = EncodeInto(text, max_length, &ids);
  if (!s.ok()) return s;
  return ids;
}

StatusOr<size_t> BertTokenizer::CountTokens(std::string_view text) const {
  std::vector<int32_t> ids;
  Status s = EncodeInto(text, 0, &ids);
  if (!s.ok()) return s;
  return ids.size();
}

}  // namespace floe::text

namespace floe::text {

StatusOr<std::vector<int32_t>> BertTokenizer::EncodePair(std::string_view a_text,
                                                         std::string_view b_text,
                                                         size_t max_length,
                                                         size_t* type1_from) const {
  const PostProcessor& post = opt_.post;
  if (!post.has_pair_template()) {
    return FailedPreconditionError("the tokenizer's post_processor has no pair template");
  }
  FLOE_RETURN_IF_ERROR(post.pair_types());
  FLOE_RETURN_IF_ERROR(CheckRoomForSpecials(max_length, post.added(true)));
  std::vector<int32_t> seq[2];
  const std::string_view texts[2] = {a_text, b_text};
  for (int k = 0; k < 2; ++k) {
    const size_t bad = FindInvalidUtf8(texts[k]);
    if (bad != std::string_view::npos) {
      return InvalidArgumentError(std::string(k ? "text_pair" : "text") +
                                  ": invalid UTF-8 at byte offset " + std::to_string(bad));
    }
    State st;
    st.out = &seq[k];
    st.cap = std::numeric_limits<size_t>::max() / 2;
    EncodeContent(texts[k], st);
  }
  if (max_length > 0) TruncatePairLongestFirst(max_length - post.added(true), &seq[0], &seq[1]);
  std::vector<int32_t> out;
  out.reserve(seq[0].size() + seq[1].size() + post.added(true));
  post.Apply(seq[0], &seq[1], &out);
  if (type1_from) *type1_from = post.Type1From(seq[0].size(), seq[1].size());
  return out;
}

void BertTokenizer::OffsetsOfWords(std::string_view norm, size_t from, size_t to,
                                   const std::vector<std::pair<uint32_t, uint32_t>>& align,
                                   std::vector<TokenOffset>* out) const {
  std::vector<int32_t> ids;
  std::vector<uint32_t> ends;
  State st;
  st.out = &ids;
  st.cap = std::numeric_limits<size_t>::max() / 2;
  st.piece_ends = &ends;
  auto word = [&](size_t ws, size_t we, size_t chars) {
    ids.clear();
    ends.clear();
    WordPiece(norm.substr(ws, we - ws), chars, st);
    for (size_t k = 0; k < ids.size(); ++k) {
      const size_t s = ws + (k == 0 ? 0 : ends[k - 1]);
      const size_t e = ws + ends[k];
      out->push_back({ids[k], align[s].first, align[e - 1].second, false});
    }
  };
  const auto* base = reinterpret_cast<const unsigned char*>(norm.data());
  size_t ws = from, chars = 0;
  for (size_t i = from; i < to;) {
    uint32_t cp;
    const int len = DecodeUtf8(base + i, &cp);
    const bool space = IsWhitespace(cp);
    if (space || IsPunctuation(cp)) {
      if (i > ws) word(ws, i, chars);
      if (!space) word(i, i + len, 1);
      ws = i + len;
      chars = 0;
    } else {
      ++chars;
    }
    i += len;
  }
  if (to > ws) word(ws, to, chars);
}

void BertTokenizer::OffsetsOfPiece(std::string_view piece, size_t offset,
                                   std::vector<TokenOffset>* out) const {
  // The normalized piece, each of its bytes mapped to the input bytes of the
  // code point it came from (the crate's alignments).
  std::string norm;
  std::vector<std::pair<uint32_t, uint32_t>> align;
  const auto* base = reinterpret_cast<const unsigned char*>(piece.data());
  for (size_t i = 0; i < piece.size();) {
    uint32_t cp;
    const int len = DecodeUtf8(base + i, &cp);
    const auto src = std::make_pair(static_cast<uint32_t>(offset + i),
                                    static_cast<uint32_t>(offset + i + len));
    NormalizeOne(opt_, cp, [&](uint32_t c) {
      AppendUtf8(c, &norm);
      align.resize(norm.size(), src);
    });
    i += len;
  }
  if (normalized_matcher_.empty()) {
    OffsetsOfWords(norm, 0, norm.size(), align, out);
    return;
  }
  normalized_matcher_.Split(
      norm,
      [&](std::string_view p, size_t off) { OffsetsOfWords(norm, off, off + p.size(), align, out); },
      [&](int32_t id, size_t s, size_t e) {
        out->push_back({id, align[s].first, align[e - 1].second, false});
      });
}

StatusOr<std::vector<TokenOffset>> BertTokenizer::EncodeWithOffsets(std::string_view text,
                                                                    size_t max_length) const {
  const size_t bad = FindInvalidUtf8(text);
  if (bad != std::string_view::npos) {
    return InvalidArgumentError("invalid UTF-8 at byte offset " + std::to_string(bad));
  }
  const size_t specials = num_special_tokens();
  FLOE_RETURN_IF_ERROR(CheckRoomForSpecials(max_length, specials));
  std::vector<TokenOffset> content;
  raw_matcher_.Split(
      text, [&](std::string_view p, size_t off) { OffsetsOfPiece(p, off, &content); },
      [&](int32_t id, size_t s, size_t e) { content.push_back({id, s, e, false}); });
  if (max_length > 0 && content.size() > max_length - specials) {
    content.resize(max_length - specials);
  }
  std::vector<TokenOffset> out;
  out.reserve(content.size() + specials);
  for (int32_t id : opt_.prefix_ids) out.push_back({id, 0, 0, true});
  out.insert(out.end(), content.begin(), content.end());
  for (int32_t id : opt_.suffix_ids) out.push_back({id, 0, 0, true});
  return out;
}

namespace {

// The crate's WordPiece decoder cleanup (decoders/wordpiece.rs).
std::string Cleanup(std::string s) {
  static const std::pair<std::string_view, std::string_view> kRules[] = {
      {" .", "."},     {" ?", "?"},       {" !", "!"},           {" ,", ","},
      {" ' ", "'"},    {" n't", "n't"},   {" 'm", "'m"},         {" do not", " don't"},
      {" 's", "'s"},   {" 've", "'ve"},   {" 're", "'re"}};
  for (const auto& [from, to] : kRules) {
    std::string r;
    size_t pos = 0;
    for (size_t hit; (hit = s.find(from, pos)) != std::string::npos;) {
      r.append(s, pos, hit - pos).append(to);
      pos = hit + from.size();
    }
    r.append(s, pos, std::string::npos);
    s.swap(r);
  }
  return s;
}

}  // namespace

StatusOr<std::string> BertTokenizer::Decode(const std::vector<int32_t>& ids,
                                            bool skip_special) const {
  if (opt_.decoder == BertOptions::Decoder::kUnsupported) {
    return UnimplementedError("decoder '" + opt_.decoder_type + "' is not supported");
  }
  std::string text;
  size_t n = 0;
  for (int32_t id : ids) {
    if (id < 0 || static_cast<size_t>(id) >= id_to_token_.size()) continue;
    if (skip_special && special_id_[id]) continue;
    std::string token = id_to_token_[id];
    if (opt_.decoder == BertOptions::Decoder::kNone) {
      if (n++) text += ' ';
      text += token;
      continue;
    }
    const std::string& prefix = opt_.decoder_prefix;
    if (n++ != 0) {
      if (token.compare(0, prefix.size(), prefix) == 0) {
        token.erase(0, prefix.size());
      } else {
        token.insert(0, 1, ' ');
      }
    }
    text += opt_.decoder_cleanup ? Cleanup(std::move(token)) : token;
  }
  return text;
}

}  // namespace floe::text
