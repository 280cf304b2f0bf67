// Status -> what each protocol says. Mapped once, here.
#pragma once

#include <string>

#include "core/grpc_status.h"  // ToGrpcCode, ToGrpcStatus: the one gRPC table
#include "core/status.h"

namespace floe {

// HTTP code for a failed request: 400 invalid input, 401, 404, 413, 429
// (too many concurrent requests), 499 cancelled, 503 unavailable, 504, 500.
int ToHttpCode(const Status& status);
// OpenAI's error body: {"error": {"message", "type", "code"}}.
std::string OpenAIErrorBody(const std::string& message, std::string_view type,
                            std::string_view code);
std::string OpenAIErrorBody(const Status& status);

}  // namespace floe
