// WordPiece pairs (ids and where token type 1 starts), offsets with special
// flags, and the WordPiece decoder. Expected values come from Hugging Face
// `tokenizers` 0.23 on tests/data/models/bert-tiny-cls (the bert-base-uncased
// vocab); the corpus-wide comparison is
// tests/real/wordpiece_pairs_offsets_tokenizer_test.py.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "text/tokenizer.h"

namespace floe {
namespace {

const std::string kData = FLOE_TEST_DATA;

std::unique_ptr<Tokenizer> Bert() {
  auto t = Tokenizer::FromFolder(kData + "/models/bert-tiny-cls");
  EXPECT_TRUE(t.ok()) << t.status().message();
  return std::move(t).value();
}

TEST(WordPiecePair, IdsAndType1FromAsTheCrate) {
  auto t = Bert();
  size_t type1 = 0;
  auto ids = t->EncodePair("a question?", "the answer is here.", 0, &type1);
  ASSERT_TRUE(ids.ok()) << ids.status().message();
  EXPECT_EQ(*ids, (std::vector<int32_t>{101, 1037, 3160, 1029, 102, 1996, 3437, 2003, 2182,
                                        1012, 102}));
  EXPECT_EQ(type1, 5u);  // B and its [SEP]
  // Longest first: 4 + 5 content ids into 8 - 3 = 5 leaves 2 + 3.
  ids = t->EncodePair("one two three four", "five six seven eight nine", 8, &type1);
  ASSERT_TRUE(ids.ok());
  EXPECT_EQ(*ids, (std::vector<int32_t>{101, 2028, 2048, 102, 2274, 2416, 2698, 102}));
  EXPECT_EQ(type1, 4u);
  EXPECT_FALSE(t->EncodePair("x", "y", 2).ok());  // no room for the 3 specials
  EXPECT_FALSE(t->EncodePair("x", "\xff").ok());
}

TEST(WordPiecePair, RobertaProcessingIsAllTypeZero) {
  const std::string json = R"({
    "model": {"type": "WordPiece", "vocab": {"[UNK]": 0, "<s>": 1, "</s>": 2, "a": 3, "b": 4}},
    "normalizer": null, "pre_tokenizer": {"type": "BertPreTokenizer"},
    "post_processor": {"type": "RobertaProcessing", "sep": ["</s>", 2], "cls": ["<s>", 1]}})";
  auto t = Tokenizer::FromJson(json, "roberta.json");
  ASSERT_TRUE(t.ok()) << t.status().message();
  size_t type1 = 0;
  auto ids = (*t)->EncodePair("a", "b a", 0, &type1);
  ASSERT_TRUE(ids.ok());
  EXPECT_EQ(*ids, (std::vector<int32_t>{1, 3, 2, 2, 4, 3, 2}));
  EXPECT_EQ(type1, ids->size());
}

TEST(WordPieceOffsets, BytesOfTheInputAndTemplateSpecials) {
  auto t = Bert();
  // é is NFD-stripped (2 bytes), CJK padded with spaces, [SEP] matched in the
  // text (not special in the crate's mask: only template tokens are).
  auto r = t->EncodeWithOffsets("H\xc3\xa9llo, \xe4\xb8\xad\xe6\x96\x87 [SEP]x");
  ASSERT_TRUE(r.ok()) << r.status().message();
  const std::vector<int32_t> ids = {101, 7592, 1010, 1746, 1861, 102, 1060, 102};
  const std::vector<std::pair<size_t, size_t>> offsets = {
      {0, 0}, {0, 6}, {6, 7}, {8, 11}, {11, 14}, {15, 20}, {20, 21}, {0, 0}};
  ASSERT_EQ(r->size(), ids.size());
  for (size_t i = 0; i < ids.size(); ++i) {
    EXPECT_EQ((*r)[i].id, ids[i]) << i;
    EXPECT_EQ((*r)[i].start, offsets[i].first) << i;
    EXPECT_EQ((*r)[i].stop, offsets[i].second) << i;
    EXPECT_EQ((*r)[i].special, i == 0 || i + 1 == ids.size()) << i;
  }
  // Lowercased U+0130 gives two code points from one; subwords split bytes.
  r = t->EncodeWithOffsets("\xc4\xb0s unaffable", 5);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->size(), 5u);
  EXPECT_EQ((*r)[1].id, 2003);
  EXPECT_EQ((*r)[1].stop, 3u);
  EXPECT_EQ((*r)[2].id, 14477);
  EXPECT_EQ((*r)[2].start, 4u);
  EXPECT_EQ((*r)[3].id, 20961);
  EXPECT_EQ((*r)[3].start, 7u);
  EXPECT_EQ((*r)[3].stop, 10u);
  EXPECT_EQ((*r)[4].id, 102);
  // Same ids as Encode.
  for (const char* s : {"", "a [MASK] b", "unaffable tokenization ##x"}) {
    auto o = t->EncodeWithOffsets(s);
    ASSERT_TRUE(o.ok());
    std::vector<int32_t> got;
    for (const TokenOffset& x : *o) got.push_back(x.id);
    EXPECT_EQ(got, *t->Encode(s)) << s;
  }
}

TEST(WordPieceDecode, AsTheCrate) {
  auto t = Bert();
  const std::vector<int32_t> a = {101, 7592, 1010, 2088, 999, 2009, 1005, 1055, 1037, 3231, 1012, 102};
  EXPECT_EQ(*t->Decode(a), "hello, world! it ' s a test.");
  EXPECT_EQ(*t->Decode(a, false), "[CLS] hello, world! it ' s a test. [SEP]");
  const std::vector<int32_t> b = {101, 2123, 1005, 1056, 2644, 1024, 1045, 1005, 1049, 2182,
                                  1010, 2017, 1005, 2310, 2589, 2009, 1029, 102};
  EXPECT_EQ(*t->Decode(b), "don ' t stop : i ' m here, you ' ve done it?");
  const std::vector<int32_t> c = {101, 14477, 20961, 3468, 19204, 3989, 1001, 1001, 1060, 102};
  EXPECT_EQ(*t->Decode(c), "unaffable tokenization # # x");
  EXPECT_EQ(*t->Decode({101, 101, 1037, 102, 1038, 102}, false), "[CLS] [CLS] a [SEP] b [SEP]");
  EXPECT_EQ(*t->Decode({101, 101, 1037, 102, 1038, 102}), "a b");
  EXPECT_EQ(*t->Decode({101, 7668, 27260, 1746, 1861, 102}), "cafe unicode \xe4\xb8\xad \xe6\x96\x87");
}

}  // namespace
}  // namespace floe
