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

// The regex `\w` of the Rust crate's single_word check, approximately:
// letters, marks, decimal and letter numbers, connector punctuation, ZWNJ/ZWJ.
bool IsWordChar(uint32_t c) {
  if (c < 0x80) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           c == '_';
  }
  if (c == 0x200C || c == 0x200D) return true;
  switch (utf8proc_category(static_cast<utf8proc_int32_t>(c))) {
    case UTF8PROC_CATEGORY_LU:
    case UTF8PROC_CATEGORY_LL:
    case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_LO:
    case UTF8PROC_CATEGORY_MN:
    case UTF8PROC_CATEGORY_MC:
    case UTF8PROC_CATEGORY_ME:
    case UTF8PROC_CATEGORY_ND:
    case UTF8PROC_CATEGORY_NL:
    case UTF8PROC_CATEGORY_PC:
      return true;
    default:
      return false;
  }
}

// Start of the code point that ends right before byte `i` (i > 0).
size_t PrevCodepointStart(std::string_view s, size_t i) {
  --i;
  while (i > 0 && IsUtf8Continuation(static_cast<unsigned char>(s[i]))) --i;
  return i;
}

uint32_t CodepointAt(std::string_view s, size_t i) {
  uint32_t cp;
  DecodeUtf8(reinterpret_cast<const unsigned char*>(s.data()) + i, &cp);
  return cp;
}

}  // namespace

struct BertTokenizer::State {
  std::vector<int32_t>* out = nullptr;
  size_t cap = 0;  // out->size() may not exceed this
  bool full = false;
  std::string word;
  size_t word_chars = 0;
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

  auto build = [](Matcher* m, const std::vector<const AddedToken*>& toks) {
    m->tokens = toks;
    std::stable_sort(m->tokens.begin(), m->tokens.end(),
                     [](const AddedToken* a, const AddedToken* b) {
                       return a->content.size() > b->content.size();
                     });
    for (const AddedToken* t : m->tokens) {
      m->first_byte[static_cast<unsigned char>(t->content[0])] = true;
    }
    int distinct = 0;
    for (int b = 0; b < 256; ++b) {
      if (m->first_byte[b]) {
        ++distinct;
        m->single_first_byte = b;
      }
    }
    if (distinct != 1) m->single_first_byte = -1;
  };
  std::vector<const AddedToken*> raw;
  for (const AddedToken& t : opt_.added_tokens) {
    if (!t.normalized) raw.push_back(&t);
  }
  build(&raw_matcher_, raw);
  normalized_tokens_.clear();
  for (const AddedToken& t : opt_.added_tokens) {
    if (!t.normalized) continue;
    AddedToken n = t;
    n.content.clear();
    NormalizeToString(t.content, &n.content);
    if (!n.content.empty()) normalized_tokens_.push_back(std::move(n));
  }
  std::vector<const AddedToken*> norm;
  for (const AddedToken& t : normalized_tokens_) norm.push_back(&t);
  build(&normalized_matcher_, norm);
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
  } else {
    const size_t mark = out.size();
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
        break;
      }
      out.push_back(id);
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

template <typename OnPiece, typename OnToken>
void BertTokenizer::SplitAdded(std::string_view text, const Matcher& m, const State& st,
                               OnPiece&& on_piece, OnToken&& on_token) const {
  const size_t n = text.size();
  size_t start_offset = 0;
  size_t pos = 0;
  while (pos < n && !st.full) {
    const AddedToken* match = nullptr;
    size_t at = n;
    for (size_t i = pos; i < n && match == nullptr; ++i) {
      if (m.single_first_byte >= 0) {
        // Usually '[' for BERT: let memchr skip the text between candidates.
        const void* hit = std::memchr(text.data() + i, m.single_first_byte, n - i);
        if (hit == nullptr) break;
        i = static_cast<size_t>(static_cast<const char*>(hit) - text.data());
      } else if (!m.first_byte[static_cast<unsigned char>(text[i])]) {
        continue;
      }
      for (const AddedToken* t : m.tokens) {
        if (text.compare(i, t->content.size(), t->content) == 0) {
          match = t;
          at = i;
          break;
        }
      }
    }
    if (match == nullptr) break;
    size_t start = at;
    size_t stop = at + match->content.size();
    pos = stop;
    if (match->single_word) {
      const bool start_space = start == 0 || !IsWordChar(CodepointAt(
                                                  text, PrevCodepointStart(text, start)));
      const bool stop_space = stop == n || !IsWordChar(CodepointAt(text, stop));
      if (!start_space || !stop_space) continue;
    }
    if (match->lstrip) {
      size_t s = start;
      while (s > 0) {
        const size_t prev = PrevCodepointStart(text, s);
        if (!IsWhitespace(CodepointAt(text, prev))) break;
        s = prev;
      }
      start = std::max(s, start_offset);
    }
    if (match->rstrip) {
      while (stop < n) {
        uint32_t cp;
        const int len =
            DecodeUtf8(reinterpret_cast<const unsigned char*>(text.data()) + stop, &cp);
        if (!IsWhitespace(cp)) break;
        stop += len;
      }
      pos = stop;
    }
    if (start > start_offset) on_piece(text.substr(start_offset, start - start_offset));
    on_token(match->id);
    start_offset = stop;
  }
  if (start_offset < n && !st.full) on_piece(text.substr(start_offset));
}

void BertTokenizer::EncodePiece(std::string_view piece, State& st) const {
  if (normalized_matcher_.empty()) {
    RunPiece<true>(piece, st);
    return;
  }
  std::string normalized;
  NormalizeToString(piece, &normalized);
  SplitAdded(
      normalized, normalized_matcher_, st, [&](std::string_view p) { RunPiece<false>(p, st); },
      [&](int32_t id) {
        if (st.out->size() < st.cap) st.out->push_back(id);
        if (st.out->size() >= st.cap) st.full = true;
      });
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
  if (raw_matcher_.empty()) {
    EncodePiece(text, st);
  } else {
    SplitAdded(
        text, raw_matcher_, st, [&](std::string_view p) { EncodePiece(p, st); },
        [&](int32_t id) {
          if (st.out->size() < st.cap) st.out->push_back(id);
          if (st.out->size() >= st.cap) st.full = true;
        });
  }
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
