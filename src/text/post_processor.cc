#include "text/post_processor.h"

#include <algorithm>

namespace floe::text {

using nlohmann::json;

Status PostProcessor::ParseTemplate(const json& t, const json& specials,
                                    const std::string& name,
                                    const std::function<int32_t(const std::string&)>& lookup,
                                    std::vector<Piece>* out) {
  out->clear();
  for (const json& piece : t) {
    Piece p;
    if (piece.contains("Sequence")) {
      const std::string id = piece["Sequence"].at("id").get<std::string>();
      if (id != "A" && id != "B") {
        return InvalidArgumentError(name + ": template sequence '" + id + "' is not A or B");
      }
      p.sequence = id == "A" ? 0 : 1;
      p.type_id = piece["Sequence"].value("type_id", 0);
    } else if (piece.contains("SpecialToken")) {
      const std::string id = piece["SpecialToken"].at("id").get<std::string>();
      p.type_id = piece["SpecialToken"].value("type_id", 0);
      if (specials.is_object() && specials.contains(id)) {
        p.ids = specials[id].at("ids").get<std::vector<int32_t>>();
      } else {
        const int32_t v = lookup(id);
        if (v < 0) {
          return InvalidArgumentError(name + ": template special token '" + id +
                                      "' is unknown");
        }
        p.ids = {v};
      }
    } else {
      return InvalidArgumentError(name + ": unknown template piece " + piece.dump());
    }
    out->push_back(std::move(p));
  }
  return OkStatus();
}

StatusOr<PostProcessor> PostProcessor::Parse(
    const json& j, const std::string& name,
    const std::function<int32_t(const std::string&)>& lookup) {
  PostProcessor pp;
  const std::string outer =
      j.is_object() && j.contains("type") && j["type"].is_string() ? j["type"].get<std::string>()
                                                                    : "";
  auto trim_of = [](const json& p, PostProcessor* out) {
    out->trim_offsets_ = p.value("trim_offsets", true);
    out->trim_add_prefix_space_ = p.value("add_prefix_space", true);
  };
  if (outer == "ByteLevel") {  // offsets only
    FLOE_ASSIGN_OR_RETURN(pp, Parse(json(), name, lookup));
    trim_of(j, &pp);
    return pp;
  }
  if (outer == "Sequence") {
    // ByteLevel (offsets only) and at most one template-adding processor.
    // (Trimming is done before the template's specials, as the crate does
    // with ByteLevel first, the order converters write.)
    const json* adding = nullptr;
    const json* byte_level = nullptr;
    for (const json& p : j.at("processors")) {
      if (p.is_object() && p.value("type", std::string()) == "ByteLevel") {
        byte_level = &p;
        continue;
      }
      if (adding) {
        return UnimplementedError(name + ": a post_processor Sequence of two templates");
      }
      adding = &p;
    }
    FLOE_ASSIGN_OR_RETURN(pp, Parse(adding ? *adding : json(), name, lookup));
    if (byte_level) trim_of(*byte_level, &pp);
    return pp;
  }
  if (!j.is_null()) {
    const std::string type = outer;
    if (type == "RobertaProcessing" || type == "BertProcessing") {
      // {"cls": ["<s>", 0], "sep": ["</s>", 2]}
      const int32_t cls = j.at("cls").at(1).get<int32_t>();
      const int32_t sep = j.at("sep").at(1).get<int32_t>();
      pp.single_ = {{-1, {cls}}, {0, {}}, {-1, {sep}}};
      if (type == "RobertaProcessing") {
        trim_of(j, &pp);
        pp.pair_ = {{-1, {cls}}, {0, {}}, {-1, {sep, sep}}, {1, {}}, {-1, {sep}}};
      } else {
        pp.pair_ = {{-1, {cls}, 0}, {0, {}, 0}, {-1, {sep}, 0}, {1, {}, 1}, {-1, {sep}, 1}};
      }
    } else if (type == "TemplateProcessing") {
      const json& specials =
          j.contains("special_tokens") ? j["special_tokens"] : json::object();
      FLOE_RETURN_IF_ERROR(ParseTemplate(j.at("single"), specials, name, lookup, &pp.single_));
      if (j.contains("pair") && j["pair"].is_array()) {
        FLOE_RETURN_IF_ERROR(ParseTemplate(j["pair"], specials, name, lookup, &pp.pair_));
      } else {
        pp.has_pair_ = false;
      }
    } else {
      return UnimplementedError(name + ": post_processor '" + type +
                                "' is not supported (TemplateProcessing, RobertaProcessing, "
                                "BertProcessing)");
    }
  }
  auto check = [&](const std::vector<Piece>& t, int want, const char* what) -> Status {
    int seen = 0;
    for (const Piece& p : t) {
      if (p.sequence >= 0) seen |= 1 << p.sequence;
    }
    if (seen != want) {
      return InvalidArgumentError(name + ": the " + what + " template must hold " +
                                  (want == 1 ? "sequence A" : "sequences A and B") +
                                  " once each");
    }
    return OkStatus();
  };
  FLOE_RETURN_IF_ERROR(check(pp.single_, 1, "single"));
  if (pp.has_pair_) FLOE_RETURN_IF_ERROR(check(pp.pair_, 3, "pair"));
  bool type1 = false;
  for (const Piece& p : pp.pair_) {
    if (p.type_id != 0 && p.type_id != 1) {
      pp.pair_types_ = UnimplementedError(name + ": pair template type_id " +
                                          std::to_string(p.type_id) + " (only 0 and 1)");
    }
    if (type1 && p.type_id == 0 && (p.sequence >= 0 || !p.ids.empty())) {
      pp.pair_types_ = UnimplementedError(name + ": pair template goes back to type_id 0 after 1");
    }
    type1 = type1 || p.type_id == 1;
  }
  for (const Piece& p : pp.single_) pp.single_added_ += p.ids.size();
  for (const Piece& p : pp.pair_) pp.pair_added_ += p.ids.size();
  return pp;
}

void PostProcessor::Apply(const std::vector<int32_t>& a, const std::vector<int32_t>* b,
                          std::vector<int32_t>* out) const {
  for (const Piece& p : b ? pair_ : single_) {
    if (p.sequence < 0) {
      out->insert(out->end(), p.ids.begin(), p.ids.end());
    } else {
      const std::vector<int32_t>& s = p.sequence == 0 ? a : *b;
      out->insert(out->end(), s.begin(), s.end());
    }
  }
}

size_t PostProcessor::Type1From(size_t a_len, size_t b_len) const {
  size_t at = 0;
  for (const Piece& p : pair_) {
    const size_t n = p.sequence < 0 ? p.ids.size() : p.sequence == 0 ? a_len : b_len;
    if (p.type_id == 1 && n > 0) return at;
    at += n;
  }
  return at;
}

std::vector<int32_t> PostProcessor::SinglePrefix() const {
  std::vector<int32_t> out;
  for (const Piece& p : single_) {
    if (p.sequence >= 0) break;
    out.insert(out.end(), p.ids.begin(), p.ids.end());
  }
  return out;
}

std::vector<int32_t> PostProcessor::SingleSuffix() const {
  std::vector<int32_t> out;
  bool after = false;
  for (const Piece& p : single_) {
    if (after) out.insert(out.end(), p.ids.begin(), p.ids.end());
    after = after || p.sequence >= 0;
  }
  return out;
}

int32_t PostProcessor::first_special() const {
  for (const Piece& p : single_) {
    if (p.sequence >= 0) break;
    if (!p.ids.empty()) return p.ids.front();
  }
  return -1;
}

int32_t PostProcessor::last_special() const {
  for (auto it = single_.rbegin(); it != single_.rend(); ++it) {
    if (it->sequence >= 0) break;
    if (!it->ids.empty()) return it->ids.back();
  }
  return -1;
}

void TruncatePairLongestFirst(size_t max_length, std::vector<int32_t>* a,
                              std::vector<int32_t>* b) {
  if (a->size() + b->size() <= max_length) return;
  size_t n1 = a->size(), n2 = b->size();
  const bool swap = n1 > n2;
  if (swap) std::swap(n1, n2);
  n2 = n1 > max_length ? n1 : std::max(n1, max_length - n1);
  if (n1 + n2 > max_length) {
    n1 = max_length / 2;
    n2 = n1 + max_length % 2;
  }
  if (swap) std::swap(n1, n2);
  if (a->size() > n1) a->resize(n1);
  if (b->size() > n2) b->resize(n2);
}

Status CheckRoomForSpecials(size_t max_length, size_t added) {
  if (max_length > 0 && max_length < added) {
    return InvalidArgumentError("max_length " + std::to_string(max_length) +
                                " is less than the " + std::to_string(added) +
                                " special tokens the template adds");
  }
  return OkStatus();
}

}  // namespace floe::text
