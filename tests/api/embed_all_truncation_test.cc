// Embedder::EmbedAll (per-token vectors) and left truncation (TEI's
// truncation_direction "Left") of single texts and of pairs, on the tiny BERT
// and XLM-R fixtures: the ids kept are the template's specials and each
// text's tail, built here from the untruncated encodings.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "floe/embedder.h"

namespace floe {
namespace {

const std::string kData = FLOE_TEST_DATA;

std::unique_ptr<Embedder> Open(const std::string& name) {
  auto e = Embedder::Open(kData + "/models/" + name);
  EXPECT_TRUE(e.ok()) << e.status().ToString();
  return e.ok() ? std::move(e).value() : nullptr;
}

std::string Repeat(const std::string& word, int n) {
  std::string s;
  for (int i = 0; i < n; ++i) s += word + " ";
  return s;
}

std::vector<int32_t> Ids(const Embedder& e, const std::string& text, bool truncate = true,
                         bool left = false) {
  EmbedParams p;
  p.truncate = truncate;
  p.truncate_left = left;
  auto r = e.Tokenize(text, p);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? *r : std::vector<int32_t>{};
}

TEST(EmbedAll, TokenRowsAreTheHiddenStatesThatPoolingUses) {
  auto e = Open("bert-tiny-mean-bf16");
  ASSERT_TRUE(e);
  ASSERT_EQ(e->info().pooling, "mean");
  const std::vector<EmbedInput> in = {{"hello world", {}}, {"a much longer second text here", {}}};
  auto all = e->EmbedAll(in);
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  ASSERT_EQ(all->size(), 2u);
  std::vector<EmbedInput> raw = in;
  for (auto& r : raw) r.params.normalize = false;
  auto pooled = e->Embed(raw);
  ASSERT_TRUE(pooled.ok()) << pooled.status().ToString();
  const int d = e->info().hidden_size;
  for (size_t i = 0; i < in.size(); ++i) {
    const TokenVectors& t = (*all)[i];
    EXPECT_EQ(t.tokens, static_cast<int>(Ids(*e, in[i].text).size()));
    EXPECT_EQ(t.dimension, d);
    ASSERT_EQ(t.values.size(), static_cast<size_t>(t.tokens) * d);
    for (int j = 0; j < d; ++j) {  // the mean of the rows is the mean-pooled vector
      double sum = 0;
      for (int k = 0; k < t.tokens; ++k) sum += t.values[k * d + j];
      EXPECT_NEAR(sum / t.tokens, (*pooled)[i][j], 1e-5) << "input " << i << " dim " << j;
    }
  }
  // The same ids give the same rows; a text alone the same as in a batch.
  auto one = e->EmbedAllTokens({Ids(*e, in[1].text)});
  ASSERT_TRUE(one.ok());
  ASSERT_EQ((*one)[0].values.size(), (*all)[1].values.size());
  for (size_t k = 0; k < (*one)[0].values.size(); ++k) {
    EXPECT_NEAR((*one)[0].values[k], (*all)[1].values[k], 1e-5);
  }
}

TEST(EmbedAll, AClassifierHasNoTokenVectors) {
  auto e = Open("rerank-bert-tiny");
  ASSERT_TRUE(e);
  auto r = e->EmbedAll({{"a", {}}});
  EXPECT_EQ(r.status().code(), StatusCode::kFailedPrecondition);
}

TEST(LeftTruncation, ASingleTextKeepsItsSpecialsAndItsTail) {
  for (const char* model : {"bert-tiny-cls", "xlmr-tiny"}) {
    SCOPED_TRACE(model);
    auto e = Open(model);
    ASSERT_TRUE(e);
    const size_t max = static_cast<size_t>(e->info().max_tokens);
    const std::string text = Repeat("dog", 700) + "apple banana split";
    // The template's specials: those of "".
    const std::vector<int32_t> empty = Ids(*e, "");
    ASSERT_EQ(empty.size(), 2u);
    const std::vector<int32_t> tail = Ids(*e, "apple banana split");
    const std::vector<int32_t> dog = Ids(*e, "dog");
    const std::vector<int32_t> left = Ids(*e, text, true, true);
    ASSERT_EQ(left.size(), max);
    EXPECT_EQ(left.front(), empty.front());
    EXPECT_EQ(left.back(), empty.back());
    // The content's end is "apple banana split", before it dogs.
    const size_t tail_content = tail.size() - 2;
    for (size_t k = 0; k < tail_content; ++k) {
      EXPECT_EQ(left[max - 1 - tail_content + k], tail[1 + k]);
    }
    const std::vector<int32_t> dog_pieces(dog.begin() + 1, dog.end() - 1);
    for (size_t k = 1; k + 1 + tail_content < max; ++k) {
      EXPECT_NE(std::find(dog_pieces.begin(), dog_pieces.end(), left[k]), dog_pieces.end()) << k;
    }
    // Right truncation keeps the start instead; short texts are not touched.
    const std::vector<int32_t> right = Ids(*e, text);
    EXPECT_EQ(right.size(), max);
    EXPECT_NE(right[max - 2], left[max - 2]);
    EXPECT_EQ(Ids(*e, "short", true, true), Ids(*e, "short"));
    // truncate false stays an error whichever side.
    EmbedParams strict;
    strict.truncate = false;
    strict.truncate_left = true;
    EXPECT_EQ(e->Tokenize(text, strict).status().code(), StatusCode::kInvalidArgument);
  }
}

TEST(LeftTruncation, APairKeepsEachTextsTailLongestFirst) {
  for (const char* model : {"rerank-bert-tiny", "rerank-xlmr-tiny"}) {
    SCOPED_TRACE(model);
    auto e = Open(model);
    ASSERT_TRUE(e);
    const size_t max = static_cast<size_t>(e->info().max_tokens);
    const std::string query = "what is a cat";
    const std::string doc = Repeat("dog", 700) + "cats purr";
    EmbedParams right, left;
    left.truncate_left = true;
    auto r = e->TokenizePair(query, doc, right);
    auto l = e->TokenizePair(query, doc, left);
    ASSERT_TRUE(r.ok() && l.ok()) << r.status().ToString() << l.status().ToString();
    ASSERT_EQ(l->ids.size(), max);
    ASSERT_EQ(r->ids.size(), max);
    // The short query is kept whole by both: the same prefix up to the document.
    const std::vector<int32_t> q = Ids(*e, query);
    const size_t prefix = q.size() - 1;  // [CLS]/<s> and the query's content
    for (size_t k = 0; k < prefix; ++k) EXPECT_EQ(l->ids[k], r->ids[k]) << k;
    EXPECT_EQ(l->type1_from, r->type1_from);
    // The document's end: "cats purr" then the template's last special.
    const std::vector<int32_t> tail = Ids(*e, "cats purr");
    const size_t tail_content = tail.size() - 2;
    for (size_t k = 0; k < tail_content; ++k) {
      EXPECT_EQ(l->ids[max - 1 - tail_content + k], tail[1 + k]) << k;
    }
    EXPECT_EQ(l->ids.back(), r->ids.back());
    EXPECT_NE(l->ids[max - 2], r->ids[max - 2]);
    // Both long: each keeps its own tail, halves of the room.
    auto both = e->TokenizePair(Repeat("cat", 700) + "end one", doc, left);
    ASSERT_TRUE(both.ok()) << both.status().ToString();
    EXPECT_EQ(both->ids.size(), max);
    auto scores = e->Classify({l->ids, both->ids}, {l->type1_from, both->type1_from});
    ASSERT_TRUE(scores.ok()) << scores.status().ToString();
    EXPECT_TRUE(std::isfinite((*scores)[0][0]) && std::isfinite((*scores)[1][0]));
  }
}

}  // namespace
}  // namespace floe
