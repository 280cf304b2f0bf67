// The HTTP routes (http_routes.h); the transport is http_server.cc.
#include "serve/http_routes.h"

#include <atomic>
#include <nlohmann/json.hpp>

#include "core/log.h"
#include "serve/codec.h"
#include "serve/errors.h"
#include "serve/http_tei.h"
#include "serve/http_util.h"

namespace floe {

using json = nlohmann::json;
using http::AddTimingHeaders;
using http::Optional;
using http::ParseJsonObject;
using http::ParseTokenArray;

namespace {

HttpResponse Error(const Status& s) { return {ToHttpCode(s), OpenAIErrorBody(s)}; }

HttpResponse Json(std::string body) { return {200, std::move(body)}; }

template <typename Fn>
void Guarded(const HttpRespond& respond, Fn&& fn) {
  http::Guarded(respond, Error, std::forward<Fn>(fn));
}

// `input`: a string, an array of strings, an array of ints (one tokenized
// input), or an array of int arrays.
Status ParseInput(const json& in, EmbedSpec* spec) {
  if (in.is_string()) {
    spec->texts.push_back(in.get<std::string>());
    return OkStatus();
  }
  if (!in.is_array()) {
    return InvalidArgumentError(
        "'input' must be a string, an array of strings or an array of token-id arrays");
  }
  if (in.empty()) return InvalidArgumentError("'input' must not be empty");
  if (in[0].is_number_integer()) {
    spec->use_token_ids = true;
    spec->token_ids.emplace_back();
    return ParseTokenArray(in, 0, &spec->token_ids.back());
  }
  if (in[0].is_string()) {
    spec->texts.reserve(in.size());
    for (size_t i = 0; i < in.size(); ++i) {
      if (!in[i].is_string()) {
        return InvalidArgumentError("input[" + std::to_string(i) +
                                    "] must be a string like the other inputs");
      }
      spec->texts.push_back(in[i].get<std::string>());
    }
    return OkStatus();
  }
  if (in[0].is_array()) {
    spec->use_token_ids = true;
    spec->token_ids.resize(in.size());
    for (size_t i = 0; i < in.size(); ++i) {
      if (!in[i].is_array()) {
        return InvalidArgumentError(
            "input[" + std::to_string(i) +
            "] must be an array of token ids like the other inputs");
      }
      FLOE_RETURN_IF_ERROR(ParseTokenArray(in[i], i, &spec->token_ids[i]));
    }
    return OkStatus();
  }
  return InvalidArgumentError(
      "'input' must be a string, an array of strings or an array of token-id arrays");
}

std::string EmbeddingsResponse(const EmbedReply& r, bool base64,
                               const std::string& model) {
  std::string out;
  const size_t per = base64 ? r.dimension * 4 * 4 / 3 + 64 : r.dimension * 12 + 64;
  out.reserve(r.vectors.size() * per + 256);
  out += "{\"object\":\"list\",\"data\":[";
  for (size_t i = 0; i < r.vectors.size(); ++i) {
    if (i) out += ',';
    out += "{\"object\":\"embedding\",\"index\":";
    out += std::to_string(i);
    out += ",\"embedding\":";
    const auto& v = r.vectors[i];
    if (base64) {
      out += '"';
      AppendBase64(
          std::string_view(reinterpret_cast<const char*>(v.data()), v.size() * 4), &out);
      out += '"';
    } else {
      AppendJsonFloats(v, &out);
    }
    out += '}';
  }
  out += "],\"model\":";
  out += json(model).dump();
  out += ",\"usage\":{\"prompt_tokens\":";
  out += std::to_string(r.prompt_tokens);
  out += ",\"total_tokens\":";
  out += std::to_string(r.prompt_tokens);
  out += "}}";
  return out;
}

HttpResponse Health(Frontend* fe) {
  if (fe->ready()) return Json("{\"status\":\"ok\"}");
  return {503, fe->draining() ? "{\"status\":\"shutting down\"}"
                              : "{\"status\":\"no replica is ready\"}"};
}

HttpResponse Info(Frontend* fe) {
  const ModelInfo& info = fe->model_info();
  json j;
  j["model"] = fe->model_name();
  j["model_path"] = info.path;
  j["architecture"] = info.model_type;  // TEI's model_type is an object (AddTeiInfo)
  j["task"] = info.task;
  j["dimension"] = info.hidden_size;
  j["max_tokens"] = fe->max_input_tokens();
  j["pooling"] = info.pooling;
  j["normalize"] = info.normalize;
  j["prompt_names"] = info.prompt_names;
  j["dtype"] = info.dtype;
  j["weights_dtype"] = info.weights_dtype;
  j["device"] = info.device;
  j["max_batch_tokens"] = fe->options().engine.max_batch_tokens;
  j["max_client_batch_size"] = fe->options().max_client_batch_size;
  j["max_concurrent_requests"] = fe->options().max_concurrent_requests;
  json reps = json::array();
  for (const auto& st : fe->replicas().stats()) {
    reps.push_back({{"id", st.id},
                    {"state", ReplicaStateName(st.state)},
                    {"pid", st.pid},
                    {"device", st.device},
                    {"dtype", st.dtype},
                    {"queued_jobs", st.queued_jobs},
                    {"queued_tokens", st.queued_tokens},
                    {"requests_served", st.requests_served},
                    {"restarts", st.restarts}});
  }
  j["replicas"] = reps;
  AddTeiInfo(fe, &j);
  return Json(j.dump());
}

HttpResponse Models(Frontend* fe) {
  json m = {{"id", fe->model_name()}, {"object", "model"}, {"owned_by", "floe"}};
  return Json(json{{"object", "list"}, {"data", json::array({m})}}.dump());
}

void Tokenize(Frontend* fe, const HttpRequest& req, HttpRespond respond) {
  json body;
  if (Status s = ParseJsonObject(req.body, &body); !s.ok()) return respond(Error(s));
  std::vector<std::string> texts;
  auto it = body.find("input");
  if (it == body.end()) it = body.find("text");
  if (it != body.end() && it->is_string()) {
    texts.push_back(it->get<std::string>());
  } else if (it != body.end() && it->is_array()) {
    for (const auto& t : *it) {
      if (!t.is_string())
        return respond(Error(InvalidArgumentError("'input' must hold strings")));
      texts.push_back(t.get<std::string>());
    }
  } else {
    return respond(Error(
        InvalidArgumentError("'input' (a string or an array of strings) is required")));
  }
  EmbedParams params;
  std::string model;
  for (Status s : {Optional(body, "model", &model),
                   Optional(body, "prompt_name", &params.prompt_name),
                   Optional(body, "truncate", &params.truncate)}) {
    if (!s.ok()) return respond(Error(s));
  }
  fe->Tokenize(std::move(texts), params, model,
               [respond](StatusOr<std::vector<std::vector<int32_t>>> r) {
                 Guarded(respond, [&r] {
                   return r.ok() ? Json(json{{"tokens", *r}}.dump()) : Error(r.status());
                 });
               });
}

std::shared_ptr<EmbedJob> Embeddings(Frontend* fe, HttpRequest& req,
                                     HttpRespond respond) {
  json body;
  if (Status s = ParseJsonObject(req.body, &body); !s.ok())
    return respond(Error(s)), nullptr;
  const Clock::time_point start = Clock::now();
  EmbedSpec spec;
  auto in = body.find("input");
  if (in == body.end() || in->is_null()) {
    return respond(Error(InvalidArgumentError("'input' is required"))), nullptr;
  }
  if (Status s = ParseInput(*in, &spec); !s.ok()) return respond(Error(s)), nullptr;
  std::string encoding = "float";
  int dimensions = 0;
  bool has_dimensions = body.contains("dimensions") && !body["dimensions"].is_null();
  for (Status s : {Optional(body, "model", &spec.model),
                   Optional(body, "encoding_format", &encoding),
                   Optional(body, "dimensions", &dimensions),
                   Optional(body, "prompt_name", &spec.params.prompt_name),
                   Optional(body, "normalize", &spec.params.normalize),
                   Optional(body, "truncate", &spec.params.truncate),
                   Optional(body, "priority", &spec.priority)}) {
    if (!s.ok()) return respond(Error(s)), nullptr;
  }
  if (encoding != "float" && encoding != "base64") {
    return respond(Error(InvalidArgumentError("unknown encoding_format '" + encoding +
                                              "': use 'float' or 'base64'"))),
           nullptr;
  }
  if (has_dimensions && dimensions <= 0) {
    return respond(Error(InvalidArgumentError("dimensions must be positive, got " +
                                              std::to_string(dimensions)))),
           nullptr;
  }
  spec.params.dimensions = dimensions;
  if (!req.request_id.empty()) spec.request_id = std::move(req.request_id);
  const bool base64 = encoding == "base64";
  return fe->Embed(std::move(spec), [fe, base64, respond, start](StatusOr<EmbedReply> r) {
    Guarded(respond, [&] {
      if (!r.ok()) return Error(r.status());
      HttpResponse out = Json(EmbeddingsResponse(*r, base64, fe->model_name()));
      AddTimingHeaders(*r, start, &out);
      return out;
    });
  });
}

std::shared_ptr<EmbedJob> Route(Frontend* fe, HttpRequest& req,
                                const HttpRespond& respond) {
  const bool get = req.method == "GET" || req.method == "HEAD";
  if (get && req.path == "/health") return respond(Health(fe)), nullptr;
  const bool known =
      get ? (req.path == "/metrics" || req.path == "/info" || req.path == "/v1/models")
          : req.method == "POST" && (req.path == "/v1/embeddings" || req.path == "/tokenize" ||
                                     IsTeiPostRoute(req.path));
  if (!known) {
    return respond({404, OpenAIErrorBody("no route " + req.method + " " + req.path,
                                         "invalid_request_error", "invalid_request")}),
           nullptr;
  }
  if (Status s = fe->CheckApiKey(req.authorization); !s.ok()) {
    HttpResponse r = Error(s);
    r.www_authenticate = true;
    return respond(std::move(r)), nullptr;
  }
  if (req.path == "/metrics") {
    return respond({200, fe->metrics().Render(), "text/plain; version=0.0.4"}), nullptr;
  }
  if (req.path == "/info") return respond(Info(fe)), nullptr;
  if (req.path == "/v1/models") return respond(Models(fe)), nullptr;
  if (IsTeiPostRoute(req.path) || (req.path == "/tokenize" && IsTeiTokenize(req.body))) {
    return HandleTei(fe, req, respond);
  }
  if (req.path == "/tokenize") return Tokenize(fe, req, respond), nullptr;
  return Embeddings(fe, req, respond);
}

}  // namespace

std::shared_ptr<EmbedJob> HandleHttp(Frontend* fe, HttpRequest req, HttpRespond respond) {
  // An exception after the route answered must not answer a second time.
  auto answered = std::make_shared<std::atomic<bool>>(false);
  HttpRespond once = [answered, respond = std::move(respond)](HttpResponse r) {
    if (!answered->exchange(true)) respond(std::move(r));
  };
  try {
    return Route(fe, req, once);
  } catch (...) {
    once(Error(http::InternalFromException(std::current_exception())));
    return nullptr;
  }
}

HttpResponse HttpTransportError(const ServeOptions& options, int status,
                                const std::string& detail, std::string_view path) {
  std::string message = status == 413 ? "request body is larger than " +
                                            std::to_string(options.max_body_bytes) +
                                            " bytes (--max-body-bytes)"
                                      : "bad request" + (detail.empty() ? "" : ": " + detail);
  if (IsTeiPostRoute(path)) return TeiRouteError(path, status, message);
  return {status, OpenAIErrorBody(message, "invalid_request_error",
                                  status == 413 ? "payload_too_large" : "invalid_request")};
}

std::string HttpRouteLabel(std::string_view path) {
  for (const char* r :
       {"/v1/embeddings", "/health", "/metrics", "/info", "/tokenize", "/v1/models"}) {
    if (path == r) return r;
  }
  if (IsTeiPostRoute(path)) return std::string(path);
  return "other";
}

}  // namespace floe
