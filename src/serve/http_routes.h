// The HTTP routes, apart from the transport (http_server.cc): POST
// /v1/embeddings (OpenAI), GET /v1/models, GET /health, GET /metrics, GET /info,
// POST /tokenize, with the api-key check and OpenAI error bodies; TEI's and
// Cohere's routes answer in http_tei.cc. A route
// never blocks: its answer comes through a callback, inline or later from a
// tokenizer or replica thread.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "serve/frontend.h"

namespace floe {

struct HttpRequest {
  std::string method;  // "GET", "POST", ...
  std::string path;    // the target without its query string
  std::string body;
  std::string authorization;  // the Authorization header ("" = none)
  std::string request_id;     // X-Request-Id ("" = none)
};

struct HttpResponse {
  HttpResponse() = default;
  // `code` with `text` as the body, the rest defaulted (the routes' usual answer).
  HttpResponse(int code, std::string text) : status(code), body(std::move(text)) {}
  HttpResponse(int code, std::string text, std::string type)
      : status(code), body(std::move(text)), content_type(std::move(type)) {}

  int status = 200;
  std::string body;
  std::string content_type = "application/json";
  bool www_authenticate = false;  // 401: send "WWW-Authenticate: Bearer"
  std::vector<std::pair<std::string, std::string>> headers;  // more (name, value)
};

using HttpRespond = std::function<void(HttpResponse)>;

// Runs the route for `req`. `respond` runs exactly once, inline or from
// another thread. Returns the embedding job when one was submitted (else
// nullptr), for Frontend::Cancel when the client goes away.
std::shared_ptr<EmbedJob> HandleHttp(Frontend* frontend, HttpRequest req,
                                     HttpRespond respond);

// The answer to a request the transport refused before routing: 413 (body
// over --max-body-bytes) or 400 (malformed; `detail` says how).
// `path`: the request's, when known; TEI's and Cohere's routes get their
// own error bodies.
HttpResponse HttpTransportError(const ServeOptions& options, int status,
                                const std::string& detail, std::string_view path = {});

// The `route` label of floe_requests_total: the path when it is a route,
// else "other".
std::string HttpRouteLabel(std::string_view path);

}  // namespace floe
