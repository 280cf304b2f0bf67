#include "text/unicode.h"

#include <algorithm>
#include <array>
#include <map>
#include <string>
#include <vector>

#include <utf8proc.h>

namespace floe::text {
namespace {

struct CodepointRange {
  uint32_t first, last;
};
struct LowercaseRun {
  uint32_t first, last;
  int32_t delta;
  uint32_t stride;
};

#include "text/bert_unicode_tables.inc"

enum : uint8_t {
  kControlBit = 1,
  kPunctuationBit = 2,
  kMarkBit = 4,
  kLowercaseBit = 8,
  kNoDecompositionBit = 16,
};

// The tables' flags per code point, in two stages (256-code-point blocks,
// identical blocks shared): ~40 KB, built once on first use.
class FlagTable {
 public:
  FlagTable() {
    std::vector<uint8_t> flat(kCodepoints, 0);
    auto mark = [&](const CodepointRange* r, size_t n, uint8_t bit) {
      for (size_t i = 0; i < n; ++i) {
        for (uint32_t c = r[i].first; c <= r[i].last && c < kCodepoints; ++c) flat[c] |= bit;
      }
    };
    mark(kBertControl, std::size(kBertControl), kControlBit);
    mark(kBertPunctuation, std::size(kBertPunctuation), kPunctuationBit);
    mark(kBertNonspacingMark, std::size(kBertNonspacingMark), kMarkBit);
    mark(kBertNoDecomposition, std::size(kBertNoDecomposition), kNoDecompositionBit);
    for (const LowercaseRun& r : kBertLowercase) {
      for (uint32_t c = r.first; c <= r.last; c += r.stride) flat[c] |= kLowercaseBit;
    }
    std::map<std::string, uint16_t> seen;
    for (uint32_t b = 0; b < kCodepoints / 256; ++b) {
      std::string block(reinterpret_cast<const char*>(&flat[b * 256]), 256);
      auto [it, fresh] = seen.emplace(block, static_cast<uint16_t>(seen.size()));
      if (fresh) blocks_.insert(blocks_.end(), block.begin(), block.end());
      index_[b] = it->second;
    }
  }
  uint8_t Get(uint32_t c) const {
    if (c >= kCodepoints) return 0;
    return static_cast<uint8_t>(blocks_[size_t{index_[c >> 8]} * 256 + (c & 255)]);
  }

 private:
  static constexpr uint32_t kCodepoints = 0x110000;
  std::array<uint16_t, kCodepoints / 256> index_{};
  std::vector<char> blocks_;
};

uint8_t Flags(uint32_t c) {
  static const FlagTable table;
  return table.Get(c);
}

}  // namespace

bool IsControl(uint32_t c) { return (Flags(c) & kControlBit) != 0; }

bool IsPunctuation(uint32_t c) {
  if (c < 0x80) {
    return (c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) ||
           (c >= 123 && c <= 126);
  }
  return (Flags(c) & kPunctuationBit) != 0;
}

bool IsNonspacingMark(uint32_t c) { return c >= 0x300 && (Flags(c) & kMarkBit) != 0; }

int DecomposeCanonical(uint32_t c, uint32_t* out, int cap) {
  if (Flags(c) & kNoDecompositionBit) {
    if (cap < 1) return 0;
    out[0] = c;
    return 1;
  }
  int last_boundclass = 0;
  const utf8proc_ssize_t n = utf8proc_decompose_char(
      static_cast<utf8proc_int32_t>(c), reinterpret_cast<utf8proc_int32_t*>(out), cap,
      UTF8PROC_DECOMPOSE, &last_boundclass);
  if (n < 0 || n > cap) return 0;
  return static_cast<int>(n);
}

uint32_t ToLowerNonAscii(uint32_t c) {
  if (!(Flags(c) & kLowercaseBit)) return c;
  const LowercaseRun* end = std::end(kBertLowercase);
  const LowercaseRun* r = std::upper_bound(
      std::begin(kBertLowercase), end, c,
      [](uint32_t v, const LowercaseRun& run) { return v < run.first; });
  --r;  // the bit is set, so a run starts at or before c
  return static_cast<uint32_t>(static_cast<int32_t>(c) + r->delta);
}

}  // namespace floe::text
