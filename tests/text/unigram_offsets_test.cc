// Byte offsets and special flags of the Unigram (SentencePiece) tokenizer
// (EncodeWithOffsets): the Rust `tokenizers` crate's alignments through
// Precompiled, Strip, Replace, NFC/NFKC and Metaspace. Expected values are tokenizers
// 0.23.3's Encoding.offsets (chars, converted to bytes) and
// special_tokens_mask on tests/data/unigram-spm; the corpus-wide comparison
// is tests/real/unigram_fidelity_test.py.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "text/offsets_util.h"
#include "text/tokenizer.h"

namespace floe {
namespace {


const std::string kData = FLOE_TEST_DATA;

nlohmann::json SpmJson() {
  std::ifstream in(kData + "/unigram-spm/tokenizer.json");
  std::stringstream ss;
  ss << in.rdbuf();
  return nlohmann::json::parse(ss.str());
}

std::unique_ptr<Tokenizer> Spm() {
  auto t = Tokenizer::FromFolder(kData + "/unigram-spm");
  EXPECT_TRUE(t.ok()) << t.status().message();
  return t.ok() ? std::move(t).value() : nullptr;
}

TEST(UnigramOffsets, PrependedMetaspaceTakesTheFirstCharsRange) {
  auto t = Spm();
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(Offsets(*t, "Hello world"),
            (std::vector<Tok>{{0, 0, 0, true}, {279, 0, 1, false}, {962, 1, 4, false},
                              {10, 4, 5, false}, {410, 5, 7, false}, {94, 7, 9, false},
                              {415, 9, 11, false}, {2, 0, 0, true}}));
  EXPECT_EQ(Offsets(*t, ""), (std::vector<Tok>{{0, 0, 0, true}, {2, 0, 0, true}}));
}

TEST(UnigramOffsets, SpaceRunsStripAndPrecompiledReplacements) {
  auto t = Spm();
  ASSERT_NE(t, nullptr);
  // Runs of spaces become one '▁' aligned to the run's last space; trailing
  // spaces are stripped.
  EXPECT_EQ(Offsets(*t, "  H\xc3\xa9  llo   w\xc3\xb6rld  "),
            (std::vector<Tok>{{0, 0, 0, true}, {279, 1, 3, false}, {63, 3, 5, false},
                              {97, 6, 8, false}, {161, 8, 10, false}, {410, 12, 14, false},
                              {413, 14, 16, false}, {20, 16, 17, false}, {415, 17, 19, false},
                              {2, 0, 0, true}}));
  // Full-width letters (NFKC in the charsmap), the ideographic space, ①.
  EXPECT_EQ(Offsets(*t, "\xef\xbd\x86\xef\xbd\x95\xef\xbd\x8c\xef\xbd\x8c\xe3\x80\x80\xef\xbd"
                        "\x97\xef\xbd\x89\xef\xbd\x84\xef\xbd\x94\xef\xbd\x88 \xe2\x91\xa0"),
            (std::vector<Tok>{{0, 0, 0, true}, {4, 0, 3, false}, {3705, 0, 12, false},
                              {4, 12, 15, false}, {5469, 15, 30, false}, {532, 30, 34, false},
                              {2, 0, 0, true}}));
  EXPECT_EQ(Offsets(*t, "\xef\xac\x81\xc2\xa0\xe3\x80\x80z"),
            (std::vector<Tok>{{0, 0, 0, true}, {1430, 0, 3, false}, {390, 5, 9, false},
                              {2, 0, 0, true}}));
  // Combining marks on one cluster; an unknown emoji and its ZWJ sequence.
  EXPECT_EQ(Offsets(*t, "e\xcc\x81\xcc\x81 \xf0\x9f\x91\xa9\xe2\x80\x8d\xf0\x9f\x92\xbb"),
            (std::vector<Tok>{{0, 0, 0, true}, {4, 0, 1, false}, {63, 0, 1, false},
                              {4, 5, 6, false}, {3, 6, 10, false}, {1272, 10, 13, false},
                              {3, 13, 17, false}, {2, 0, 0, true}}));
}

TEST(UnigramOffsets, AddedTokensKeepTheirSpanTemplateSpecialsAreFlagged) {
  auto t = Spm();
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(Offsets(*t, "x<s>y </s>"),
            (std::vector<Tok>{{0, 0, 0, true}, {4, 0, 1, false}, {58, 0, 1, false},
                              {0, 1, 4, false}, {4, 4, 5, false}, {24, 4, 5, false},
                              {2, 6, 10, false}, {2, 0, 0, true}}));
  // Truncation as Encode's, </s> kept last.
  EXPECT_EQ(Offsets(*t, "Hello world", 4),
            (std::vector<Tok>{{0, 0, 0, true}, {279, 0, 1, false}, {962, 1, 4, false},
                              {2, 0, 0, true}}));
}

TEST(UnigramOffsets, ByteFallbackPiecesShareTheUnknownsRange) {
  nlohmann::json j = SpmJson();
  j["model"]["byte_fallback"] = true;
  for (const char* b : {"<0xF0>", "<0x9F>", "<0x91>", "<0xA9>"}) {
    j["model"]["vocab"].push_back({b, -20.0});
  }
  auto t = Tokenizer::FromJson(j.dump(), "spm+bytes");
  ASSERT_TRUE(t.ok()) << t.status().message();
  EXPECT_EQ(Offsets(**t, "a \xf0\x9f\x91\xa9" "b"),
            (std::vector<Tok>{{0, 0, 0, true}, {39, 0, 1, false}, {4, 1, 2, false},
                              {8002, 2, 6, false}, {8003, 2, 6, false}, {8004, 2, 6, false},
                              {8005, 2, 6, false}, {49, 6, 7, false}, {2, 0, 0, true}}));
}

// NFKC / NFC with the crate's alignments (unicode-normalization-alignments):
// a decomposed char's parts share its range, and a composed char takes the
// range of its first source char only (e + U+0301, the jamo of 각, a +
// U+0323 + U+0302).
TEST(UnigramOffsets, UnicodeNormalFormsAsTheCrate) {
  const std::string fullwidth =
      "\xef\xbd\x86\xef\xbd\x95\xef\xbd\x8c\xef\xbd\x8c \xef\xac\x81 \xe2\x91\xa0";
  const std::string composing =
      "e\xcc\x81x \xe1\x84\x80\xe1\x85\xa1\xe1\x86\xa8 a\xcc\xa3\xcc\x82";
  const std::vector<Tok> composed = {{0, 0, 0, true},     {4, 0, 1, false},   {63, 0, 1, false},
                                     {58, 3, 4, false},   {4, 4, 5, false},   {3, 5, 8, false},
                                     {4, 14, 15, false},  {4120, 15, 16, false}, {2, 0, 0, true}};
  nlohmann::json j = SpmJson();
  j["normalizer"] = {{"type", "NFKC"}};
  auto t = Tokenizer::FromJson(j.dump(), "spm+nfkc");
  ASSERT_TRUE(t.ok()) << t.status().message();
  // "ｆｕｌｌ ﬁ ①": "▁full" over the four fullwidth chars, "fi" on the ligature.
  EXPECT_EQ(Offsets(**t, fullwidth),
            (std::vector<Tok>{{0, 0, 0, true}, {4, 0, 3, false}, {3705, 0, 12, false},
                              {1430, 12, 16, false}, {532, 16, 20, false}, {2, 0, 0, true}}));
  EXPECT_EQ(Offsets(**t, composing), composed);
  j["normalizer"] = {{"type", "NFC"}};
  t = Tokenizer::FromJson(j.dump(), "spm+nfc");
  ASSERT_TRUE(t.ok()) << t.status().message();
  EXPECT_EQ(Offsets(**t, fullwidth),
            (std::vector<Tok>{{0, 0, 0, true}, {4, 0, 3, false}, {3, 0, 12, false},
                              {4, 12, 13, false}, {3, 13, 16, false}, {4, 16, 17, false},
                              {3, 17, 20, false}, {2, 0, 0, true}}));
  EXPECT_EQ(Offsets(**t, composing), composed);
}

}  // namespace
}  // namespace floe
