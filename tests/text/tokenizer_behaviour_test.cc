// Named behaviours of the tokenizer, on small hand-made tokenizer.json files
// and on the bert-base-uncased vocabulary of the fixture models.
#include <gtest/gtest.h>

#include <atomic>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "text/tokenizer.h"

namespace floe {
namespace {

using nlohmann::json;

const std::string kData = FLOE_TEST_DATA;

const std::vector<std::string> kVocab = {
    "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a",     "b",   "hello", "world",
    "##s",   "un",    "##aff", "##able", "[",     "]",     "sep", ",",     "e",
    "é",     "i",     "##x",   "x",     "foo",   "中",    "文",  "<t>",   "!"};

json AddedToken(int id, const std::string& content, bool special) {
  return {{"id", id},          {"content", content}, {"single_word", false},
          {"lstrip", false},   {"rstrip", false},    {"normalized", !special},
          {"special", special}};
}

json SmallTokenizerJson() {
  json vocab = json::object();
  for (size_t i = 0; i < kVocab.size(); ++i) vocab[kVocab[i]] = i;
  json added = json::array();
  for (int id = 0; id <= 4; ++id) added.push_back(AddedToken(id, kVocab[id], true));
  return {
      {"version", "1.0"},
      {"truncation", nullptr},
      {"padding", nullptr},
      {"added_tokens", added},
      {"normalizer",
       {{"type", "BertNormalizer"},
        {"clean_text", true},
        {"handle_chinese_chars", true},
        {"strip_accents", nullptr},
        {"lowercase", true}}},
      {"pre_tokenizer", {{"type", "BertPreTokenizer"}}},
      {"post_processor",
       {{"type", "TemplateProcessing"},
        {"single",
         json::array({{{"SpecialToken", {{"id", "[CLS]"}, {"type_id", 0}}}},
                      {{"Sequence", {{"id", "A"}, {"type_id", 0}}}},
                      {{"SpecialToken", {{"id", "[SEP]"}, {"type_id", 0}}}}})},
        {"special_tokens",
         {{"[CLS]", {{"id", "[CLS]"}, {"ids", {2}}, {"tokens", {"[CLS]"}}}},
          {"[SEP]", {{"id", "[SEP]"}, {"ids", {3}}, {"tokens", {"[SEP]"}}}}}}}},
      {"decoder", {{"type", "WordPiece"}, {"prefix", "##"}, {"cleanup", true}}},
      {"model",
       {{"type", "WordPiece"},
        {"unk_token", "[UNK]"},
        {"continuing_subword_prefix", "##"},
        {"max_input_chars_per_word", 100},
        {"vocab", vocab}}},
  };
}

std::unique_ptr<Tokenizer> FromJsonOrDie(const json& j) {
  auto tok = Tokenizer::FromJson(j.dump(), "test.json");
  EXPECT_TRUE(tok.ok()) << tok.status().ToString();
  return tok.ok() ? std::move(tok).value() : nullptr;
}

std::vector<int32_t> Ids(const Tokenizer& tok, std::string_view text, size_t max = 0) {
  auto r = tok.Encode(text, max);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? *r : std::vector<int32_t>{};
}

// Token strings between [CLS] and [SEP], joined by spaces.
std::string Pieces(const Tokenizer& tok, std::string_view text) {
  const auto ids = Ids(tok, text);
  std::string out;
  for (size_t i = 1; i + 1 < ids.size(); ++i) {
    if (!out.empty()) out += ' ';
    out += tok.IdToToken(ids[i]);
  }
  return out;
}

std::unique_ptr<Tokenizer> BertBase() {
  auto tok = Tokenizer::FromFolder(kData + "/models/bert-tiny-cls");
  EXPECT_TRUE(tok.ok()) << tok.status().ToString();
  return tok.ok() ? std::move(tok).value() : nullptr;
}

TEST(Tokenizer, EmptyTextGivesClsSep) {
  auto tok = FromJsonOrDie(SmallTokenizerJson());
  EXPECT_EQ(Ids(*tok, ""), (std::vector<int32_t>{2, 3}));
  EXPECT_EQ(Ids(*tok, " \t\n\u200b"), (std::vector<int32_t>{2, 3}));
}

TEST(Tokenizer, ReportsSpecialIds) {
  auto tok = FromJsonOrDie(SmallTokenizerJson());
  EXPECT_EQ(tok->cls_id(), 2);
  EXPECT_EQ(tok->sep_id(), 3);
  EXPECT_EQ(tok->pad_id(), 0);
  EXPECT_EQ(tok->unk_id(), 1);
  EXPECT_EQ(tok->num_special_tokens(), 2u);
  EXPECT_EQ(tok->vocab_size(), kVocab.size());
  EXPECT_EQ(tok->IdToToken(7), "hello");
  EXPECT_EQ(tok->IdToToken(-1), "");
  EXPECT_EQ(tok->IdToToken(100000), "");
}

TEST(Tokenizer, WordPieceLongestMatchFirst) {
  auto tok = FromJsonOrDie(SmallTokenizerJson());
  EXPECT_EQ(Pieces(*tok, "unaffable hellos, WORLD!"),
            "un ##aff ##able hello ##s , world !");
}

TEST(Tokenizer, UnmatchedWordIsOneUnk) {
  auto tok = FromJsonOrDie(SmallTokenizerJson());
  // "unaffq": un ##aff then nothing for "q": the whole word is one [UNK].
  EXPECT_EQ(Pieces(*tok, "a unaffq b"), "a [UNK] b");
}

TEST(Tokenizer, WordOverMaxCharsIsOneUnk) {
  auto tok = FromJsonOrDie(SmallTokenizerJson());
  std::string word = "x" + std::string(99, 'x');  // 100 chars: x ##x ...
  EXPECT_EQ(Ids(*tok, word).size(), 102u);
  word += "x";  // 101 chars
  EXPECT_EQ(Pieces(*tok, word), "[UNK]");
  // Characters, not bytes, count: 100 two-byte chars still tokenize.
  auto bert = BertBase();
  std::string e100;
  for (int i = 0; i < 100; ++i) e100 += "\u00e9";  // é, stripped to e
  EXPECT_GT(Ids(*bert, e100).size(), 3u);
}

TEST(Tokenizer, TruncatesToMaxLengthKeepingSep) {
  auto tok = FromJsonOrDie(SmallTokenizerJson());
  const std::string text = "hello world a b hello world";
  const auto full = Ids(*tok, text);
  ASSERT_EQ(full.size(), 8u);
  const auto cut = Ids(*tok, text, 5);
  EXPECT_EQ(cut, (std::vector<int32_t>{2, 7, 8, 5, 3}));
  // A word cut in the middle of its pieces keeps only the pieces that fit.
  EXPECT_EQ(Ids(*tok, "unaffable", 4), (std::vector<int32_t>{2, 10, 11, 3}));
  EXPECT_EQ(Ids(*tok, text, 2), (std::vector<int32_t>{2, 3}));
  EXPECT_EQ(Ids(*tok, text, 8), full);
  EXPECT_EQ(Ids(*tok, text, 100), full);
  // Too small to hold the template's specials.
  EXPECT_EQ(tok->Encode(text, 1).status().code(), StatusCode::kInvalidArgument);
  // Truncation also stops at added tokens.
  EXPECT_EQ(Ids(*tok, "a [MASK] [MASK] b", 4), (std::vector<int32_t>{2, 5, 4, 3}));
}

TEST(Tokenizer, CountTokensIgnoresTruncation) {
  auto tok = BertBase();
  std::string text;
  for (int i = 0; i < 300; ++i) text += "hello world ";
  EXPECT_EQ(*tok->CountTokens(text), 602u);
  EXPECT_EQ(Ids(*tok, text, 512).size(), 512u);
  EXPECT_EQ(Ids(*tok, text, 512).back(), tok->sep_id());
}

TEST(Tokenizer, RejectsInvalidUtf8) {
  auto tok = FromJsonOrDie(SmallTokenizerJson());
  struct Case {
    std::string text;
    size_t offset;
  };
  const std::vector<Case> cases = {
      {"ab\xff", 2},              // invalid lead byte
      {"a\xc3", 1},               // truncated sequence
      {"abc\xc0\x80", 3},         // overlong NUL
      {"\xe0\x80\xaf", 0},        // overlong slash
      {"hi \xed\xa0\x80", 3},     // surrogate
      {"\xf4\x90\x80\x80", 0},    // above U+10FFFF
      {"hello world\x80", 11},    // stray continuation byte after the fast path
      {"\xe4\xb8\xad\xe4\xb8", 3}  // valid 中 then truncated
  };
  for (const Case& c : cases) {
    auto r = tok->Encode(c.text);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(r.status().message().find("byte offset " + std::to_string(c.offset)),
              std::string::npos)
        << r.status().message();
    EXPECT_FALSE(tok->CountTokens(c.text).ok());
  }
  // Valid multi-byte text is fine.
  EXPECT_TRUE(tok->Encode("\xe4\xb8\xad \xf0\x9f\x98\x80").ok());
}

TEST(Tokenizer, RefusesEmptyUnigramVocabulary) {
  json j = SmallTokenizerJson();
  j["model"] = {{"type", "Unigram"}, {"vocab", json::array()}};
  auto tok = Tokenizer::FromJson(j.dump(), "x.json");
  ASSERT_FALSE(tok.ok());
  EXPECT_EQ(tok.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(tok.status().message().find("Unigram"), std::string::npos);
}

TEST(Tokenizer, RefusesEmptyBpeVocabularyAndDropout) {
  json j = SmallTokenizerJson();
  j["model"] = {{"type", "BPE"}, {"vocab", json::object()}, {"merges", json::array()}};
  auto tok = Tokenizer::FromJson(j.dump(), "x.json");
  ASSERT_FALSE(tok.ok());
  EXPECT_EQ(tok.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(tok.status().message().find("BPE"), std::string::npos);
  j["model"] = {{"type", "BPE"}, {"vocab", {{"a", 0}}}, {"merges", json::array()},
                {"dropout", 0.1}};
  tok = Tokenizer::FromJson(j.dump(), "x.json");
  ASSERT_FALSE(tok.ok());
  EXPECT_EQ(tok.status().code(), StatusCode::kUnimplemented);
  EXPECT_NE(tok.status().message().find("dropout"), std::string::npos);
}

TEST(Tokenizer, RefusesOtherNormalizersAndPreTokenizers) {
  for (const char* type : {"Sequence", "NFKC", "Lowercase"}) {
    json j = SmallTokenizerJson();
    j["normalizer"] = {{"type", type}};
    auto tok = Tokenizer::FromJson(j.dump(), "x.json");
    ASSERT_FALSE(tok.ok());
    EXPECT_EQ(tok.status().code(), StatusCode::kUnimplemented);
    EXPECT_NE(tok.status().message().find(type), std::string::npos);
  }
  for (const char* type : {"Sequence", "Metaspace", "ByteLevel"}) {
    json j = SmallTokenizerJson();
    j["pre_tokenizer"] = {{"type", type}};
    auto tok = Tokenizer::FromJson(j.dump(), "x.json");
    ASSERT_FALSE(tok.ok());
    EXPECT_EQ(tok.status().code(), StatusCode::kUnimplemented);
    EXPECT_NE(tok.status().message().find(type), std::string::npos);
  }
}

TEST(Tokenizer, RejectsMalformedJson) {
  EXPECT_EQ(Tokenizer::FromJson("{not json", "x.json").status().code(),
            StatusCode::kInvalidArgument);
  json j = SmallTokenizerJson();
  j["model"]["vocab"] = json::array();
  EXPECT_EQ(Tokenizer::FromJson(j.dump(), "x.json").status().code(),
            StatusCode::kInvalidArgument);
  j = SmallTokenizerJson();
  j["model"]["unk_token"] = "[NOPE]";
  EXPECT_EQ(Tokenizer::FromJson(j.dump(), "x.json").status().code(),
            StatusCode::kInvalidArgument);
  j = SmallTokenizerJson();
  j["added_tokens"][0]["content"] = 5;  // wrong type: an error, not a crash
  EXPECT_EQ(Tokenizer::FromJson(j.dump(), "x.json").status().code(),
            StatusCode::kInvalidArgument);
}

TEST(Tokenizer, MissingFolderIsNotFound) {
  EXPECT_EQ(Tokenizer::FromFolder(kData + "/models/no-such-model").status().code(),
            StatusCode::kNotFound);
}

TEST(Tokenizer, SpecialTokenInRawTextMatchedFirst) {
  auto tok = FromJsonOrDie(SmallTokenizerJson());
  // [SEP] in the text maps straight to its id, even glued to words.
  EXPECT_EQ(Ids(*tok, "a[SEP]b"), (std::vector<int32_t>{2, 5, 3, 6, 3}));
  // Matched before lowercasing: "[sep]" is not the special token.
  EXPECT_EQ(Pieces(*tok, "[sep]"), "[ sep ]");
  // Matched before punctuation splitting and before clean text.
  EXPECT_EQ(Ids(*tok, "[CLS][MASK]\u200b[PAD]"), (std::vector<int32_t>{2, 2, 4, 0, 3}));
  auto bert = BertBase();
  EXPECT_EQ(Ids(*bert, "[CLS] literal [SEP] [MASK] tokens"),
            (std::vector<int32_t>{101, 101, 18204, 102, 103, 19204, 2015, 102}));
}

TEST(Tokenizer, AddedTokenFlags) {
  json j = SmallTokenizerJson();
  json t = AddedToken(25, "<t>", false);
  t["normalized"] = false;
  t["single_word"] = true;
  j["added_tokens"].push_back(t);
  auto tok = FromJsonOrDie(j);
  EXPECT_EQ(Ids(*tok, "a <t> b"), (std::vector<int32_t>{2, 5, 25, 6, 3}));
  // single_word: not matched inside a word, so it falls apart into < t >.
  EXPECT_EQ(Pieces(*tok, "a<t>b"), "a [UNK] [UNK] [UNK] b");

  j = SmallTokenizerJson();
  t["single_word"] = false;
  t["lstrip"] = true;
  t["rstrip"] = true;
  j["added_tokens"].push_back(t);
  tok = FromJsonOrDie(j);
  EXPECT_EQ(Ids(*tok, "a  <t>  b"), (std::vector<int32_t>{2, 5, 25, 6, 3}));
  EXPECT_EQ(Ids(*tok, "a<t>b"), (std::vector<int32_t>{2, 5, 25, 6, 3}));
}

TEST(Tokenizer, NormalizedAddedTokenMatchedAfterNormalization) {
  json j = SmallTokenizerJson();
  json t = AddedToken(22, "FOO", false);  // normalized: content lowercased to "foo"
  j["added_tokens"].push_back(t);
  j["model"]["vocab"].erase("foo");
  j["model"]["vocab"]["zz"] = 22;
  auto tok = FromJsonOrDie(j);
  EXPECT_EQ(Ids(*tok, "a FoO b"), (std::vector<int32_t>{2, 5, 22, 6, 3}));
  // Matched in the normalized text, so even inside a word.
  EXPECT_EQ(Ids(*tok, "afoob"), (std::vector<int32_t>{2, 5, 22, 6, 3}));
}

TEST(Tokenizer, LongestAddedTokenWins) {
  json j = SmallTokenizerJson();
  json t1 = AddedToken(23, "[S", true);
  json t2 = AddedToken(24, "[SEPX", true);
  j["added_tokens"].push_back(t1);
  j["added_tokens"].push_back(t2);
  auto tok = FromJsonOrDie(j);
  EXPECT_EQ(Ids(*tok, "[SEPX[SEP][S"), (std::vector<int32_t>{2, 24, 3, 23, 3}));
  // A prefix of a longer token that does not complete still matches the shorter one.
  EXPECT_EQ(Ids(*tok, "[SEP[S"), (std::vector<int32_t>{2, 23, 1, 23, 3}));
}

TEST(Tokenizer, StripAccentsFollowsLowercaseWhenNull) {
  json j = SmallTokenizerJson();
  auto tok = FromJsonOrDie(j);
  EXPECT_EQ(Pieces(*tok, "\u00c9"), "e");  // É -> NFD E + U+0301 -> e
  j["normalizer"]["lowercase"] = false;
  tok = FromJsonOrDie(j);
  EXPECT_EQ(Pieces(*tok, "\u00e9"), "é");  // accents kept
  j["normalizer"]["strip_accents"] = true;
  tok = FromJsonOrDie(j);
  EXPECT_EQ(Pieces(*tok, "\u00e9"), "e");
}

TEST(Tokenizer, LowercaseIsPerCharacterFull) {
  // Without accent stripping, İ lowercases to i + U+0307 (char::to_lowercase).
  json j = SmallTokenizerJson();
  j["normalizer"]["strip_accents"] = false;
  j["model"]["vocab"]["##\u0307"] = 27;
  auto tok = FromJsonOrDie(j);
  EXPECT_EQ(Pieces(*tok, "\u0130"), "i ##\u0307");
  // With stripping (the default for lowercase), NFD drops the dot first.
  tok = FromJsonOrDie(SmallTokenizerJson());
  EXPECT_EQ(Pieces(*tok, "\u0130"), "i");
}

TEST(Tokenizer, CleanTextAndWhitespace) {
  auto tok = FromJsonOrDie(SmallTokenizerJson());
  // NUL, U+FFFD, Cc (U+0085 included: dropped before the whitespace map) and Cf
  // are dropped, joining the word; NBSP, U+2028, U+3000 split.
  EXPECT_EQ(Pieces(*tok, std::string("he\0llo", 6)), "hello");
  EXPECT_EQ(Pieces(*tok, "he\ufffdl\u200blo\u0007"), "hello");
  EXPECT_EQ(Pieces(*tok, "hel\u0085lo"), "hello");
  EXPECT_EQ(Pieces(*tok, "a\u00a0b\u2028a\u3000b\u2009a"), "a b a b a");
}

TEST(Tokenizer, ChineseCharsAreSplit) {
  auto tok = FromJsonOrDie(SmallTokenizerJson());
  EXPECT_EQ(Pieces(*tok, "a\u4e2d\u6587b"), "a 中 文 b");
  json j = SmallTokenizerJson();
  j["normalizer"]["handle_chinese_chars"] = false;
  tok = FromJsonOrDie(j);
  EXPECT_EQ(Pieces(*tok, "\u4e2d\u6587"), "[UNK]");
}

TEST(Tokenizer, UnicodePunctuationSplits) {
  auto bert = BertBase();
  // U+2014 EM DASH (Pd), U+00BF ¿ (Po) split; U+00B1 ± (Sm) does not.
  EXPECT_EQ(Pieces(*bert, "a\u2014b\u00bfc"), "a — b ¿ c");
  EXPECT_EQ(Pieces(*bert, "$5"), "$ 5");
}

TEST(Tokenizer, EncodeIsThreadSafe) {
  auto tok = BertBase();
  const std::string text =
      "The quick brown fox, naïvely jumping over 12 lazy dogs; 東京 [SEP] ünïcödé!";
  const auto want = Ids(*tok, text);
  std::vector<std::thread> threads;
  std::atomic<int> bad{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 500; ++i) {
        auto r = tok->Encode(text, (i % 3 == 0) ? 10 : 0);
        if (!r.ok()) {
          ++bad;
        } else if (i % 3 != 0 && *r != want) {
          ++bad;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(bad.load(), 0);
}

TEST(Tokenizer, RandomInputNeverCrashes) {
  auto tok = BertBase();
  std::mt19937 rng(42);
  const uint32_t ranges[][2] = {{0, 0x7F},        {0x80, 0x7FF},     {0x300, 0x36F},
                                {0x4E00, 0x9FFF}, {0xAC00, 0xD7A3},  {0xE000, 0xF8FF},
                                {0xFFF0, 0xFFFF}, {0x1F300, 0x1FAFF}, {0x2B800, 0x2B9FF}};
  for (int iter = 0; iter < 2000; ++iter) {
    std::string text;
    const int n = static_cast<int>(rng() % 60);
    for (int i = 0; i < n; ++i) {
      const auto& r = ranges[rng() % std::size(ranges)];
      uint32_t cp = r[0] + rng() % (r[1] - r[0] + 1);
      if (cp >= 0xD800 && cp <= 0xDFFF) cp = 'x';
      if (rng() % 20 == 0) {
        text += "[SEP]";
        continue;
      }
      if (cp < 0x80) {
        text += static_cast<char>(cp);
      } else if (cp < 0x800) {
        text += static_cast<char>(0xC0 | (cp >> 6));
        text += static_cast<char>(0x80 | (cp & 0x3F));
      } else if (cp < 0x10000) {
        text += static_cast<char>(0xE0 | (cp >> 12));
        text += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        text += static_cast<char>(0x80 | (cp & 0x3F));
      } else {
        text += static_cast<char>(0xF0 | (cp >> 18));
        text += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
        text += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        text += static_cast<char>(0x80 | (cp & 0x3F));
      }
    }
    auto ids = tok->Encode(text);
    ASSERT_TRUE(ids.ok()) << ids.status().ToString();
    EXPECT_EQ(ids->front(), tok->cls_id());
    EXPECT_EQ(ids->back(), tok->sep_id());
    for (int32_t id : *ids) EXPECT_LT(static_cast<size_t>(id), tok->vocab_size());
    EXPECT_EQ(*tok->CountTokens(text), ids->size());
    // Random bytes: an error or ids, never a crash.
    std::string bytes = text;
    if (!bytes.empty()) bytes[rng() % bytes.size()] = static_cast<char>(rng());
    auto r = tok->Encode(bytes, 16);
    if (r.ok()) {
      EXPECT_LE(r->size(), 16u);
    }
  }
}

}  // namespace
}  // namespace floe
