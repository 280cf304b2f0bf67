// TEI's /tokenize (the "inputs" form) and /decode (http_tei_util.h).
#include <algorithm>

#include "serve/http_tei_util.h"
#include "serve/http_util.h"

namespace floe::tei_http {

using json = nlohmann::json;
using http::Optional;

namespace {

// Reads a string or an array of strings.
Status ParseTexts(const json& in, const char* field, std::vector<std::string>* out) {
  if (in.is_string()) {
    out->push_back(in.get<std::string>());
    return OkStatus();
  }
  if (!in.is_array()) {
    return InvalidArgumentError(std::string("'") + field + "' must be a string or an array of strings");
  }
  for (const auto& t : in) {
    if (!t.is_string()) return InvalidArgumentError(std::string("'") + field + "' must hold strings");
    out->push_back(t.get<std::string>());
  }
  return OkStatus();
}

}  // namespace

void Tokenize(Frontend* fe, const json& body, const HttpRespond& respond) {
  std::vector<std::string> texts;
  bool add_special = true;
  std::string prompt_name;
  for (Status s : {ParseTexts(body["inputs"], "inputs", &texts),
                   Optional(body, "add_special_tokens", &add_special),
                   Optional(body, "prompt_name", &prompt_name)}) {
    if (!s.ok()) return respond(TeiError(s));
  }
  if (!prompt_name.empty()) {
    return respond(TeiError(422, "prompt_name is not supported on /tokenize (the tokens of the "
                                 "text alone are returned)"));
  }
  if (auto e = CheckCount(fe, texts.size(), "inputs")) return respond(*e);
  fe->Post([fe, texts = std::move(texts), add_special, respond] {
    http::Guarded(respond, TeiStatus, [&]() -> HttpResponse {
      json all = json::array();
      for (size_t i = 0; i < texts.size(); ++i) {
        auto spans = fe->embedder().TokenizeSpans(texts[i]);
        if (!spans.ok()) return TeiError(spans.status().WithPrefix("inputs[" + std::to_string(i) + "]"));
        json tokens = json::array();
        for (const TokenSpan& t : *spans) {
          const bool added = t.special && t.start == 0 && t.stop == 0;  // by the template
          if (added && !add_special) continue;
          if (t.special) {
            tokens.push_back({{"id", t.id}, {"text", t.text}, {"special", true},
                              {"start", nullptr}, {"stop", nullptr}});
          } else {
            const size_t stop = std::min(t.stop, texts[i].size());
            const size_t begin = std::min(t.start, stop);
            tokens.push_back({{"id", t.id}, {"text", texts[i].substr(begin, stop - begin)},
                              {"special", false}, {"start", t.start}, {"stop", t.stop}});
          }
        }
        all.push_back(std::move(tokens));
      }
      return HttpResponse{200, Dump(all)};
    });
  });
}

void Decode(Frontend* fe, const json& body, const HttpRespond& respond) {
  auto ids_field = body.find("ids");
  if (ids_field == body.end() || !ids_field->is_array()) {
    return respond(TeiError(422, "'ids' must be an array of token ids or of token-id arrays"));
  }
  std::vector<std::vector<int32_t>> ids;
  if (ids_field->empty() || !(*ids_field)[0].is_array()) {
    ids.emplace_back();
    if (Status s = http::ParseTokenArray(*ids_field, 0, &ids.back()); !s.ok()) return respond(TeiError(s));
  } else {
    for (size_t i = 0; i < ids_field->size(); ++i) {
      ids.emplace_back();
      if (!(*ids_field)[i].is_array()) return respond(TeiError(422, "ids[" + std::to_string(i) + "] must be an array"));
      if (Status s = http::ParseTokenArray((*ids_field)[i], i, &ids.back()); !s.ok()) return respond(TeiError(s));
    }
  }
  bool skip_special = true;
  if (Status s = Optional(body, "skip_special_tokens", &skip_special); !s.ok()) return respond(TeiError(s));
  if (auto e = CheckCount(fe, ids.size(), "ids")) return respond(*e);
  fe->Post([fe, ids = std::move(ids), skip_special, respond] {
    http::Guarded(respond, TeiStatus, [&]() -> HttpResponse {
      json out = json::array();
      for (size_t i = 0; i < ids.size(); ++i) {
        auto text = fe->embedder().Decode(ids[i], skip_special);
        if (!text.ok()) return TeiError(text.status().WithPrefix("ids[" + std::to_string(i) + "]"));
        out.push_back(*text);
      }
      return HttpResponse{200, Dump(out)};
    });
  });
}

}  // namespace floe::tei_http
