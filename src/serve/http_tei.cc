// TEI's and Cohere's HTTP routes (http_tei.h). Shapes as TEI's router
// (router/src/http/types.rs) and Cohere's rerank API define them.
#include "serve/http_tei.h"

#include <cmath>
#include <optional>
#include <utility>

#include "serve/codec.h"
#include "serve/errors.h"
#include "serve/http_tei_util.h"
#include "serve/http_util.h"
#include "serve/scores.h"

namespace floe {

using json = nlohmann::json;
using http::Optional;

namespace tei_http {

std::string Dump(const json& j) {
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

// TEI's codes: 422 validation and tokenization, 424 the backend (a model of
// the wrong kind included), 429 overloaded, 503 unhealthy; 400 "empty" and
// 413 (batch too large) are answered before a request reaches the frontend.
int TeiCode(const Status& s) {
  switch (s.code()) {
    case StatusCode::kInvalidArgument: return 422;
    case StatusCode::kOutOfRange: return 413;  // an answer over the limits (per-token)
    case StatusCode::kFailedPrecondition:
    case StatusCode::kInternal:
    case StatusCode::kDataLoss: return 424;
    default: return ToHttpCode(s);
  }
}

const char* TeiErrorType(int code) {
  switch (code) {
    case 400: return "empty";
    case 422:
    case 413:
    case 401:
    case 404: return "validation";
    case 429: return "overloaded";
    case 503: return "unhealthy";
    default: return "backend";
  }
}

HttpResponse TeiError(int code, const std::string& message) {
  return {code, Dump(json{{"error", message}, {"error_type", TeiErrorType(code)}})};
}
HttpResponse TeiError(const Status& s) { return TeiError(TeiCode(s), s.message()); }
HttpResponse TeiStatus(const Status& s) { return TeiError(s); }

}  // namespace tei_http

namespace {

using namespace tei_http;  // NOLINT: this file's own helpers

// Cohere's error body: {"message"}.
HttpResponse CohereError(int code, const std::string& message) {
  return {code, Dump(json{{"message", message}})};
}
HttpResponse CohereError(const Status& s) { return CohereError(TeiCode(s), s.message()); }
HttpResponse CohereStatus(const Status& s) { return CohereError(s); }

using ErrorFn = HttpResponse (*)(const Status&);

}  // namespace

namespace tei_http {

std::optional<HttpResponse> CheckCount(Frontend* fe, size_t n, const char* what, bool cohere) {
  auto refuse = cohere ? static_cast<HttpResponse (*)(int, const std::string&)>(CohereError)
                       : static_cast<HttpResponse (*)(int, const std::string&)>(TeiError);
  if (n == 0) return refuse(400, std::string("`") + what + "` cannot be empty");
  const size_t max = static_cast<size_t>(fe->options().max_client_batch_size);
  if (n > max) {
    return refuse(413, "batch size " + std::to_string(n) + " > maximum allowed batch size " +
                           std::to_string(max) + " (--max-client-batch-size)");
  }
  return std::nullopt;
}

}  // namespace tei_http

namespace {

// truncate and truncation_direction ("right" | "left", either case).
Status ParseTruncation(const json& j, EmbedSpec* spec) {
  FLOE_RETURN_IF_ERROR(Optional(j, "truncate", &spec->params.truncate));
  std::string dir = "right";
  FLOE_RETURN_IF_ERROR(Optional(j, "truncation_direction", &dir));
  if (dir == "left" || dir == "Left") {
    spec->params.truncate_left = true;
  } else if (dir != "right" && dir != "Right") {
    return InvalidArgumentError("truncation_direction must be 'right' or 'left', got " +
                                Quoted(dir));
  }
  return OkStatus();
}

// TEI's `inputs` of /embed: a string, token ids, or a batch of strings or of
// token-id arrays (one kind per request here).
Status ParseEmbedInputs(const json& in, EmbedSpec* spec) {
  if (in.is_string()) {
    spec->texts.push_back(in.get<std::string>());
    return OkStatus();
  }
  if (!in.is_array()) {
    return InvalidArgumentError("'inputs' must be a string, an array of strings, token ids or "
                                "an array of token-id arrays");
  }
  if (in.empty()) return OkStatus();  // CheckCount answers 400 "empty"
  if (in[0].is_number_integer()) {
    spec->use_token_ids = true;
    spec->token_ids.emplace_back();
    return http::ParseTokenArray(in, 0, &spec->token_ids.back());
  }
  const bool ids = in[0].is_array();
  for (size_t i = 0; i < in.size(); ++i) {
    if (ids && in[i].is_array()) {
      spec->token_ids.emplace_back();
      FLOE_RETURN_IF_ERROR(http::ParseTokenArray(in[i], i, &spec->token_ids.back()));
    } else if (!ids && in[i].is_string()) {
      spec->texts.push_back(in[i].get<std::string>());
    } else {
      return InvalidArgumentError("inputs[" + std::to_string(i) + "] must be " +
                                  (ids ? "an array of token ids" : "a string") +
                                  " like inputs[0] (one kind of input per request)");
    }
  }
  spec->use_token_ids = ids;
  return OkStatus();
}

// huggingface_hub's InferenceClient sends options in "parameters"; TEI's
// clients send them at the top level, which wins.
json WithParameters(const json& body) {
  auto p = body.find("parameters");
  if (p == body.end() || !p->is_object()) return body;
  json merged = *p;
  for (auto it = body.begin(); it != body.end(); ++it) merged[it.key()] = it.value();
  return merged;
}

std::string Matrix(const std::vector<std::vector<float>>& rows) {
  std::string out = "[";
  for (size_t i = 0; i < rows.size(); ++i) {
    if (i) out += ',';
    AppendJsonFloats(rows[i], &out);
  }
  out += ']';
  return out;
}

HttpResponse Ok(std::string body, const EmbedReply& r, Clock::time_point start) {
  HttpResponse out{200, std::move(body)};
  http::AddTimingHeaders(r, start, &out);
  out.headers.push_back({"x-compute-tokens", std::to_string(r.prompt_tokens)});
  return out;
}

// The callback of a frontend call: `build` makes the answer of a reply;
// errors go through `error`.
template <typename Build>
EmbedDone Answer(HttpRespond respond, ErrorFn error, Build build) {
  return [respond = std::move(respond), error, build = std::move(build)](StatusOr<EmbedReply> r) {
    http::Guarded(respond, error, [&]() -> HttpResponse {
      if (!r.ok()) return error(r.status());
      return build(*r);
    });
  };
}

// Input i's token matrix as TEI's /embed_all writes it: one array per token.
void AppendTokenRows(const std::vector<float>& m, int dim, std::string* out) {
  const size_t d = static_cast<size_t>(dim);
  out->push_back('[');
  std::vector<float> row;
  for (size_t t = 0; d > 0 && t < m.size() / d; ++t) {
    if (t) out->push_back(',');
    row.assign(m.begin() + static_cast<ptrdiff_t>(t * d),
               m.begin() + static_cast<ptrdiff_t>((t + 1) * d));
    AppendJsonFloats(row, out);
  }
  out->push_back(']');
}

// /embed, and with `all` /embed_all (every token's vector: TEI's request has
// no normalize or dimensions there, so they are not read).
std::shared_ptr<EmbedJob> Embed(Frontend* fe, HttpRequest& req, const json& raw_body,
                                const HttpRespond& respond, bool all = false) {
  const auto start = Clock::now();
  const json body = WithParameters(raw_body);
  EmbedSpec spec;
  auto in = body.find("inputs");
  if (in == body.end() || in->is_null()) return respond(TeiError(422, "'inputs' is required")), nullptr;
  if (Status s = ParseEmbedInputs(*in, &spec); !s.ok()) return respond(TeiError(s)), nullptr;
  const size_t n = spec.use_token_ids ? spec.token_ids.size() : spec.texts.size();
  if (auto e = CheckCount(fe, n, "inputs")) return respond(*e), nullptr;
  int dimensions = 0;
  for (Status s : {all ? OkStatus() : Optional(body, "normalize", &spec.params.normalize),
                   Optional(body, "prompt_name", &spec.params.prompt_name),
                   all ? OkStatus() : Optional(body, "dimensions", &dimensions),
                   ParseTruncation(body, &spec)}) {
    if (!s.ok()) return respond(TeiError(s)), nullptr;
  }
  if (all) {
    spec.per_token = true;
    spec.request_id = req.request_id;
    return fe->Embed(std::move(spec), Answer(respond, TeiStatus, [start](const EmbedReply& r) {
                       std::string out = "[";
                       for (size_t i = 0; i < r.vectors.size(); ++i) {
                         if (i) out += ',';
                         AppendTokenRows(r.vectors[i], r.dimension, &out);
                       }
                       out += ']';
                       return Ok(std::move(out), r, start);
                     }));
  }
  if (body.contains("dimensions") && !body["dimensions"].is_null() && dimensions <= 0) {
    return respond(TeiError(422, "dimensions must be positive, got " + std::to_string(dimensions))),
           nullptr;
  }
  spec.params.dimensions = dimensions;
  spec.request_id = req.request_id;
  return fe->Embed(std::move(spec), Answer(respond, TeiStatus, [start](const EmbedReply& r) {
                     return Ok(Matrix(r.vectors), r, start);
                   }));
}

std::shared_ptr<EmbedJob> Similarity(Frontend* fe, HttpRequest& req, const json& body,
                                     const HttpRespond& respond) {
  const auto start = Clock::now();
  auto in = body.find("inputs");
  if (in == body.end() || !in->is_object()) {
    return respond(TeiError(422, "'inputs' must be an object with 'source_sentence' and "
                                 "'sentences'")),
           nullptr;
  }
  EmbedSpec spec;
  std::string source;
  if (Status s = Optional(*in, "source_sentence", &source); !s.ok()) return respond(TeiError(s)), nullptr;
  if (!in->contains("source_sentence")) {
    return respond(TeiError(422, "'inputs.source_sentence' is required")), nullptr;
  }
  auto sentences = in->find("sentences");
  if (sentences == in->end() || !sentences->is_array()) {
    return respond(TeiError(422, "'inputs.sentences' must be an array of strings")), nullptr;
  }
  if (sentences->empty()) return respond(*CheckCount(fe, 0, "sentences")), nullptr;
  if (auto e = CheckCount(fe, sentences->size() + 1, "sentences")) return respond(*e), nullptr;
  spec.texts.push_back(std::move(source));
  for (const auto& t : *sentences) {
    if (!t.is_string()) return respond(TeiError(422, "'inputs.sentences' must hold strings")), nullptr;
    spec.texts.push_back(t.get<std::string>());
  }
  if (auto p = body.find("parameters"); p != body.end() && !p->is_null()) {
    if (!p->is_object()) return respond(TeiError(422, "'parameters' must be an object")), nullptr;
    for (Status s : {Optional(*p, "prompt_name", &spec.params.prompt_name),
                     ParseTruncation(*p, &spec)}) {
      if (!s.ok()) return respond(TeiError(s)), nullptr;
    }
  }
  spec.request_id = req.request_id;
  return fe->Embed(std::move(spec), Answer(respond, TeiStatus, [start](const EmbedReply& r) {
                     std::vector<float> sims;
                     for (size_t i = 1; i < r.vectors.size(); ++i) {
                       sims.push_back(Cosine(r.vectors[0], r.vectors[i]));
                     }
                     std::string out;
                     AppendJsonFloats(sims, &out);
                     return Ok(std::move(out), r, start);
                   }));
}

// One score per text, from a reranker's logits; nullopt for a NaN.
std::optional<std::vector<float>> RerankScores(const EmbedReply& r, bool raw) {
  std::vector<float> scores;
  for (const auto& logits : r.vectors) {
    if (logits.size() != 1 || std::isnan(logits[0])) return std::nullopt;
    scores.push_back(ScoresFromLogits(logits, raw)[0]);
  }
  return scores;
}

// Reads `texts` (TEI) or `documents` (Cohere: strings or {"text"}).
Status ParseDocuments(const json& body, const char* field, std::vector<std::string>* out) {
  auto it = body.find(field);
  if (it == body.end() || !it->is_array()) {
    return InvalidArgumentError(std::string("'") + field + "' must be an array of strings");
  }
  for (size_t i = 0; i < it->size(); ++i) {
    const json& d = (*it)[i];
    if (d.is_string()) {
      out->push_back(d.get<std::string>());
    } else if (d.is_object() && d.contains("text") && d["text"].is_string()) {
      out->push_back(d["text"].get<std::string>());
    } else {
      return InvalidArgumentError(std::string(field) + "[" + std::to_string(i) +
                                  "] must be a string" +
                                  (std::string(field) == "documents" ? " or {\"text\": ...}" : ""));
    }
  }
  return OkStatus();
}

// TEI's /rerank and Cohere's: query + texts -> pairs. Checks what both share.
std::shared_ptr<EmbedJob> StartRerank(Frontend* fe, HttpRequest& req, const json& body,
                                      const char* texts_field, ErrorFn error,
                                      const HttpRespond& respond, EmbedSpec* spec,
                                      EmbedDone done) {
  std::string query;
  if (Status s = Optional(body, "query", &query); !s.ok()) return respond(error(s)), nullptr;
  if (!body.contains("query")) {
    return respond(error(InvalidArgumentError("'query' (a string) is required"))), nullptr;
  }
  if (Status s = ParseDocuments(body, texts_field, &spec->texts); !s.ok()) {
    return respond(error(s)), nullptr;
  }
  if (auto e = CheckCount(fe, spec->texts.size(), texts_field, error != TeiStatus)) {
    return respond(*e), nullptr;
  }
  if (Status s = ParseTruncation(body, spec); !s.ok()) return respond(error(s)), nullptr;
  spec->request_id = req.request_id;
  return fe->Rerank(std::move(query), std::move(*spec), std::move(done));
}

std::shared_ptr<EmbedJob> Rerank(Frontend* fe, HttpRequest& req, const json& body,
                                 const HttpRespond& respond) {
  const auto start = Clock::now();
  bool raw = false, return_text = false;
  for (Status s : {Optional(body, "raw_scores", &raw), Optional(body, "return_text", &return_text)}) {
    if (!s.ok()) return respond(TeiError(s)), nullptr;
  }
  EmbedSpec spec;
  auto texts = std::make_shared<std::vector<std::string>>();
  // A bad "texts" is StartRerank's error to answer (it parses them again).
  if (return_text) (void)ParseDocuments(body, "texts", texts.get());
  return StartRerank(
      fe, req, body, "texts", TeiStatus, respond, &spec,
      Answer(respond, TeiStatus, [start, raw, texts](const EmbedReply& r) {
        auto scores = RerankScores(r, raw);
        if (!scores) return TeiError(424, "score is NaN");
        json out = json::array();
        for (size_t i : RankByScore(*scores)) {
          json rank = {{"index", i}, {"score", (*scores)[i]}};
          if (!texts->empty()) rank["text"] = (*texts)[i];
          out.push_back(std::move(rank));
        }
        return Ok(Dump(out), r, start);
      }));
}

// Cohere's (and Jina's) rerank: model, query, documents, top_n,
// return_documents; relevance_score is the sigmoid of the logit.
std::shared_ptr<EmbedJob> CohereRerank(Frontend* fe, HttpRequest& req, const json& body,
                                       const HttpRespond& respond, const char* version) {
  int top_n = 0;
  bool return_documents = false;
  EmbedSpec spec;
  for (Status s : {Optional(body, "top_n", &top_n),
                   Optional(body, "return_documents", &return_documents),
                   Optional(body, "model", &spec.model)}) {
    if (!s.ok()) return respond(CohereError(s)), nullptr;
  }
  if (body.contains("top_n") && !body["top_n"].is_null() && top_n <= 0) {
    return respond(CohereError(InvalidArgumentError("top_n must be positive, got " +
                                                    std::to_string(top_n)))),
           nullptr;
  }
  auto docs = std::make_shared<std::vector<std::string>>();
  if (return_documents) (void)ParseDocuments(body, "documents", docs.get());
  std::string id = req.request_id;
  return StartRerank(
      fe, req, body, "documents", CohereStatus, respond, &spec,
      Answer(respond, CohereStatus, [top_n, docs, id, version](const EmbedReply& r) {
        auto scores = RerankScores(r, /*raw=*/false);
        if (!scores) return CohereError(InternalError("score is NaN"));
        json results = json::array();
        for (size_t i : RankByScore(*scores)) {
          if (top_n > 0 && results.size() >= static_cast<size_t>(top_n)) break;
          json one = {{"index", i}, {"relevance_score", (*scores)[i]}};
          if (!docs->empty()) one["document"] = {{"text", (*docs)[i]}};
          results.push_back(std::move(one));
        }
        json out = {{"id", id.empty() ? r.request_id : id},
                    {"results", std::move(results)},
                    {"meta", {{"api_version", {{"version", version}}},
                              {"billed_units", {{"search_units", 1}}}}}};
        return HttpResponse{200, Dump(out)};
      }));
}

// TEI's /predict `inputs`: a string, a pair [a, b], or a batch of [a] and
// [a, b] (singles and pairs in separate requests here).
Status ParsePredictInputs(const json& in, bool* batch, EmbedSpec* spec) {
  const char* shape =
      "'inputs' must be a string, a pair of strings [string, string] or a batch "
      "[[string], [string, string], ...]";
  auto sequence = [&](const json& seq, size_t i) -> Status {
    if (!seq.is_array() || seq.empty() || seq.size() > 2 || !seq[0].is_string() ||
        (seq.size() == 2 && !seq[1].is_string())) {
      return InvalidArgumentError(std::string(shape) + "; inputs[" + std::to_string(i) +
                                  "] is not");
    }
    spec->texts.push_back(seq[0].get<std::string>());
    if (seq.size() == 2) spec->pair_texts.push_back(seq[1].get<std::string>());
    return OkStatus();
  };
  *batch = false;
  if (in.is_string()) {
    spec->texts.push_back(in.get<std::string>());
    return OkStatus();
  }
  if (!in.is_array()) return InvalidArgumentError(shape);
  if (in.empty()) return OkStatus();  // CheckCount answers 400 "empty"
  if (in[0].is_string()) return sequence(in, 0);
  *batch = true;
  for (size_t i = 0; i < in.size(); ++i) FLOE_RETURN_IF_ERROR(sequence(in[i], i));
  if (!spec->pair_texts.empty() && spec->pair_texts.size() != spec->texts.size()) {
    return InvalidArgumentError(
        "a batch of 'inputs' must be all single texts or all pairs; send the others in "
        "another request");
  }
  return OkStatus();
}

std::shared_ptr<EmbedJob> Predict(Frontend* fe, HttpRequest& req, const json& raw_body,
                                  const HttpRespond& respond) {
  const auto start = Clock::now();
  const json body = WithParameters(raw_body);
  EmbedSpec spec;
  bool batch = false, raw = false;
  int top_k = 0;  // huggingface_hub's text_classification: top_k, function_to_apply
  std::string function = "";
  auto in = body.find("inputs");
  if (in == body.end() || in->is_null()) return respond(TeiError(422, "'inputs' is required")), nullptr;
  for (Status s : {ParsePredictInputs(*in, &batch, &spec), Optional(body, "raw_scores", &raw),
                   Optional(body, "top_k", &top_k), Optional(body, "function_to_apply", &function),
                   ParseTruncation(body, &spec)}) {
    if (!s.ok()) return respond(TeiError(s)), nullptr;
  }
  if (function == "none") raw = true;
  if (auto e = CheckCount(fe, spec.texts.size(), "inputs")) return respond(*e), nullptr;
  spec.request_id = req.request_id;
  std::vector<std::string> labels = fe->model_info().labels;
  return fe->Classify(
      std::move(spec), Answer(respond, TeiStatus, [start, batch, raw, top_k, labels](const EmbedReply& r) {
        json all = json::array();
        for (const auto& logits : r.vectors) {
          for (float v : logits) {
            if (std::isnan(v)) return TeiError(424, "score is NaN");
          }
          const std::vector<float> scores = ScoresFromLogits(logits, raw);
          json preds = json::array();
          for (size_t k : RankByScore(scores)) {
            if (top_k > 0 && preds.size() >= static_cast<size_t>(top_k)) break;
            preds.push_back({{"score", scores[k]},
                             {"label", k < labels.size() ? labels[k] : "LABEL_" + std::to_string(k)}});
          }
          all.push_back(std::move(preds));
        }
        return Ok(Dump(batch ? all : all[0]), r, start);
      }));
}

}  // namespace

bool IsTeiPostRoute(std::string_view path) {
  for (const char* r : {"/", "/embed", "/embed_all", "/rerank", "/predict", "/similarity", "/decode",
                        "/v1/rerank", "/v2/rerank"}) {
    if (path == r) return true;
  }
  return false;
}

HttpResponse TeiRouteError(std::string_view path, int status, const std::string& message) {
  return path == "/v1/rerank" || path == "/v2/rerank" ? CohereError(status, message)
                                                      : TeiError(status, message);
}

bool IsTeiTokenize(const std::string& body) {
  json j;
  return http::ParseJsonObject(body, &j).ok() && j.contains("inputs");
}

std::shared_ptr<EmbedJob> HandleTei(Frontend* fe, HttpRequest& req, const HttpRespond& respond) {
  const bool cohere = req.path == "/v1/rerank" || req.path == "/v2/rerank";
  json body;
  if (Status s = http::ParseJsonObject(req.body, &body); !s.ok()) {
    return respond(cohere ? CohereError(s) : TeiError(s)), nullptr;
  }
  if (cohere) return CohereRerank(fe, req, body, respond, req.path == "/v1/rerank" ? "1" : "2");
  if (req.path == "/") {
    // As TEI: the model's own route (huggingface_hub's InferenceClient posts to
    // the URL it is given). By the body's shape: similarity's inputs are an
    // object, rerank has a query.
    const ModelInfo& info = fe->model_info();
    const bool object_inputs = body.contains("inputs") && body["inputs"].is_object();
    if (info.task != "classify") {
      return object_inputs ? Similarity(fe, req, body, respond) : Embed(fe, req, body, respond);
    }
    return body.contains("query") ? Rerank(fe, req, body, respond)
                                  : Predict(fe, req, body, respond);
  }
  if (req.path == "/embed") return Embed(fe, req, body, respond);
  if (req.path == "/similarity") return Similarity(fe, req, body, respond);
  if (req.path == "/rerank") return Rerank(fe, req, body, respond);
  if (req.path == "/predict") return Predict(fe, req, body, respond);
  if (req.path == "/tokenize") return tei_http::Tokenize(fe, body, respond), nullptr;
  if (req.path == "/decode") return tei_http::Decode(fe, body, respond), nullptr;
  return Embed(fe, req, body, respond, /*all=*/true);  // /embed_all
}

}  // namespace floe
