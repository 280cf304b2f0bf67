#include "client/transport.h"

#include <future>

#include "client/grpc_transport.h"

namespace floe::client {

StatusOr<EmbedResult> Transport::Embed(const std::vector<std::string>& texts) {
  std::promise<StatusOr<EmbedResult>> p;
  auto f = p.get_future();
  EmbedAsync(&texts, [&p](StatusOr<EmbedResult> r) { p.set_value(std::move(r)); });
  return f.get();
}

StatusOr<std::unique_ptr<Transport>> Connect(const ConnectOptions& options) {
  if (options.address.empty() || options.address.find(':') == std::string::npos) {
    return InvalidArgumentError("server address must be host:port, got '" + options.address + "'");
  }
  if (options.protocol == "grpc") return MakeGrpcTransport(options);
  if (options.protocol == "http") return MakeHttpTransport(options);
  return InvalidArgumentError("--protocol must be grpc or http, got '" + options.protocol + "'");
}

}  // namespace floe::client
