// Named behaviours of the Unigram (SentencePiece) tokenizer: the charsmap
// trie, Viterbi's tie and unknown rules, Metaspace's edge cases, pair
// templates and truncation, decoding. Expected values come from Hugging Face
// `tokenizers` 0.23 (tests/data/unigram-spm is a SentencePiece model trained
// here and converted as transformers converts XLM-R's); the corpus-wide
// comparison is tests/real/unigram_fidelity_test.py.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "text/metaspace.h"
#include "text/normalizers.h"
#include "text/post_processor.h"
#include "text/precompiled_charsmap.h"
#include "text/tokenizer.h"
#include "text/unigram.h"

namespace floe {
namespace {

using nlohmann::json;
using text::UnigramModel;

const std::string kData = FLOE_TEST_DATA;

json SpmJson() {
  std::ifstream in(kData + "/unigram-spm/tokenizer.json");
  std::stringstream ss;
  ss << in.rdbuf();
  return json::parse(ss.str());
}

std::unique_ptr<Tokenizer> Spm() {
  auto t = Tokenizer::FromFolder(kData + "/unigram-spm");
  EXPECT_TRUE(t.ok()) << t.status().message();
  return t.ok() ? std::move(t).value() : nullptr;
}

UnigramModel Model(std::vector<std::pair<std::string, double>> vocab, int32_t unk = 0,
                   bool byte_fallback = false) {
  auto m = UnigramModel::Build(std::move(vocab), unk, byte_fallback);
  EXPECT_TRUE(m.ok()) << m.status().message();
  return std::move(m).value();
}

std::vector<int32_t> Ids(const UnigramModel& m, std::string_view s) {
  UnigramModel::Scratch scratch;
  std::vector<int32_t> out;
  Status st = m.Encode(s, scratch, &out);
  EXPECT_TRUE(st.ok()) << st.message();
  return out;
}

TEST(PrecompiledCharsmap, NormalizesAsTheCrateWithNmtNfkc) {
  const json j = SpmJson();
  auto chain = text::NormalizerChain::Parse(j["normalizer"], "spm");
  ASSERT_TRUE(chain.ok()) << chain.status().message();
  // Precompiled + Strip(right) + Replace(" {2,}" -> "▁"), outputs of the crate.
  const std::pair<const char*, const char*> cases[] = {
      {"\uff46\uff55\uff4c\uff4c\u3000\uff57\uff49\uff44\uff54\uff48", "full width"},
      {"\ufb01", "fi"},
      {"\u2460\u2461", "12"},
      {"e\u0301", "\u00e9"},
      {"\u2126", "\u03a9"},
      {"a\tb\nc", "a b c"},
      {"  x  ", "\u2581x"},
      {"\u00a0y", " y"},
      {"\u2122\x1eg", "TMg"},
      {"\u3000", ""},
      // The cluster's shortest matching prefix wins: the accent is lost.
      {"\uff21\u0301", "A"},
      // A cluster of 6 bytes or more goes code point by code point.
      {"\uff76\uff9e", "\u30ab\u3099"},
      {"\r\n", ""},
  };
  for (const auto& [in, want] : cases) {
    std::string got;
    chain->Apply(in, &got);
    EXPECT_EQ(got, want) << in;
  }
}

TEST(PrecompiledCharsmap, TransformTakesTheShortestKey) {
  const json j = SpmJson();
  auto blob = text::DecodeBase64(
      j["normalizer"]["normalizers"][0]["precompiled_charsmap"].get<std::string>());
  ASSERT_TRUE(blob.ok());
  auto m = text::PrecompiledCharsmap::Parse(*blob);
  ASSERT_TRUE(m.ok()) << m.status().message();
  EXPECT_EQ(m->Transform("\uff21"), std::optional<std::string_view>("A"));
  EXPECT_EQ(m->Transform("\uff21xyz"), std::optional<std::string_view>("A"));
  EXPECT_EQ(m->Transform("a"), std::nullopt);
  EXPECT_EQ(m->Transform(""), std::nullopt);
}

TEST(PrecompiledCharsmap, RejectsBrokenBlobs) {
  EXPECT_FALSE(text::DecodeBase64("ab$c").ok());
  EXPECT_EQ(*text::DecodeBase64("aGk="), "hi");
  EXPECT_FALSE(text::PrecompiledCharsmap::Parse("\x01").ok());
  // Trie size 8 but only 4 bytes follow.
  EXPECT_FALSE(text::PrecompiledCharsmap::Parse(std::string("\x08\0\0\0abcd", 8)).ok());
  // A trie whose offsets point past the array: no match, no crash.
  auto m = text::PrecompiledCharsmap::Parse(std::string("\x04\0\0\0\xff\xff\xff\xff", 8));
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->Transform("abc"), std::nullopt);
  EXPECT_TRUE(text::PrecompiledCharsmap::Parse("").ok());
}

TEST(UnigramViterbi, BestSegmentationFusingUnknowns) {
  // The crate's documented example: "abcdacdxx" -> abcd, a, cd, xx (one unk).
  const UnigramModel m = Model({{"<unk>", 0}, {"a", 0}, {"b", 0}, {"c", 0}, {"d", 0},
                                {"cd", 1}, {"ab", 2}, {"abc", 5}, {"abcd", 10}});
  EXPECT_EQ(Ids(m, "abcdacdxx"), (std::vector<int32_t>{8, 1, 5, 0}));
  EXPECT_EQ(Ids(m, "xaxx"), (std::vector<int32_t>{0, 1, 0}));
  EXPECT_EQ(Ids(m, ""), (std::vector<int32_t>{}));
}

TEST(UnigramViterbi, TiesGoToTheFirstCandidateFound) {
  // a+b and ab both score -2: ab (found first, from position 0) wins.
  const UnigramModel m = Model({{"<unk>", -5}, {"a", -1}, {"b", -1}, {"ab", -2}});
  EXPECT_EQ(Ids(m, "ab"), (std::vector<int32_t>{3}));
}

TEST(UnigramViterbi, UnknownScoresTenUnderTheLowestPiece) {
  // "é" has no piece: as unk it costs min(-1, -30) - 10 = -40 against "xé"
  // at -35 (covering it with a known piece), so the known piece wins.
  const UnigramModel m = Model({{"<unk>", -1}, {"x", -30}, {"x\u00e9", -35}});
  EXPECT_EQ(Ids(m, "x\u00e9"), (std::vector<int32_t>{2}));
  // Without that piece, one fused unk for the two unknowns.
  const UnigramModel m2 = Model({{"<unk>", -1}, {"x", -30}});
  EXPECT_EQ(Ids(m2, "x\u00e9\u00e9"), (std::vector<int32_t>{1, 0}));
}

TEST(UnigramViterbi, ByteFallbackSpellsUnknownsInBytes) {
  std::vector<std::pair<std::string, double>> v = {{"<unk>", 0}, {"a", -1}};
  for (const char* b : {"<0xC3>", "<0xA9>"}) v.emplace_back(b, -2);
  const UnigramModel m = Model(v, 0, true);
  EXPECT_EQ(Ids(m, "a\u00e9\u00e9a"), (std::vector<int32_t>{1, 2, 3, 2, 3, 1}));
  // A byte without its piece: the whole fused unknown is unk.
  EXPECT_EQ(Ids(m, "\u00e9\u00ea"), (std::vector<int32_t>{0}));
  EXPECT_EQ(m.ByteOfPiece(2), 0xC3);
  EXPECT_EQ(m.ByteOfPiece(1), -1);
}

TEST(UnigramViterbi, DuplicatePieceMapsToItsLastId) {
  const UnigramModel m = Model({{"<unk>", 0}, {"a", -1}, {"a", -3}});
  EXPECT_EQ(Ids(m, "aa"), (std::vector<int32_t>{2, 2}));
}

TEST(UnigramViterbi, NoUnkIdIsAnErrorOnUnknowns) {
  const UnigramModel m = Model({{"a", -1}}, -1);
  UnigramModel::Scratch s;
  std::vector<int32_t> out;
  EXPECT_FALSE(m.Encode("ab", s, &out).ok());
  EXPECT_FALSE(UnigramModel::Build({}, 0, false).ok());
  EXPECT_FALSE(UnigramModel::Build({{"a", 0}}, 3, false).ok());
}

std::vector<std::string> Splits(const json& pre, std::string_view in, bool first) {
  auto chain = text::PreTokenizerChain::Parse(pre, "test");
  EXPECT_TRUE(chain.ok()) << chain.status().message();
  std::vector<std::string> out, scratch;
  chain->Run(in, first, [&](std::string_view s) { out.emplace_back(s); }, &scratch);
  return out;
}

TEST(Metaspace, SplitsBeforeEachSpaceAndPrependsPerScheme) {
  const std::string r = "\u2581";
  const json always = {{"type", "Metaspace"}, {"replacement", r}, {"prepend_scheme", "always"}};
  EXPECT_EQ(Splits(always, "Hey  friend!", false),
            (std::vector<std::string>{r + "Hey", r, r + "friend!"}));
  EXPECT_EQ(Splits(always, " x", true), (std::vector<std::string>{r + "x"}));  // no second ▁
  EXPECT_EQ(Splits(always, r + "x", true), (std::vector<std::string>{r + "x"}));
  EXPECT_EQ(Splits(always, "", true), (std::vector<std::string>{}));
  json first = always;
  first["prepend_scheme"] = "first";
  EXPECT_EQ(Splits(first, "a b", true), (std::vector<std::string>{r + "a", r + "b"}));
  EXPECT_EQ(Splits(first, "a b", false), (std::vector<std::string>{"a", r + "b"}));
  json never = always;
  never["prepend_scheme"] = "never";
  never["split"] = false;
  EXPECT_EQ(Splits(never, "a b ", true), (std::vector<std::string>{"a" + r + "b" + r}));
  // Old files: add_prefix_space false means never.
  const json old = {{"type", "Metaspace"}, {"replacement", "_"}, {"add_prefix_space", false}};
  EXPECT_EQ(Splits(old, "a b", true), (std::vector<std::string>{"a", "_b"}));
  const json seq = {{"type", "Sequence"},
                    {"pretokenizers", {{{"type", "WhitespaceSplit"}}, first}}};
  // After WhitespaceSplit only a split at offset 0 is "first".
  EXPECT_EQ(Splits(seq, "  a\tb", true), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(Splits(seq, "a\tb", true), (std::vector<std::string>{r + "a", "b"}));
  EXPECT_TRUE(text::PreTokenizerChain::Parse({{"type", "ByteLevel"}}, "t").ok());
  const json split = {{"type", "Split"}, {"pattern", {{"Regex", "\\w+"}}}, {"behavior", "Isolated"}};
  EXPECT_EQ(text::PreTokenizerChain::Parse(split, "t").status().code(),
            StatusCode::kUnimplemented);
  EXPECT_FALSE(text::PreTokenizerChain::Parse({{"type", "Digits"}}, "t").ok());
}

TEST(Metaspace, DecoderDropsReplacementsOfTheFirstTokenOnly) {
  text::MetaspaceOptions ms;
  std::string out;
  text::MetaspaceDecodeToken(ms, 0, "\u2581Hey\u2581", &out);
  text::MetaspaceDecodeToken(ms, 1, "\u2581you", &out);
  EXPECT_EQ(out, "Hey you");
}

TEST(PairTruncation, LongestFirstAsTheCrate) {
  auto run = [](size_t max, size_t n1, size_t n2) {
    std::vector<int32_t> a(n1, 1), b(n2, 2);
    text::TruncatePairLongestFirst(max, &a, &b);
    return std::make_pair(a.size(), b.size());
  };
  EXPECT_EQ(run(10, 3, 4), std::make_pair(size_t{3}, size_t{4}));  // fits
  EXPECT_EQ(run(10, 3, 20), std::make_pair(size_t{3}, size_t{7}));  // the longer gives
  EXPECT_EQ(run(10, 20, 3), std::make_pair(size_t{7}, size_t{3}));
  EXPECT_EQ(run(9, 20, 30), std::make_pair(size_t{4}, size_t{5}));  // both long: halves
  EXPECT_EQ(run(9, 30, 20), std::make_pair(size_t{5}, size_t{4}));
  EXPECT_EQ(run(4, 10, 1), std::make_pair(size_t{3}, size_t{1}));
}

TEST(UnigramTokenizer, SpmSinglesPairsTruncationAndDecodeAsTheCrate) {
  auto t = Spm();
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(*t->Encode("Hello  world, \uff46\uff55\uff4c\uff4c \ufb01"),
            (std::vector<int32_t>{0, 279, 962, 10, 410, 94, 415, 13, 4, 3705, 1430, 2}));
  EXPECT_EQ(*t->Encode("\u65e5\u672c\u8a9e\u306e\u30c6\u30ad\u30b9\u30c8"),
            (std::vector<int32_t>{0, 4, 7759, 7764, 4343, 1054, 7530, 7457, 1244, 4153, 2}));
  EXPECT_EQ(*t->EncodePair("a b", "c"), (std::vector<int32_t>{0, 39, 173, 2, 2, 337, 2}));
  EXPECT_EQ(*t->EncodePair("one two three four five", "six seven eight nine ten eleven", 8),
            (std::vector<int32_t>{0, 121, 105, 2, 2, 4, 5, 2}));
  EXPECT_EQ(*t->Encode("one two three four five", 8),
            (std::vector<int32_t>{0, 121, 105, 4, 15, 991, 619, 2}));
  EXPECT_FALSE(t->Encode("x", 1).ok());
  EXPECT_FALSE(t->EncodePair("x", "y", 3).ok());
  EXPECT_EQ(*t->CountTokens("  leading and trailing  "), 10u);
  EXPECT_EQ(t->cls_id(), 0);
  EXPECT_EQ(t->sep_id(), 2);
  EXPECT_EQ(t->pad_id(), 1);
  EXPECT_EQ(t->unk_id(), 3);
  EXPECT_EQ(t->num_special_tokens(), 2u);
  const auto ids = *t->Encode("Hello  world, \uff46\uff55\uff4c\uff4c \ufb01");
  EXPECT_EQ(*t->Decode(ids), "Hello world, full fi");
  EXPECT_EQ(*t->Decode(ids, false), "<s> Hello world, full fi</s>");
  EXPECT_EQ(*t->Decode(*t->Encode("  leading and trailing  ")), "leading and trailing");
  EXPECT_FALSE(t->Encode("bad \xff utf-8").ok());
}

TEST(UnigramTokenizer, AddedTokensAndByteFallbackDecode) {
  json j = SpmJson();
  // <mask> strips the space before it; "ÜBER" only as a whole word.
  j["added_tokens"].push_back({{"id", 8002}, {"content", "<mask>"}, {"single_word", false},
                               {"lstrip", true}, {"rstrip", false}, {"normalized", false},
                               {"special", true}});
  j["added_tokens"].push_back({{"id", 8003}, {"content", "\u00dcBER"}, {"single_word", true},
                               {"lstrip", false}, {"rstrip", false}, {"normalized", false},
                               {"special", false}});
  auto t = Tokenizer::FromJson(j.dump(), "spm+added");
  ASSERT_TRUE(t.ok()) << t.status().message();
  // Ids as the crate gives them: <mask> is a piece of the vocabulary (8001),
  // ÜBER gets the first id past it, whatever the file says.
  const auto masked = *(*t)->Encode("a <mask>b");
  EXPECT_EQ(masked, (std::vector<int32_t>{0, 39, 8001, 173, 2}));
  EXPECT_EQ(*(*t)->Encode("\u00dcBER x\u00dcBERx"),
            (std::vector<int32_t>{0, 8002, 4, 58, 7917, 224, 202, 197, 58, 2}));
  EXPECT_EQ(*(*t)->Decode(masked), "a b");
  // Decoder chain of byte-fallback models (Llama-style).
  j["decoder"] = {{"type", "Sequence"},
                  {"decoders",
                   {{{"type", "Replace"}, {"pattern", {{"String", "\u2581"}}}, {"content", " "}},
                    {{"type", "ByteFallback"}},
                    {{"type", "Fuse"}},
                    {{"type", "Strip"}, {"content", " "}, {"start", 1}, {"stop", 0}}}}};
  j["model"]["vocab"].push_back({"<0xC3>", -20.0});
  j["model"]["vocab"].push_back({"<0xA9>", -20.0});
  j["model"]["vocab"].push_back({"<0xFF>", -20.0});
  j["added_tokens"] = json::array();
  auto b = Tokenizer::FromJson(j.dump(), "spm+bytes");
  ASSERT_TRUE(b.ok()) << b.status().message();
  EXPECT_EQ(*(*b)->Decode({39, 8002, 8003, 39}), "a\u00e9 a");
  EXPECT_EQ(*(*b)->Decode({8004}), "\ufffd");
  EXPECT_EQ(*(*b)->Decode({8002}), "\ufffd");
}

}  // namespace
}  // namespace floe
