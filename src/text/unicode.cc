#include "text/unicode.h"

#include <utf8proc.h>

namespace floe::text {
namespace {

utf8proc_category_t Category(uint32_t c) {
  return utf8proc_category(static_cast<utf8proc_int32_t>(c));
}

}  // namespace

bool IsControl(uint32_t c) {
  if (c == '\t' || c == '\n' || c == '\r') return false;
  const utf8proc_category_t cat = Category(c);
  return cat == UTF8PROC_CATEGORY_CC || cat == UTF8PROC_CATEGORY_CF ||
         cat == UTF8PROC_CATEGORY_CO;
}

bool IsPunctuation(uint32_t c) {
  if (c < 0x80) {
    return (c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) ||
           (c >= 123 && c <= 126);
  }
  switch (Category(c)) {
    case UTF8PROC_CATEGORY_PC:
    case UTF8PROC_CATEGORY_PD:
    case UTF8PROC_CATEGORY_PS:
    case UTF8PROC_CATEGORY_PE:
    case UTF8PROC_CATEGORY_PI:
    case UTF8PROC_CATEGORY_PF:
    case UTF8PROC_CATEGORY_PO:
      return true;
    default:
      return false;
  }
}

bool IsNonspacingMark(uint32_t c) {
  return c >= 0x300 && Category(c) == UTF8PROC_CATEGORY_MN;
}

int DecomposeCanonical(uint32_t c, uint32_t* out, int cap) {
  int last_boundclass = 0;
  const utf8proc_ssize_t n = utf8proc_decompose_char(
      static_cast<utf8proc_int32_t>(c), reinterpret_cast<utf8proc_int32_t*>(out), cap,
      UTF8PROC_DECOMPOSE, &last_boundclass);
  if (n < 0 || n > cap) return 0;
  return static_cast<int>(n);
}

}  // namespace floe::text
