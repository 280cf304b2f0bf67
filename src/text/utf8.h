// UTF-8 validation and decoding for the tokenizer. Validation is strict
// (no overlongs, no surrogates, nothing above U+10FFFF), as Rust's str is.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace floe::text {

// Returns the byte offset of the first invalid sequence, or npos when `s` is
// valid UTF-8.
size_t FindInvalidUtf8(std::string_view s);

// Decodes one code point at `p` (which must start a valid sequence, as
// FindInvalidUtf8 checked) and returns the number of bytes it took.
inline int DecodeUtf8(const unsigned char* p, uint32_t* cp) {
  const unsigned char b = p[0];
  if (b < 0x80) {
    *cp = b;
    return 1;
  }
  if (b < 0xE0) {
    *cp = ((b & 0x1Fu) << 6) | (p[1] & 0x3Fu);
    return 2;
  }
  if (b < 0xF0) {
    *cp = ((b & 0x0Fu) << 12) | ((p[1] & 0x3Fu) << 6) | (p[2] & 0x3Fu);
    return 3;
  }
  *cp = ((b & 0x07u) << 18) | ((p[1] & 0x3Fu) << 12) | ((p[2] & 0x3Fu) << 6) |
        (p[3] & 0x3Fu);
  return 4;
}

// Appends the UTF-8 encoding of `cp` (a valid scalar value) to `out`.
inline void AppendUtf8(uint32_t cp, std::string* out) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

inline bool IsUtf8Continuation(unsigned char b) { return (b & 0xC0) == 0x80; }

}  // namespace floe::text
