// Byte-level BPE pieces: the GPT-2 and Qwen2 split matchers, the ByteLevel
// decoder, a BPE tokenizer.json end to end. Expected values come from Hugging
// Face `tokenizers` 0.23 (pre_tokenize_str, decoders.ByteLevel); the
// corpus-wide comparison is tests/real/bpe_fidelity_test.py.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "text/byte_level.h"
#include "text/tokenizer.h"

namespace floe {
namespace {

using text::SplitPattern;

std::vector<std::string> Pieces(SplitPattern p, const std::string& s) {
  std::vector<std::pair<size_t, size_t>> m;
  text::FindMatches(p, s, &m);
  std::vector<std::string> out;
  for (const auto& [a, b] : m) out.push_back(s.substr(a, b - a));
  return out;
}

TEST(ByteLevelSplit, Qwen2AsTheCrate) {
  EXPECT_EQ(Pieces(SplitPattern::kQwen2, "Hello  world's IT'S 123 !!\n\n  x\r\n y  "),
            (std::vector<std::string>{"Hello", " ", " world", "'s", " IT", "'S", " ", "1", "2",
                                      "3", " !!\n\n", " ", " x", "\r\n", " y", "  "}));
  EXPECT_EQ(Pieces(SplitPattern::kQwen2, "a\t\tb ,.x '\xc5\xbf \xc2\xbd" "3"),
            (std::vector<std::string>{"a", "\t", "\tb", " ,.", "x", " '", "\xc5\xbf", " ",
                                      "\xc2\xbd", "3"}));
  // (?i:'s) folds U+017F; 'K is the optional non-letter before letters.
  EXPECT_EQ(Pieces(SplitPattern::kQwen2, "x'\xc5\xbft"),
            (std::vector<std::string>{"x", "'\xc5\xbf", "t"}));
  EXPECT_EQ(Pieces(SplitPattern::kQwen2, "x'K"), (std::vector<std::string>{"x", "'K"}));
}

TEST(ByteLevelSplit, Gpt2AsTheCrate) {
  EXPECT_EQ(Pieces(SplitPattern::kGpt2, "Hello  world's IT'S 123 !!\n\n  x\r\n y  "),
            (std::vector<std::string>{"Hello", " ", " world", "'s", " IT", "'", "S", " 123",
                                      " !!", "\n\n ", " x", "\r\n", " y", "  "}));
  EXPECT_EQ(Pieces(SplitPattern::kGpt2, "a\t\tb ,.x '\xc5\xbf \xc2\xbd" "3"),
            (std::vector<std::string>{"a", "\t", "\t", "b", " ,.", "x", " '", "\xc5\xbf",
                                      " \xc2\xbd" "3"}));
}

TEST(ByteLevelDecoder, BytesBackAndLossyUtf8) {
  // "Ġh" "Ã©" "Ã" "x": a space, é, then a lone lead byte.
  EXPECT_EQ(text::ByteLevelDecode({"\xc4\xa0h", "\xc3\x83\xc2\xa9", "\xc3\x83", "x"}),
            " h\xc3\xa9\xef\xbf\xbdx");
  EXPECT_EQ(text::Utf8Lossy("a\xe2\x82z\xf0\x9f\x98\x80\xff"),
            "a\xef\xbf\xbdz\xf0\x9f\x98\x80\xef\xbf\xbd");
}

TEST(BpeTokenizer, MergesByRankBothMergeFormsAndTemplate) {
  // Byte-level chars: "Ġ" is the space. Merges: l o, lo w, Ġ lo (string and pair forms).
  const std::string json = R"({
    "model": {"type": "BPE", "dropout": null, "unk_token": null,
              "vocab": {"l": 0, "o": 1, "w": 2, "\u0120": 3, "lo": 4, "low": 5, "\u0120lo": 6,
                        "<s>": 7},
              "merges": ["l o", ["lo", "w"], "\u0120 lo"]},
    "normalizer": {"type": "NFC"},
    "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false, "use_regex": true},
    "decoder": {"type": "ByteLevel"},
    "added_tokens": [{"id": 7, "content": "<s>", "special": true}],
    "post_processor": {"type": "Sequence", "processors": [{"type": "ByteLevel"},
        {"type": "TemplateProcessing", "single": [{"Sequence": {"id": "A", "type_id": 0}},
                                                  {"SpecialToken": {"id": "<s>", "type_id": 0}}],
         "pair": [{"Sequence": {"id": "A", "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 1}},
                  {"SpecialToken": {"id": "<s>", "type_id": 1}}],
         "special_tokens": {"<s>": {"id": "<s>", "ids": [7], "tokens": ["<s>"]}}}]}})";
  auto t = Tokenizer::FromJson(json, "bpe.json");
  ASSERT_TRUE(t.ok()) << t.status().message();
  // "low low": "low" merges l o -> lo, lo w -> low; " low": Ġ lo (rank 2)
  // loses to lo w (rank 1), so Ġ + low.
  EXPECT_EQ(*(*t)->Encode("low low"), (std::vector<int32_t>{5, 3, 5, 7}));
  EXPECT_EQ(*(*t)->Encode(" lo"), (std::vector<int32_t>{6, 7}));
  size_t type1 = 0;
  EXPECT_EQ(*(*t)->EncodePair("lo", "w", 0, &type1), (std::vector<int32_t>{4, 2, 7}));
  EXPECT_EQ(type1, 1u);
  EXPECT_EQ(*(*t)->Decode({5, 3, 5, 7}), "low low");
  EXPECT_EQ(*(*t)->Decode({5, 3, 5, 7}, false), "low low<s>");
}

}  // namespace
}  // namespace floe
