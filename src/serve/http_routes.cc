// The HTTP routes (http_routes.h); the transport is http_server.cc.
#include "serve/http_routes.h"

#include <atomic>
#include <nlohmann/json.hpp>

#include "core/log.h"
#include "serve/codec.h"
#include "serve/errors.h"

namespace floe {

using json = nlohmann::json;

namespace {

HttpResponse Error(const Status& s) { return {ToHttpCode(s), OpenAIErrorBody(s)}; }

HttpResponse Json(std::string body) { return {200, std::move(body)}; }

// Reads an optional field of `j` with a type check; errors name the field.
template <typename T>
Status Optional(const json& j, const char* name, T* out) {
  auto it = j.find(name);
  if (it == j.end() || it->is_null()) return OkStatus();
  if constexpr (std::is_same_v<T, bool>) {
    if (!it->is_boolean())
      return InvalidArgumentError(std::string("'") + name + "' must be a boolean");
    *out = it->get<bool>();
  } else if constexpr (std::is_same_v<T, std::string>) {
    if (!it->is_string())
      return InvalidArgumentError(std::string("'") + name + "' must be a string");
    *out = it->get<std::string>();
  } else {
    if (!it->is_number_integer()) {
      return InvalidArgumentError(std::string("'") + name + "' must be an integer");
    }
    const int64_t v = it->get<int64_t>();
    if (v < INT32_MIN || v > INT32_MAX) {
      return InvalidArgumentError(std::string("'") + name + "' is out of range");
    }
    *out = static_cast<T>(v);
  }
  return OkStatus();
}

Status ParseTokenArray(const json& a, size_t index, std::vector<int32_t>* out) {
  out->reserve(a.size());
  for (const auto& v : a) {
    if (!v.is_number_integer()) {
      return InvalidArgumentError("input[" + std::to_string(index) +
                                  "] must hold integer token ids");
    }
    const int64_t id = v.get<int64_t>();
    if (id < 0 || id > INT32_MAX) {
      return InvalidArgumentError("input[" + std::to_string(index) + "] has token id " +
                                  std::to_string(id) + " outside the vocabulary");
    }
    out->push_back(static_cast<int32_t>(id));
  }
  return OkStatus();
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

Status ParseJsonObject(const std::string& body, json* out) {
  *out = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (out->is_discarded()) return InvalidArgumentError("request body is not valid JSON");
  if (!out->is_object())
    return InvalidArgumentError("request body must be a JSON object");
  return OkStatus();
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
  j["model_type"] = info.model_type;
  j["dimension"] = info.hidden_size;
  j["max_tokens"] = fe->max_input_tokens();
  j["pooling"] = info.pooling;
  j["normalize"] = info.normalize;
  j["prompt_names"] = info.prompt_names;
  j["dtype"] = info.dtype;
  j["weights_dtype"] = info.weights_dtype;
  j["device"] = info.device;
  j["max_batch_tokens"] = fe->options().max_batch_tokens;
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
  return Json(j.dump());
}

HttpResponse Models(Frontend* fe) {
  json m = {{"id", fe->model_name()}, {"object", "model"}, {"owned_by", "floe"}};
  return Json(json{{"object", "list"}, {"data", json::array({m})}}.dump());
}

// The 500 for an exception a route threw (logged).
HttpResponse InternalErrorResponse(std::exception_ptr ep) {
  std::string what = "internal error";
  try {
    std::rethrow_exception(ep);
  } catch (const std::exception& e) {
    what = std::string("internal error: ") + e.what();
  } catch (...) {
  }
  FLOE_LOG(kError) << "HTTP handler: " << what;
  return Error(InternalError(what));
}

// Hands what `fn` returns to `respond`; an exception becomes a 500 (a
// callback on a tokenizer or replica thread must not throw).
template <typename Fn>
void Guarded(const HttpRespond& respond, Fn&& fn) {
  HttpResponse r;
  try {
    r = fn();
  } catch (...) {
    r = InternalErrorResponse(std::current_exception());
  }
  respond(std::move(r));
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

// TEI's timing headers, whole milliseconds as TEI sends them (truncated):
// x-total-time from the parsed body to the response built, the others from
// the reply (Frontend's EmbedReply).
void AddTimingHeaders(const EmbedReply& r, Clock::time_point start, HttpResponse* out) {
  const auto ms = [](double s) { return std::to_string(static_cast<int64_t>(s * 1000.0)); };
  out->headers.push_back({"x-total-time",
                          ms(std::chrono::duration<double>(Clock::now() - start).count())});
  out->headers.push_back({"x-tokenization-time", ms(r.tokenize_s)});
  out->headers.push_back({"x-queue-time", ms(r.queue_s)});
  out->headers.push_back({"x-inference-time", ms(r.inference_s)});
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
          : req.method == "POST" &&
                (req.path == "/v1/embeddings" || req.path == "/tokenize");
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
    once(InternalErrorResponse(std::current_exception()));
    return nullptr;
  }
}

HttpResponse HttpTransportError(const ServeOptions& options, int status,
                                const std::string& detail) {
  if (status == 413) {
    return {413, OpenAIErrorBody("request body is larger than " +
                                     std::to_string(options.max_body_bytes) +
                                     " bytes (--max-body-bytes)",
                                 "invalid_request_error", "payload_too_large")};
  }
  std::string message = "bad request";
  if (!detail.empty()) message += ": " + detail;
  return {status, OpenAIErrorBody(message, "invalid_request_error", "invalid_request")};
}

std::string HttpRouteLabel(std::string_view path) {
  for (const char* r :
       {"/v1/embeddings", "/health", "/metrics", "/info", "/tokenize", "/v1/models"}) {
    if (path == r) return r;
  }
  return "other";
}

}  // namespace floe
