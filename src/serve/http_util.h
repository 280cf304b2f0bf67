// Helpers the HTTP route files share (http_routes.cc: OpenAI and floe's own
// routes; http_tei.cc: TEI's and Cohere's): JSON field reading with errors
// that name the field, exception guards for callbacks, TEI's timing headers.
#pragma once

#include <cstdint>
#include <exception>
#include <nlohmann/json.hpp>
#include <string>
#include <type_traits>
#include <vector>

#include "serve/frontend.h"
#include "serve/http_routes.h"

namespace floe::http {

using json = nlohmann::json;

// Parses `body` into a JSON object; INVALID_ARGUMENT when it is not one.
Status ParseJsonObject(const std::string& body, json* out);

// Reads an optional field of `j` with a type check; errors name the field.
// Absent or null leaves *out as it is.
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

// An array of token ids (input `index`, for the error) into *out.
Status ParseTokenArray(const json& a, size_t index, std::vector<int32_t>* out);

// The message of an exception a route threw (logged).
Status InternalFromException(std::exception_ptr ep);

// Hands what `fn` returns to `respond`; an exception becomes `on_error` of
// an INTERNAL status (a callback on a tokenizer or replica thread must not
// throw).
template <typename Fn, typename OnError>
void Guarded(const HttpRespond& respond, OnError&& on_error, Fn&& fn) {
  HttpResponse r;
  try {
    r = fn();
  } catch (...) {
    r = on_error(InternalFromException(std::current_exception()));
  }
  respond(std::move(r));
}

// TEI's timing headers, whole milliseconds as TEI sends them (truncated):
// x-total-time from `start` to now, the others from the reply.
void AddTimingHeaders(const EmbedReply& r, Clock::time_point start, HttpResponse* out);

}  // namespace floe::http
