#include "serve/errors.h"

#include <nlohmann/json.hpp>

namespace floe {

int ToHttpCode(const Status& status) {
  switch (status.code()) {
    case StatusCode::kOk: return 200;
    case StatusCode::kInvalidArgument:
    case StatusCode::kOutOfRange:
    case StatusCode::kFailedPrecondition: return 400;
    case StatusCode::kUnauthenticated: return 401;
    case StatusCode::kNotFound: return 404;
    case StatusCode::kResourceExhausted: return 429;
    case StatusCode::kCancelled: return 499;
    case StatusCode::kUnimplemented: return 501;
    case StatusCode::kUnavailable: return 503;
    case StatusCode::kDeadlineExceeded: return 504;
    default: return 500;
  }
}

namespace {
std::string_view ErrorType(const Status& s) {
  switch (s.code()) {
    case StatusCode::kUnauthenticated: return "authentication_error";
    case StatusCode::kResourceExhausted: return "rate_limit_error";
    case StatusCode::kNotFound: return "not_found_error";
    case StatusCode::kInternal:
    case StatusCode::kUnavailable:
    case StatusCode::kDataLoss:
    case StatusCode::kDeadlineExceeded: return "server_error";
    default: return "invalid_request_error";
  }
}
}  // namespace

std::string OpenAIErrorBody(const std::string& message, std::string_view type,
                            std::string_view code) {
  nlohmann::json j;
  j["error"]["message"] = message;
  j["error"]["type"] = type;
  j["error"]["code"] = code;
  j["error"]["param"] = nullptr;
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string OpenAIErrorBody(const Status& status) {
  std::string code(StatusCodeName(status.code()));
  for (auto& c : code) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return OpenAIErrorBody(status.message(), ErrorType(status), code);
}

}  // namespace floe
