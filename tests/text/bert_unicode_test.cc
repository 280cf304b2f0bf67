// The character classes of the Rust `tokenizers` crate's BertNormalizer and
// BertPreTokenizer, which mix Unicode versions (old `unicode_categories` for
// categories, old NFD, a recent Rust std for lowercasing). Each case is a code
// point where a current UCD (libutf8proc) disagrees with the crate, as found on
// the corpus of tests/real/tokenizer_fidelity_test.py.
#include <gtest/gtest.h>

#include <vector>

#include "text/unicode.h"

namespace floe::text {
namespace {

std::vector<uint32_t> Decompose(uint32_t c) {
  uint32_t out[32];
  const int n = DecomposeCanonical(c, out, 32);
  return std::vector<uint32_t>(out, out + n);
}

std::vector<uint32_t> Lower(uint32_t c) {
  uint32_t out[2];
  const int n = ToLowerFull(c, out);
  return std::vector<uint32_t>(out, out + n);
}

TEST(BertUnicode, MarksAssignedAfterTheCratesTablesAreNotStripped) {
  EXPECT_TRUE(IsNonspacingMark(0x0301));
  EXPECT_FALSE(IsNonspacingMark(0x07FD));  // NKO DANTAYALAN, Unicode 11
  EXPECT_FALSE(IsNonspacingMark(0x0898));  // ARABIC SMALL HIGH WORD AL-JUZ, Unicode 14
  EXPECT_TRUE(IsNonspacingMark(0x1734));   // HANUNOO SIGN PAMUDPOD: Mn then, Mc now
}

TEST(BertUnicode, PunctuationIsTheCratesP) {
  EXPECT_TRUE(IsPunctuation('!'));
  EXPECT_TRUE(IsPunctuation(0x3002));
  EXPECT_TRUE(IsPunctuation(0x166D));   // CANADIAN SYLLABICS CHI SIGN: Po then, So now
  EXPECT_TRUE(IsPunctuation(0x111C9));  // SHARADA SANDHI MARK: Po then
  EXPECT_FALSE(IsPunctuation(0x2E43));  // DASH WITH LEFT UPTURN, Unicode 10
  EXPECT_FALSE(IsPunctuation(0x061D));  // ARABIC END OF TEXT MARK, Unicode 14
  EXPECT_FALSE(IsPunctuation(0x00A9));  // So
}

TEST(BertUnicode, ControlIsTheCratesCcCfCo) {
  EXPECT_TRUE(IsControl(0x85));
  EXPECT_TRUE(IsControl(0x200B));
  EXPECT_TRUE(IsControl(0xE123));     // private use, inside the range
  EXPECT_TRUE(IsControl(0x10FFFD));
  EXPECT_FALSE(IsControl('\t'));
  EXPECT_FALSE(IsControl(0x0378));    // unassigned: kept
  EXPECT_FALSE(IsControl(0x0890));    // ARABIC POUND MARK ABOVE (Cf), Unicode 14
  EXPECT_FALSE(IsControl(0x13430));   // EGYPTIAN HIEROGLYPH VERTICAL JOINER (Cf), Unicode 12
}

TEST(BertUnicode, DecompositionsTheCrateLacksAreKept) {
  EXPECT_EQ(Decompose(0x11938), std::vector<uint32_t>({0x11938}));  // Unicode 13
  EXPECT_EQ(Decompose(0x00E9), std::vector<uint32_t>({'e', 0x0301}));
  EXPECT_EQ(Decompose(0xAC01), std::vector<uint32_t>({0x1100, 0x1161, 0x11A8}));
}

TEST(BertUnicode, LowercaseIsRecentRustStd) {
  EXPECT_EQ(Lower(0xA7CB), std::vector<uint32_t>({0x0264}));   // Unicode 16
  EXPECT_EQ(Lower(0x1C89), std::vector<uint32_t>({0x1C8A}));   // Unicode 16
  EXPECT_EQ(Lower(0x10D50), std::vector<uint32_t>({0x10D70}));  // Garay, Unicode 16
  EXPECT_EQ(Lower(0x0130), std::vector<uint32_t>({'i', 0x0307}));
  EXPECT_EQ(Lower(0x0100), std::vector<uint32_t>({0x0101}));
  EXPECT_EQ(Lower(0x0101), std::vector<uint32_t>({0x0101}));   // between a stride-2 run
  EXPECT_EQ(Lower(0x212A), std::vector<uint32_t>({'k'}));
  EXPECT_EQ(Lower(0x1E9E), std::vector<uint32_t>({0x00DF}));
  EXPECT_EQ(Lower(0x0410), std::vector<uint32_t>({0x0430}));
  EXPECT_EQ(Lower(0x4E00), std::vector<uint32_t>({0x4E00}));
}

}  // namespace
}  // namespace floe::text
