// What TEI's HTTP routes share (http_tei.cc, http_tei_tokenize.cc): TEI's
// error bodies and codes, and the batch-size check. Internal to src/serve.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "serve/frontend.h"
#include "serve/http_routes.h"

namespace floe::tei_http {

std::string Dump(const nlohmann::json& j);

// TEI's codes: 422 validation and tokenization, 413 an answer over the
// limits (OUT_OF_RANGE), 424 the backend (a model of the wrong kind
// included), 429 overloaded, 503 unhealthy; 400 "empty" and 413 (batch too
// large) are answered before a request reaches the frontend.
int TeiCode(const Status& s);
// TEI's body {"error", "error_type"}.
HttpResponse TeiError(int code, const std::string& message);
HttpResponse TeiError(const Status& s);
// The same, not overloaded (for function pointers).
HttpResponse TeiStatus(const Status& s);

// The answer to a request with no inputs (400) or more than
// --max-client-batch-size (413), in TEI's body or Cohere's; else none.
std::optional<HttpResponse> CheckCount(Frontend* fe, size_t n, const char* what,
                                       bool cohere = false);

// TEI's /tokenize (the "inputs" form) and /decode.
void Tokenize(Frontend* fe, const nlohmann::json& body, const HttpRespond& respond);
void Decode(Frontend* fe, const nlohmann::json& body, const HttpRespond& respond);

}  // namespace floe::tei_http
