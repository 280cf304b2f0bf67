// Calls by method name, without a generated stub: a unary call with any
// request/response types (a lenient mirror, a raw ByteBuffer), and
// grpc.health.v1.Health/Check by hand.
#pragma once

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include <chrono>
#include <future>
#include <string>
#include <vector>

namespace floe::test {

// One unary call to `method` ("/package.Service/Method"), waited for.
template <class Request, class Response>
grpc::Status UnaryCall(const std::shared_ptr<grpc::Channel>& channel,
                       const std::string& method, const Request& req, Response* resp,
                       int timeout_s = 30) {
  grpc::TemplatedGenericStub<Request, Response> stub(channel);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(timeout_s));
  std::promise<grpc::Status> done;
  stub.UnaryCall(&ctx, method, grpc::StubOptions(), &req, resp,
                 [&done](grpc::Status s) { done.set_value(std::move(s)); });
  return done.get_future().get();
}

inline std::string ToString(const grpc::ByteBuffer& b) {
  std::vector<grpc::Slice> slices;
  std::string out;
  if (!b.Dump(&slices).ok()) return out;
  for (const auto& s : slices)
    out.append(reinterpret_cast<const char*>(s.begin()), s.size());
  return out;
}

// grpc.health.v1.Health/Check for `service` ("" = the whole server):
// HealthCheckRequest{string service = 1} in, HealthCheckResponse{enum status
// = 1} out, encoded by hand (no health stub in this build). Returns the
// status (1 SERVING, 2 NOT_SERVING; 0 when the field is absent, which proto3
// means UNKNOWN), or -1 with `error` set when the call fails.
inline int HealthStatus(const std::shared_ptr<grpc::Channel>& channel,
                        const std::string& service, std::string* error = nullptr) {
  std::string req;
  if (!service.empty()) {  // tag 1, length-delimited; names here are < 128 bytes
    req += '\x0a';
    req += static_cast<char>(service.size());
    req += service;
  }
  grpc::Slice slice(req);  // an empty slice is the empty message
  grpc::ByteBuffer request(&slice, 1), response;
  grpc::Status s =
      UnaryCall(channel, "/grpc.health.v1.Health/Check", request, &response, 10);
  if (!s.ok()) {
    if (error)
      *error = "code " + std::to_string(s.error_code()) + ": " + s.error_message();
    return -1;
  }
  const std::string bytes = ToString(response);
  if (bytes.empty()) return 0;
  if (bytes.size() != 2 || bytes[0] != '\x08') {
    if (error)
      *error = "unexpected response of " + std::to_string(bytes.size()) + " bytes";
    return -1;
  }
  return static_cast<unsigned char>(bytes[1]);
}

}  // namespace floe::test
