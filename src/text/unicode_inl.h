// Inline part of unicode.h (kept apart so unicode.h reads as a contract).
#pragma once

namespace floe::text {

inline int ToLowerFull(uint32_t c, uint32_t out[2]) {
  if (c < 0x80) {
    out[0] = (c >= 'A' && c <= 'Z') ? c + 32 : c;
    return 1;
  }
  if (c == 0x130) {  // SpecialCasing: LATIN CAPITAL LETTER I WITH DOT ABOVE
    out[0] = 'i';
    out[1] = 0x307;
    return 2;
  }
  out[0] = ToLowerNonAscii(c);
  return 1;
}

}  // namespace floe::text
