// TEI's HTTP routes, with text-embeddings-inference's request and response
// shapes, status codes and error bodies {"error", "error_type"}: POST /embed,
// /embed_all, /rerank, /predict, /similarity, /tokenize (the TEI form, with
// "inputs"), /decode; GET /info's TEI fields. And Cohere's (and Jina's)
// POST /v1/rerank, also as /v2/rerank. Routing and the api-key check are
// http_routes.cc's; this file only answers.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string_view>

#include "serve/frontend.h"
#include "serve/http_routes.h"

namespace floe {

// True for the POST paths HandleTei answers (/tokenize is not one of them:
// see IsTeiTokenize).
bool IsTeiPostRoute(std::string_view path);

// True when a /tokenize body is TEI's form ("inputs"), not floe's ("input").
bool IsTeiTokenize(const std::string& body);

// Answers a POST to a TEI or Cohere route (or TEI's /tokenize). Returns the
// job when one was submitted, for Frontend::Cancel.
std::shared_ptr<EmbedJob> HandleTei(Frontend* fe, HttpRequest& req, const HttpRespond& respond);

// The error a TEI route (TEI's body) or Cohere's (its {"message"}) answers
// with `status`, for requests refused before routing (body too large).
HttpResponse TeiRouteError(std::string_view path, int status, const std::string& message);

// Adds TEI's /info fields (model_id, model_type {...}, max_input_length,
// ...) to `j`, which holds floe's.
void AddTeiInfo(Frontend* fe, nlohmann::json* j);

}  // namespace floe
