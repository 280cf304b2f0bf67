// Byte offsets of the byte-level BPE tokenizer (EncodeWithOffsets): the Rust
// `tokenizers` crate's alignments through NFC/NFKC, Split, ByteLevel (prefix
// space, one char per byte) and the ByteLevel / RobertaProcessing
// trim_offsets. tests/data/bpe-tiny is a hand-made byte-level BPE (the 256
// byte chars and a few merges: hello, Ġworld, é and the first two bytes of
// 中); expected values are tokenizers 0.23.3's Encoding.offsets (chars,
// converted to bytes) and special_tokens_mask. The corpus-wide comparison is
// tests/real/bpe_fidelity_test.py.
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

using nlohmann::json;

const std::string kData = FLOE_TEST_DATA;

json TinyJson() {
  std::ifstream in(kData + "/bpe-tiny/tokenizer.json");
  std::stringstream ss;
  ss << in.rdbuf();
  return json::parse(ss.str());
}

std::unique_ptr<Tokenizer> Make(const json& j) {
  auto t = Tokenizer::FromJson(j.dump(), "bpe-tiny");
  EXPECT_TRUE(t.ok()) << t.status().message();
  return t.ok() ? std::move(t).value() : nullptr;
}

json ByteLevel(bool add_prefix_space, bool trim_offsets, bool use_regex = true) {
  return {{"type", "ByteLevel"}, {"add_prefix_space", add_prefix_space},
          {"trim_offsets", trim_offsets}, {"use_regex", use_regex}};
}

const char kNfcE[] = "e\xcc\x81 \xc3\xa9 \xe4\xb8\xad\xe6\x96\x87";  // "é é 中文", the first decomposed

// GPT-2's: ByteLevel(add_prefix_space) both as pre-tokenizer and as
// post-processor (trim_offsets).
TEST(BpeOffsets, Gpt2PrefixSpaceAndTrim) {
  auto t = Make(TinyJson());
  ASSERT_NE(t, nullptr);
  // The added space takes "h"'s range; the first token keeps it, trimmed to (0, 0).
  EXPECT_EQ(Offsets(*t, "hello world"),
            (std::vector<Tok>{{32, 0, 0, false}, {259, 0, 5, false}, {264, 6, 11, false}}));
  EXPECT_EQ(Offsets(*t, " hello  world "),
            (std::vector<Tok>{{32, 0, 0, false}, {259, 1, 6, false}, {32, 7, 7, false},
                              {264, 8, 13, false}, {32, 14, 14, false}}));
  // Every byte-level char keeps its char's range: U+0301's two bytes, 中's three.
  EXPECT_EQ(Offsets(*t, kNfcE),
            (std::vector<Tok>{{32, 0, 0, false}, {101, 0, 1, false}, {204, 1, 3, false},
                              {129, 1, 3, false}, {32, 4, 4, false}, {265, 4, 6, false},
                              {32, 7, 7, false}, {266, 7, 10, false}, {173, 7, 10, false},
                              {230, 10, 13, false}, {150, 10, 13, false}, {135, 10, 13, false}}));
  // An added token in the text keeps its range (and is not special in the mask).
  EXPECT_EQ(Offsets(*t, "x <s> y"),
            (std::vector<Tok>{{32, 0, 0, false}, {120, 0, 1, false}, {32, 2, 2, false},
                              {300, 2, 5, false}, {32, 6, 6, false}, {121, 6, 7, false}}));
  EXPECT_EQ(Offsets(*t, "  "), (std::vector<Tok>{{267, 2, 2, false}}));
  EXPECT_EQ(Offsets(*t, ""), (std::vector<Tok>{}));
}

// RoBERTa's: NFC, ByteLevel(add_prefix_space), RobertaProcessing trims.
TEST(BpeOffsets, RobertaNfcComposedCharTakesItsFirstCharsRange) {
  json j = TinyJson();
  j["normalizer"] = {{"type", "NFC"}};
  j["post_processor"] = {{"type", "RobertaProcessing"}, {"sep", {"</s>", 301}},
                         {"cls", {"<s>", 300}}, {"trim_offsets", true},
                         {"add_prefix_space", true}};
  auto t = Make(j);
  ASSERT_NE(t, nullptr);
  // e + U+0301 composes to é, which the crate aligns with the "e" alone.
  EXPECT_EQ(Offsets(*t, kNfcE),
            (std::vector<Tok>{{300, 0, 0, true}, {32, 0, 0, false}, {265, 0, 1, false},
                              {32, 4, 4, false}, {265, 4, 6, false}, {32, 7, 7, false},
                              {266, 7, 10, false}, {173, 7, 10, false}, {230, 10, 13, false},
                              {150, 10, 13, false}, {135, 10, 13, false}, {301, 0, 0, true}}));
  // U+2ADC, a composition exclusion, decomposes (both parts on it) and stays
  // so; U+2ADD U+0338 is not composed either.
  EXPECT_EQ(Offsets(*t, "\xe2\xab\x9c\xe2\xab\x9d\xcc\xb8"),
            (std::vector<Tok>{{300, 0, 0, true}, {32, 0, 0, false}, {226, 0, 3, false},
                              {171, 0, 3, false}, {157, 0, 3, false}, {204, 0, 3, false},
                              {184, 0, 3, false}, {226, 3, 6, false}, {171, 3, 6, false},
                              {157, 3, 6, false}, {204, 6, 8, false}, {184, 6, 8, false},
                              {301, 0, 0, true}}));
}

// Qwen2's: NFC, Split(Qwen2's regex), ByteLevel without prefix or regex, the
// post-processor's ByteLevel with trim_offsets false, then the template.
TEST(BpeOffsets, Qwen2KeepsSpacesInOffsets) {
  json j = TinyJson();
  j["normalizer"] = {{"type", "NFC"}};
  j["pre_tokenizer"] = {
      {"type", "Sequence"},
      {"pretokenizers",
       {{{"type", "Split"},
         {"pattern",
          {{"Regex",
            "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| "
            "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"}}},
         {"behavior", "Isolated"},
         {"invert", false}},
        ByteLevel(false, true, false)}}};
  j["post_processor"] = {
      {"type", "Sequence"},
      {"processors",
       {ByteLevel(false, false),
        {{"type", "TemplateProcessing"},
         {"single", {{{"Sequence", {{"id", "A"}, {"type_id", 0}}}},
                     {{"SpecialToken", {{"id", "<s>"}, {"type_id", 0}}}}}},
         {"special_tokens", {{"<s>", {{"id", "<s>"}, {"ids", {300}}, {"tokens", {"<s>"}}}}}}}}}};
  auto t = Make(j);
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(Offsets(*t, " hello  world "),
            (std::vector<Tok>{{32, 0, 1, false}, {259, 1, 6, false}, {32, 6, 7, false},
                              {264, 7, 13, false}, {32, 13, 14, false}, {300, 0, 0, true}}));
  EXPECT_EQ(Offsets(*t, kNfcE),
            (std::vector<Tok>{{265, 0, 1, false}, {32, 3, 4, false}, {265, 4, 6, false},
                              {32, 6, 7, false}, {266, 7, 10, false}, {173, 7, 10, false},
                              {230, 10, 13, false}, {150, 10, 13, false}, {135, 10, 13, false},
                              {300, 0, 0, true}}));
  EXPECT_EQ(Offsets(*t, "  "), (std::vector<Tok>{{267, 0, 2, false}, {300, 0, 0, true}}));
}

// NFKC, and a post-processor without add_prefix_space: the added space is
// trimmed off the first token too.
TEST(BpeOffsets, NfkcAndTrimWithoutPrefixSpace) {
  json j = TinyJson();
  j["normalizer"] = {{"type", "NFKC"}};
  j["post_processor"] = ByteLevel(false, true);
  auto t = Make(j);
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(Offsets(*t, "hello world"),
            (std::vector<Tok>{{32, 1, 1, false}, {259, 0, 5, false}, {264, 6, 11, false}}));
  // "ｆｕｌｌ ﬁ hello\n\n world": fullwidth letters one each, "ll" merged
  // over two, the ligature's f and i both on it.
  EXPECT_EQ(Offsets(*t, "\xef\xbd\x86\xef\xbd\x95\xef\xbd\x8c\xef\xbd\x8c \xef\xac\x81 hello\n\n world"),
            (std::vector<Tok>{{32, 3, 3, false}, {102, 0, 3, false}, {117, 3, 6, false},
                              {257, 6, 12, false}, {32, 13, 13, false}, {102, 13, 16, false},
                              {105, 13, 16, false}, {32, 17, 17, false}, {259, 17, 22, false},
                              {10, 22, 23, false}, {10, 23, 24, false}, {264, 25, 30, false}}));
}

}  // namespace
}  // namespace floe
