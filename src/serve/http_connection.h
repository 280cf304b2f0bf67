// Inside the HTTP transport (http_server.h): what the acceptor and the
// connections share, and one connection's life (http_connection.cc).
#pragma once

// Boost 1.74's asio uses std::exchange without including <utility>.
// clang-format off
#include <utility>
#include <boost/asio.hpp>
// clang-format on
#include <atomic>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "serve/http_server.h"

namespace floe {

class HttpConnection;

// What the acceptor, the connections and the routes' callbacks share. Each holds
// it, so a callback that comes late never posts to a destroyed io_context.
class HttpServer::Core : public std::enable_shared_from_this<Core> {
 public:
  Core(Frontend* frontend, int threads);

  void Accept();
  void Run(boost::asio::io_context& ioc);
  void Stop();
  void Register(HttpConnection* s, std::weak_ptr<HttpConnection> w);
  void Unregister(HttpConnection* s);

  Frontend* const fe;
  const ServeOptions& opt;
  std::vector<std::unique_ptr<boost::asio::io_context>> iocs;  // one an io thread
  std::vector<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>>
      guards;
  boost::asio::ip::tcp::acceptor acceptor;  // on iocs[0]
  std::vector<std::thread> threads;
  std::atomic<bool> stopping{false};

 private:
  void OnAccept(boost::system::error_code ec, boost::asio::ip::tcp::socket socket);

  size_t next_ = 0;  // the io_context of the next connection
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<HttpConnection*, std::weak_ptr<HttpConnection>> sessions_;  // GUARDED_BY(mu_)
};

// Serves `socket` (on its io_context's thread) until the client, a timeout or
// Stop() ends it.
void ServeHttpConnection(boost::asio::ip::tcp::socket socket,
                         std::shared_ptr<HttpServer::Core> core);
// Stop(): closes the connection unless a request is being answered.
void CloseIfIdle(const std::shared_ptr<HttpConnection>& connection);

}  // namespace floe
