#pragma once

#include <memory>

#include "client/transport.h"

namespace floe::client {
std::unique_ptr<Transport> MakeGrpcTransport(const ConnectOptions& options);
std::unique_ptr<Transport> MakeHttpTransport(const ConnectOptions& options);
}  // namespace floe::client
