// The HTTP/1.1 frontend (cpp-httplib, thread per connection with keep-alive):
// POST /v1/embeddings (OpenAI), GET /v1/models, GET /health, GET /metrics,
// GET /info, POST /tokenize. Handler threads wait for their own request's
// result; the engine side never waits on them.
#pragma once

#include <memory>
#include <string>
#include <thread>

#include "serve/frontend.h"

namespace httplib {
class Server;
}

namespace floe {

class HttpServer {
 public:
  explicit HttpServer(Frontend* frontend);
  ~HttpServer();  // Stop()
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds host:port (0 = a free port) and starts serving on a thread.
  Status Start(const std::string& host, int port);
  int port() const { return port_; }
  // Stops accepting; requests being handled finish first. Idempotent.
  void Stop();

 private:
  void Routes();

  Frontend* frontend_;
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  int port_ = 0;
};

}  // namespace floe
