// The HTTP/1.1 transport (Boost.Beast on Asio): keep-alive, pipelining, many
// connections on a few io threads (--http-threads). The routes are in
// http_routes.h. No io thread ever waits for a result: a route answers
// through a callback that posts the response back to the connection's thread.
// While a POST /v1/embeddings waits for its result the connection keeps
// reading, so a client that disconnects has its queued work cancelled.
#pragma once

#include <memory>
#include <string>

#include "serve/frontend.h"

namespace floe {

class HttpServer {
 public:
  explicit HttpServer(Frontend* frontend);
  ~HttpServer();  // Stop()
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds host:port (0 = a free port) and starts serving on its io threads.
  Status Start(const std::string& host, int port);
  int port() const { return port_; }
  // Stops accepting and closes idle connections; requests being handled
  // finish first (at most --drain-timeout), then the threads are joined.
  // Idempotent.
  void Stop();

  class Core;  // http_server.cc

 private:
  Frontend* frontend_;
  std::shared_ptr<Core> core_;
  int port_ = 0;
};

}  // namespace floe
