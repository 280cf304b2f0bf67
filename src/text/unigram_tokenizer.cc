#include "text/unigram_tokenizer.h"

#include <algorithm>
#include <functional>
#include <vector>

#include "text/added_tokens.h"
#include "text/alignment.h"
#include "text/bpe.h"
#include "text/byte_level.h"
#include "text/json_type.h"
#include "text/metaspace.h"
#include "text/normalizers.h"
#include "text/post_processor.h"
#include "text/unigram.h"
#include "text/utf8.h"

namespace floe::text {
namespace {

using nlohmann::json;

const json& Field(const json& j, const char* key) {
  static const json kNull;
  return j.contains(key) ? j[key] : kNull;
}

// One step of tokenizer.json's decoder, on the list of token strings.
struct DecodeStep {
  enum Kind { kMetaspace, kByteFallback, kFuse, kReplace, kStrip, kByteLevel } kind;
  MetaspaceOptions ms;
  std::string pattern, content;
  size_t start = 0, stop = 0;
};

Status ParseDecoder(const json& j, const std::string& name, std::vector<DecodeStep>* out) {
  if (j.is_null()) return OkStatus();
  const std::string type = JsonTypeName(j);
  DecodeStep s{};
  if (type == "Sequence") {
    for (const json& d : j.at("decoders")) FLOE_RETURN_IF_ERROR(ParseDecoder(d, name, out));
    return OkStatus();
  }
  if (type == "Metaspace") {
    s.kind = DecodeStep::kMetaspace;
    FLOE_ASSIGN_OR_RETURN(s.ms, ParseMetaspace(j, name));
  } else if (type == "ByteFallback") {
    s.kind = DecodeStep::kByteFallback;
  } else if (type == "Fuse") {
    s.kind = DecodeStep::kFuse;
  } else if (type == "ByteLevel") {
    s.kind = DecodeStep::kByteLevel;
  } else if (type == "Replace" && j.at("pattern").contains("String")) {
    s.kind = DecodeStep::kReplace;
    s.pattern = j["pattern"]["String"].get<std::string>();
    s.content = j.at("content").get<std::string>();
    if (s.pattern.empty()) return UnimplementedError(name + ": decoder Replace of ''");
  } else if (type == "Strip") {
    s.kind = DecodeStep::kStrip;
    s.content = j.at("content").get<std::string>();
    s.start = j.value("start", size_t{0});
    s.stop = j.value("stop", size_t{0});
  } else {
    return UnimplementedError(name + ": decoder '" + type + "' is not supported");
  }
  out->push_back(std::move(s));
  return OkStatus();
}

int HexByte(std::string_view t) {
  if (t.size() != 6 || t.substr(0, 3) != "<0x" || t[5] != '>') return -1;
  int v = 0;
  for (char c : t.substr(3, 2)) {
    v <<= 4;
    if (c >= '0' && c <= '9') v |= c - '0';
    else if (c >= 'A' && c <= 'F') v |= c - 'A' + 10;
    else if (c >= 'a' && c <= 'f') v |= c - 'a' + 10;
    else return -1;
  }
  return v;
}

void RunDecodeStep(const DecodeStep& s, std::vector<std::string>* tokens) {
  std::vector<std::string> out;
  switch (s.kind) {
    case DecodeStep::kMetaspace:
      for (size_t i = 0; i < tokens->size(); ++i) {
        std::string t;
        MetaspaceDecodeToken(s.ms, i, (*tokens)[i], &t);
        out.push_back(std::move(t));
      }
      break;
    case DecodeStep::kByteFallback: {
      std::string bytes;
      size_t count = 0;
      auto flush = [&] {
        if (count == 0) return;
        if (FindInvalidUtf8(bytes) == std::string::npos) {
          out.push_back(bytes);
        } else {
          for (size_t k = 0; k < count; ++k) out.emplace_back("\xEF\xBF\xBD");
        }
        bytes.clear();
        count = 0;
      };
      for (std::string& t : *tokens) {
        const int b = HexByte(t);
        if (b >= 0) {
          bytes.push_back(static_cast<char>(b));
          ++count;
        } else {
          flush();
          out.push_back(std::move(t));
        }
      }
      flush();
      break;
    }
    case DecodeStep::kByteLevel:
      out.push_back(ByteLevelDecode(*tokens));
      break;
    case DecodeStep::kFuse: {
      std::string all;
      for (const std::string& t : *tokens) all += t;
      out.push_back(std::move(all));
      break;
    }
    case DecodeStep::kReplace:
      for (const std::string& t : *tokens) {
        std::string r;
        size_t pos = 0;
        for (size_t hit; (hit = t.find(s.pattern, pos)) != std::string::npos;) {
          r.append(t, pos, hit - pos).append(s.content);
          pos = hit + s.pattern.size();
        }
        r.append(t, pos, std::string::npos);
        out.push_back(std::move(r));
      }
      break;
    case DecodeStep::kStrip:
      for (const std::string& t : *tokens) {
        std::string_view v(t);
        for (size_t k = 0; k < s.start && v.substr(0, s.content.size()) == s.content; ++k) {
          v.remove_prefix(s.content.size());
        }
        for (size_t k = 0; k < s.stop && v.size() >= s.content.size() &&
                           v.substr(v.size() - s.content.size()) == s.content;
             ++k) {
          v.remove_suffix(s.content.size());
        }
        out.emplace_back(v);
      }
      break;
  }
  tokens->swap(out);
}

class UnigramTokenizer final : public Tokenizer {
 public:
  UnigramTokenizer(const UnigramTokenizer&) = delete;
  UnigramTokenizer& operator=(const UnigramTokenizer&) = delete;
  UnigramTokenizer() = default;

  Status Init(const json& j, const std::string& name);
  Status InitUnigram(const nlohmann::json& m, const std::string& name);
  Status InitBpe(const nlohmann::json& m, const std::string& name);
  // Normalizer, pre-tokenizer, added tokens, post-processor and decoder.
  Status InitPipeline(const nlohmann::json& j, const std::string& name);

  StatusOr<std::vector<int32_t>> Encode(std::string_view text,
                                        size_t max_length) const override {
    std::vector<int32_t> a;
    FLOE_RETURN_IF_ERROR(EncodeSequence(text, &a));
    if (max_length > 0) {
      FLOE_RETURN_IF_ERROR(CheckRoomForSpecials(max_length, post_.added(false)));
      const size_t room = max_length - post_.added(false);
      if (a.size() > room) a.resize(room);
    }
    std::vector<int32_t> out;
    out.reserve(a.size() + post_.added(false));
    post_.Apply(a, nullptr, &out);
    return out;
  }

  StatusOr<std::vector<TokenOffset>> EncodeWithOffsets(std::string_view text,
                                                       size_t max_length) const override {
    std::vector<TokenOffset> a;
    FLOE_RETURN_IF_ERROR(EncodeSequenceSpans(text, &a));
    if (max_length > 0) {
      FLOE_RETURN_IF_ERROR(CheckRoomForSpecials(max_length, post_.added(false)));
      const size_t room = max_length - post_.added(false);
      if (a.size() > room) a.resize(room);
    }
    if (post_.trim_offsets()) {
      TrimByteLevelOffsets(text, post_.trim_add_prefix_space(),
                           [this](int32_t id) { return IdToToken(id); }, &a);
    }
    std::vector<TokenOffset> out;
    for (int32_t id : post_.SinglePrefix()) out.push_back({id, 0, 0, true});
    out.insert(out.end(), a.begin(), a.end());
    for (int32_t id : post_.SingleSuffix()) out.push_back({id, 0, 0, true});
    return out;
  }

  StatusOr<size_t> CountTokens(std::string_view text) const override {
    std::vector<int32_t> a;
    FLOE_RETURN_IF_ERROR(EncodeSequence(text, &a));
    return a.size() + post_.added(false);
  }

  StatusOr<std::vector<int32_t>> EncodePair(std::string_view a_text, std::string_view b_text,
                                            size_t max_length, size_t* type1_from) const override {
    if (!post_.has_pair_template()) {
      return FailedPreconditionError("the tokenizer's post_processor has no pair template");
    }
    FLOE_RETURN_IF_ERROR(post_.pair_types());
    std::vector<int32_t> a, b;
    FLOE_RETURN_IF_ERROR(EncodeSequence(a_text, &a));
    FLOE_RETURN_IF_ERROR(EncodeSequence(b_text, &b));
    if (max_length > 0) {
      FLOE_RETURN_IF_ERROR(CheckRoomForSpecials(max_length, post_.added(true)));
      TruncatePairLongestFirst(max_length - post_.added(true), &a, &b);
    }
    std::vector<int32_t> out;
    out.reserve(a.size() + b.size() + post_.added(true));
    post_.Apply(a, &b, &out);
    if (type1_from) *type1_from = post_.Type1From(a.size(), b.size());
    return out;
  }

  StatusOr<std::string> Decode(const std::vector<int32_t>& ids,
                               bool skip_special) const override;

  int32_t cls_id() const override { return cls_id_; }
  int32_t sep_id() const override { return sep_id_; }
  int32_t pad_id() const override { return pad_id_; }
  int32_t unk_id() const override { return bpe_ ? bpe_model_.unk_id() : model_.unk_id(); }
  size_t vocab_size() const override { return id_to_token_.size(); }
  std::string_view IdToToken(int32_t id) const override {
    if (id < 0 || static_cast<size_t>(id) >= id_to_token_.size()) return {};
    return id_to_token_[id];
  }
  size_t num_special_tokens() const override { return post_.added(false); }

 private:
  // Ids of one sequence, no specials.
  Status EncodeSequence(std::string_view text, std::vector<int32_t>* out) const;
  // EncodeSequence with the crate's byte offsets.
  Status EncodeSequenceSpans(std::string_view text, std::vector<TokenOffset>* out) const;
  int32_t Lookup(const std::string& token) const;

  NormalizerChain normalizer_;
  PreTokenizerChain pre_;
  UnigramModel model_;
  bool bpe_ = false;  // the model is bpe_model_, not model_
  BpeModel bpe_model_;
  size_t bpe_vocab_size_ = 0;             // entries of the BPE vocab
  std::vector<std::string> model_tokens_;  // the model's id -> token, until Init ends
  PostProcessor post_;
  std::vector<DecodeStep> decoder_;
  Status decoder_status_;
  bool has_decoder_ = false;
  std::vector<AddedToken> added_;
  std::vector<AddedToken> raw_added_;         // normalized=false
  std::vector<AddedToken> normalized_added_;  // normalized=true, content normalized
  AddedTokenMatcher raw_matcher_, normalized_matcher_;
  std::vector<std::string> id_to_token_;
  std::vector<bool> special_id_;
  int32_t cls_id_ = -1, sep_id_ = -1, pad_id_ = 0;
};

int32_t UnigramTokenizer::Lookup(const std::string& token) const {
  for (const AddedToken& t : added_) {
    if (t.content == token) return t.id;
  }
  return bpe_ ? bpe_model_.Find(token) : model_.Find(token);
}

Status UnigramTokenizer::Init(const json& j, const std::string& name) {
  const json& m = j.at("model");
  if (JsonTypeName(m) == "BPE") {
    FLOE_RETURN_IF_ERROR(InitBpe(m, name));
  } else {
    FLOE_RETURN_IF_ERROR(InitUnigram(m, name));
  }
  return InitPipeline(j, name);
}

Status UnigramTokenizer::InitUnigram(const json& m, const std::string& name) {
  if (!m.contains("vocab") || !m["vocab"].is_array()) {
    return InvalidArgumentError(name + ": Unigram model without a vocab array");
  }
  std::vector<std::pair<std::string, double>> vocab;
  vocab.reserve(m["vocab"].size());
  for (const json& e : m["vocab"]) {
    if (!e.is_array() || e.size() != 2 || !e[0].is_string() || !e[1].is_number()) {
      return InvalidArgumentError(name + ": Unigram vocab entry " + std::to_string(vocab.size()) +
                                  " is not [piece, score]");
    }
    vocab.emplace_back(e[0].get<std::string>(), e[1].get<double>());
  }
  const json& unk = Field(m, "unk_id");
  const int32_t unk_id = unk.is_number_integer() ? unk.get<int32_t>() : -1;
  auto model = UnigramModel::Build(std::move(vocab), unk_id, m.value("byte_fallback", false));
  if (!model.ok()) return model.status().WithPrefix(name);
  model_ = std::move(model).value();
  model_tokens_.resize(model_.size());
  for (size_t i = 0; i < model_.size(); ++i) {
    model_tokens_[i] = std::string(model_.Piece(static_cast<int32_t>(i)));
  }
  return OkStatus();
}

Status UnigramTokenizer::InitBpe(const json& m, const std::string& name) {
  if (!m.contains("vocab") || !m["vocab"].is_object()) {
    return InvalidArgumentError(name + ": BPE model without a vocab object");
  }
  if (!Field(m, "dropout").is_null()) {
    return UnimplementedError(name + ": BPE dropout is not supported (null only)");
  }
  BpeOptions o;
  o.vocab.reserve(m["vocab"].size());
  for (const auto& [token, id] : m["vocab"].items()) {
    if (!id.is_number_integer()) {
      return InvalidArgumentError(name + ": vocab id of '" + token + "' is not an integer");
    }
    o.vocab.emplace_back(token, id.get<int32_t>());
  }
  const json& merges = Field(m, "merges");
  if (!merges.is_null() && !merges.is_array()) {
    return InvalidArgumentError(name + ": BPE merges is not an array");
  }
  for (const json& e : merges.is_array() ? merges : json::array()) {
    if (e.is_string()) {  // "a b"
      const std::string v = e.get<std::string>();
      const size_t sp = v.find(' ');
      if (sp == std::string::npos || v.find(' ', sp + 1) != std::string::npos) {
        return InvalidArgumentError(name + ": BPE merge '" + v + "' is not two tokens");
      }
      o.merges.emplace_back(v.substr(0, sp), v.substr(sp + 1));
    } else if (e.is_array() && e.size() == 2 && e[0].is_string() && e[1].is_string()) {
      o.merges.emplace_back(e[0].get<std::string>(), e[1].get<std::string>());
    } else {
      return InvalidArgumentError(name + ": BPE merge " + e.dump() + " is not a pair");
    }
  }
  auto str = [&](const char* key) {
    const json& v = Field(m, key);
    return v.is_string() ? v.get<std::string>() : std::string();
  };
  o.unk_token = str("unk_token");
  o.continuing_subword_prefix = str("continuing_subword_prefix");
  o.end_of_word_suffix = str("end_of_word_suffix");
  auto flag = [&](const char* key) {
    const json& v = Field(m, key);
    return v.is_boolean() && v.get<bool>();
  };
  o.fuse_unk = flag("fuse_unk");
  o.byte_fallback = flag("byte_fallback");
  o.ignore_merges = flag("ignore_merges");
  auto model = BpeModel::Build(std::move(o));
  if (!model.ok()) return model.status().WithPrefix(name);
  bpe_model_ = std::move(model).value();
  bpe_ = true;
  bpe_vocab_size_ = m["vocab"].size();
  model_tokens_ = bpe_model_.tokens();
  return OkStatus();
}

Status UnigramTokenizer::InitPipeline(const json& j, const std::string& name) {
  FLOE_ASSIGN_OR_RETURN(normalizer_, NormalizerChain::Parse(Field(j, "normalizer"), name));
  FLOE_ASSIGN_OR_RETURN(pre_, PreTokenizerChain::Parse(Field(j, "pre_tokenizer"), name));
  if (j.contains("added_tokens") && j["added_tokens"].is_array()) {
    // Ids as the crate assigns them on load (the file's "id" is only checked
    // there): the vocabulary's id when the content is a piece, else the next
    // id past the vocabulary and the tokens added so far.
    int64_t next = static_cast<int64_t>(bpe_ ? bpe_vocab_size_ : model_.size());
    for (const json& t : j["added_tokens"]) {
      AddedToken a = ParseAddedToken(t);
      if (a.content.empty()) return InvalidArgumentError(name + ": empty added token");
      bool seen = false;
      for (const AddedToken& e : added_) seen = seen || e.content == a.content;
      if (seen) continue;
      const int32_t piece = bpe_ ? bpe_model_.Find(a.content) : model_.Find(a.content);
      a.id = piece >= 0 ? piece : static_cast<int32_t>(next++);
      added_.push_back(std::move(a));
    }
  }
  FLOE_ASSIGN_OR_RETURN(post_, PostProcessor::Parse(Field(j, "post_processor"), name,
                                                    [&](const std::string& t) {
                                                      return Lookup(t);
                                                    }));
  decoder_status_ = ParseDecoder(Field(j, "decoder"), name, &decoder_);
  has_decoder_ = !Field(j, "decoder").is_null();

  for (const AddedToken& t : added_) {
    if (!t.normalized) continue;
    AddedToken n = t;
    normalizer_.Apply(t.content, &n.content);
    if (!n.content.empty()) normalized_added_.push_back(std::move(n));
  }
  // The raw text is matched against the non-normalized ones only.
  for (const AddedToken& t : added_) {
    if (!t.normalized) raw_added_.push_back(t);
  }
  raw_matcher_.Build(raw_added_);
  normalized_matcher_.Build(normalized_added_);

  int32_t max_id = static_cast<int32_t>(model_tokens_.size()) - 1;
  for (const AddedToken& t : added_) max_id = std::max(max_id, t.id);
  id_to_token_ = std::move(model_tokens_);
  id_to_token_.resize(static_cast<size_t>(max_id) + 1);
  special_id_.assign(id_to_token_.size(), false);
  for (const AddedToken& t : added_) {
    id_to_token_[t.id] = t.content;
    if (t.special) special_id_[t.id] = true;
  }
  cls_id_ = post_.first_special() >= 0 ? post_.first_special() : Lookup("<s>");
  sep_id_ = post_.last_special() >= 0 ? post_.last_special() : Lookup("</s>");
  const json& pad = Field(j, "padding");
  if (pad.is_object() && pad.contains("pad_id") && pad["pad_id"].is_number_integer()) {
    pad_id_ = pad["pad_id"].get<int32_t>();
  } else {
    const int32_t p = Lookup("<pad>");
    pad_id_ = p >= 0 ? p : 0;
  }
  return OkStatus();
}

Status UnigramTokenizer::EncodeSequence(std::string_view text, std::vector<int32_t>* out) const {
  const size_t bad = FindInvalidUtf8(text);
  if (bad != std::string_view::npos) {
    return InvalidArgumentError("invalid UTF-8 at byte offset " + std::to_string(bad));
  }
  Status status;
  UnigramModel::Scratch scratch;
  std::vector<std::string> pre_scratch;
  std::string norm;
  const std::function<void(std::string_view)> on_split = [&](std::string_view s) {
    if (bpe_) {
      bpe_model_.Encode(s, out);
    } else if (status.ok()) {
      status = model_.Encode(s, scratch, out);
    }
  };
  auto on_token = [&](int32_t id, size_t, size_t) { out->push_back(id); };
  auto on_raw_piece = [&](std::string_view piece, size_t offset) {
    const bool first = normalizer_.Apply(piece, &norm) && offset == 0;
    if (normalized_matcher_.empty()) {
      pre_.Run(norm, first, on_split, &pre_scratch);
      return;
    }
    const std::string normalized = norm;
    normalized_matcher_.Split(
        std::string_view(normalized),
        [&](std::string_view p, size_t off) {
          pre_.Run(p, first && off == 0, on_split, &pre_scratch);
        },
        on_token);
  };
  raw_matcher_.Split(text, on_raw_piece, on_token);
  return status;
}

Status UnigramTokenizer::EncodeSequenceSpans(std::string_view text,
                                             std::vector<TokenOffset>* out) const {
  const size_t bad = FindInvalidUtf8(text);
  if (bad != std::string_view::npos) {
    return InvalidArgumentError("invalid UTF-8 at byte offset " + std::to_string(bad));
  }
  Status status;
  UnigramModel::Scratch scratch;
  std::vector<int32_t> ids;
  std::vector<std::pair<uint32_t, uint32_t>> spans;
  std::string norm;
  size_t base = 0;  // the raw piece's offset in text
  // One pre-tokenized split: its tokens' ranges through its alignments.
  const std::function<void(const AlignedText&)> on_split = [&](const AlignedText& t) {
    if (!status.ok()) return;
    ids.clear();
    spans.clear();
    if (bpe_) {
      bpe_model_.EncodeSpans(t.text, &ids, &spans);
    } else {
      status = model_.EncodeSpans(t.text, scratch, &ids, &spans);
    }
    for (size_t k = 0; status.ok() && k < ids.size(); ++k) {
      if (spans[k].second <= spans[k].first) {  // an empty unknown (no unk id)
        out->push_back({ids[k], base, base, false});
        continue;
      }
      const ByteSpan o = t.Original(spans[k].first, spans[k].second);
      out->push_back({ids[k], base + o.first, base + o.second, false});
    }
  };
  auto on_raw_token = [&](int32_t id, size_t start, size_t stop) {
    out->push_back({id, start, stop, false});
  };
  auto on_raw_piece = [&](std::string_view piece, size_t offset) {
    if (!status.ok()) return;
    const bool first = normalizer_.Apply(piece, &norm) && offset == 0;
    AlignedText t = AlignedText::FromOriginal(piece);
    status = normalizer_.ApplyAligned(&t);
    if (status.ok() && t.text != norm) status = InternalError("aligned normalization differs");
    if (!status.ok()) return;
    base = offset;
    if (normalized_matcher_.empty()) {
      pre_.RunAligned(std::move(t), first, on_split);
      return;
    }
    normalized_matcher_.Split(
        std::string_view(t.text),
        [&](std::string_view p, size_t off) {
          pre_.RunAligned(t.Sub(off, off + p.size()), first && off == 0, on_split);
        },
        [&](int32_t id, size_t s, size_t e) {
          const ByteSpan o = t.Original(s, e);
          out->push_back({id, offset + o.first, offset + o.second, false});
        });
  };
  raw_matcher_.Split(text, on_raw_piece, on_raw_token);
  return status;
}

StatusOr<std::string> UnigramTokenizer::Decode(const std::vector<int32_t>& ids,
                                               bool skip_special) const {
  FLOE_RETURN_IF_ERROR(decoder_status_);
  std::vector<std::string> tokens;
  tokens.reserve(ids.size());
  for (int32_t id : ids) {
    if (id < 0 || static_cast<size_t>(id) >= id_to_token_.size()) continue;
    if (skip_special && special_id_[id]) continue;
    tokens.push_back(id_to_token_[id]);
  }
  std::string text;
  if (!has_decoder_) {
    for (size_t i = 0; i < tokens.size(); ++i) {
      if (i) text += ' ';
      text += tokens[i];
    }
    return text;
  }
  for (const DecodeStep& s : decoder_) RunDecodeStep(s, &tokens);
  for (const std::string& t : tokens) text += t;
  return text;
}

}  // namespace

StatusOr<std::unique_ptr<Tokenizer>> UnigramTokenizerFromJson(const json& j,
                                                              const std::string& name) {
  auto tok = std::make_unique<UnigramTokenizer>();
  FLOE_RETURN_IF_ERROR(tok->Init(j, name));
  return std::unique_ptr<Tokenizer>(std::move(tok));
}

}  // namespace floe::text
