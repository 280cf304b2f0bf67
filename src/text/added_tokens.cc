#include "text/added_tokens.h"

#include <algorithm>
#include <cstring>
#include <utf8proc.h>

#include "text/unicode.h"
#include "text/utf8.h"

namespace floe::text {
namespace {

// The regex `\w` of the crate's single_word check: letters, marks, decimal
// and letter numbers, connector punctuation, ZWNJ/ZWJ.
bool IsWordCodepoint(uint32_t c) {
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

uint32_t At(std::string_view s, size_t i) {
  uint32_t cp;
  DecodeUtf8(reinterpret_cast<const unsigned char*>(s.data()) + i, &cp);
  return cp;
}

size_t Before(std::string_view s, size_t i) {
  --i;
  while (i > 0 && IsUtf8Continuation(static_cast<unsigned char>(s[i]))) --i;
  return i;
}

}  // namespace

void AddedTokenMatcher::Build(const std::vector<AddedToken>& tokens) {
  tokens_.clear();
  first_byte_.fill(false);
  for (const AddedToken& t : tokens) {
    if (!t.content.empty()) tokens_.push_back(&t);
  }
  std::stable_sort(tokens_.begin(), tokens_.end(), [](const AddedToken* a, const AddedToken* b) {
    return a->content.size() > b->content.size();
  });
  for (const AddedToken* t : tokens_) first_byte_[static_cast<unsigned char>(t->content[0])] = true;
  single_first_byte_ = -1;
  for (int b = 0; b < 256; ++b) {
    if (!first_byte_[b]) continue;
    single_first_byte_ = single_first_byte_ == -1 ? b : -2;
  }
  if (single_first_byte_ < 0) single_first_byte_ = -1;
}

AddedToken ParseAddedToken(const nlohmann::json& t) {
  AddedToken a;
  a.content = t.at("content").get<std::string>();
  a.id = t.value("id", -1);
  a.single_word = t.value("single_word", false);
  a.lstrip = t.value("lstrip", false);
  a.rstrip = t.value("rstrip", false);
  a.special = t.value("special", false);
  // The crate's default: special tokens are not normalized, others are.
  a.normalized = t.value("normalized", !a.special);
  return a;
}

bool AddedTokenMatcher::Next(std::string_view text, size_t pos, size_t floor, Match* m) const {
  const size_t n = text.size();
  while (pos < n) {
    const AddedToken* hit = nullptr;
    size_t at = n;
    for (size_t i = pos; i < n && hit == nullptr; ++i) {
      if (single_first_byte_ >= 0) {
        // Usually '[' for BERT: memchr skips the text between candidates.
        const void* c = std::memchr(text.data() + i, single_first_byte_, n - i);
        if (c == nullptr) break;
        i = static_cast<size_t>(static_cast<const char*>(c) - text.data());
      } else if (!first_byte_[static_cast<unsigned char>(text[i])]) {
        continue;
      }
      for (const AddedToken* t : tokens_) {
        if (text.compare(i, t->content.size(), t->content) == 0) {
          hit = t;
          at = i;
          break;
        }
      }
    }
    if (hit == nullptr) return false;
    size_t start = at;
    size_t stop = at + hit->content.size();
    if (hit->single_word) {
      const bool left_ok = start == 0 || !IsWordCodepoint(At(text, Before(text, start)));
      const bool right_ok = stop == n || !IsWordCodepoint(At(text, stop));
      if (!left_ok || !right_ok) {
        pos = stop;
        continue;
      }
    }
    if (hit->lstrip) {
      while (start > floor) {
        const size_t prev = Before(text, start);
        if (prev < floor || !IsWhitespace(At(text, prev))) break;
        start = prev;
      }
    }
    if (hit->rstrip) {
      while (stop < n) {
        uint32_t cp;
        const int len = DecodeUtf8(reinterpret_cast<const unsigned char*>(text.data()) + stop, &cp);
        if (!IsWhitespace(cp)) break;
        stop += len;
      }
    }
    m->start = start;
    m->stop = stop;
    m->id = hit->id;
    return true;
  }
  return false;
}

}  // namespace floe::text
