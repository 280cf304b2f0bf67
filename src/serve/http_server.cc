// HttpServer (http_server.h): listening, accepting, the io threads and Stop().
// A connection's life is in http_connection.cc, the routes in http_routes.cc.
// --http-threads io threads each run an io_context of their own; the acceptor
// hands connections to them in turn, and a connection stays on its thread (one
// io_context shared by several threads made a lone client's requests 3x
// slower: its handlers hopped between threads).
#include "serve/http_server.h"

#include <boost/asio.hpp>
#include <future>

#include "core/log.h"
#include "serve/http_connection.h"

namespace floe {

namespace net = boost::asio;
using tcp = net::ip::tcp;
using namespace std::chrono_literals;

namespace {

constexpr int kBacklog = 4096;

}  // namespace

void HttpServer::Core::Accept() {
  if (stopping) return;
  net::io_context& ioc = *iocs[next_++ % iocs.size()];
  acceptor.async_accept(
      ioc, [self = shared_from_this()](boost::system::error_code ec, tcp::socket socket) {
        self->OnAccept(ec, std::move(socket));
      });
}

void HttpServer::Core::OnAccept(boost::system::error_code ec, tcp::socket socket) {
  if (stopping || ec == net::error::operation_aborted) return;
  if (ec) {
    // Out of descriptors or the like: try again shortly instead of spinning.
    FLOE_LOG(kWarn) << "HTTP accept: " << ec.message();
    auto timer = std::make_shared<net::steady_timer>(acceptor.get_executor(), 50ms);
    timer->async_wait([self = shared_from_this(), timer](boost::system::error_code) {
      self->Accept();
    });
    return;
  }
  ServeHttpConnection(std::move(socket), shared_from_this());
  Accept();
}

HttpServer::Core::Core(Frontend* frontend, int threads)
    : fe(frontend), opt(frontend->options()), acceptor([&] {
        for (int i = 0; i < threads; ++i) {
          iocs.push_back(std::make_unique<net::io_context>(1));
          guards.push_back(net::make_work_guard(*iocs.back()));
        }
        return iocs[0]->get_executor();
      }()) {}

void HttpServer::Core::Run(net::io_context& ioc) {
  for (;;) {
    try {
      ioc.run();
      return;
    } catch (const std::exception& e) {
      FLOE_LOG(kError) << "HTTP io thread: " << e.what();
    }
  }
}

void HttpServer::Core::Register(HttpConnection* s, std::weak_ptr<HttpConnection> w) {
  std::lock_guard<std::mutex> lock(mu_);
  sessions_.emplace(s, std::move(w));
}

void HttpServer::Core::Unregister(HttpConnection* s) {
  std::lock_guard<std::mutex> lock(mu_);
  sessions_.erase(s);
  if (sessions_.empty()) cv_.notify_all();
}

void HttpServer::Core::Stop() {
  stopping = true;
  std::promise<void> closed;
  net::post(acceptor.get_executor(), [this, &closed] {
    boost::system::error_code ignored;
    acceptor.close(ignored);
    closed.set_value();
  });
  closed.get_future().wait();
  std::vector<std::shared_ptr<HttpConnection>> live;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& [s, w] : sessions_) {
      if (auto p = w.lock()) live.push_back(std::move(p));
    }
  }
  for (auto& c : live) CloseIfIdle(c);
  live.clear();  // outside mu_: the last reference runs ~HttpConnection
  {
    std::unique_lock<std::mutex> lock(mu_);
    const auto limit = std::chrono::duration<double>(std::max(1.0, opt.drain_timeout_s));
    if (!cv_.wait_for(lock, limit, [this] { return sessions_.empty(); })) {
      FLOE_LOG(kWarn) << "HTTP: " << sessions_.size()
                      << " connection(s) still busy after --drain-timeout; closing";
    }
  }
  guards.clear();
  for (auto& ioc : iocs) ioc->stop();
  for (auto& t : threads) t.join();
  threads.clear();
}

HttpServer::HttpServer(Frontend* frontend) : frontend_(frontend) {}

HttpServer::~HttpServer() { Stop(); }

void HttpServer::Stop() {
  if (core_ && !core_->threads.empty()) core_->Stop();
}

Status HttpServer::Start(const std::string& host, int port) {
  const int threads =
      frontend_->options().http_threads > 0 ? frontend_->options().http_threads : 2;
  auto core = std::make_shared<Core>(frontend_, threads);
  const std::string where =
      port == 0 ? host + " on any port"
                : host + ":" + std::to_string(port) + " (in use? --http-port)";
  boost::system::error_code ec;
  tcp::resolver resolver(*core->iocs[0]);
  auto found = resolver.resolve(host, std::to_string(port), tcp::resolver::passive, ec);
  if (ec || found.empty()) return UnavailableError("HTTP: cannot resolve " + host);
  const tcp::endpoint endpoint = found.begin()->endpoint();
  auto& acceptor = core->acceptor;
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) acceptor.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(kBacklog, ec);
  if (ec) return UnavailableError("HTTP: cannot bind " + where + ": " + ec.message());
  port_ = acceptor.local_endpoint(ec).port();
  core->Accept();
  for (auto& ioc : core->iocs) {
    core->threads.emplace_back([c = core.get(), i = ioc.get()] { c->Run(*i); });
  }
  core_ = std::move(core);
  return OkStatus();
}

}  // namespace floe
